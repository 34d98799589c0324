package testkit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// RequestHead is a request head of exactly n bytes as sent: requestLine,
// Host, lines (each without its CRLF), then an X-Pad header that makes up
// the rest, and the empty line that ends the block.
func RequestHead(tb testing.TB, requestLine string, n int, lines ...string) string {
	tb.Helper()
	h := requestLine + "\r\nHost: broker\r\n"
	for _, l := range lines {
		h += l + "\r\n"
	}
	pad := n - len(h) - len("X-Pad: \r\n\r\n")
	if pad < 1 {
		tb.Fatalf("testkit: a head of %d bytes cannot hold %q", n, h)
	}
	return h + "X-Pad: " + strings.Repeat("a", pad) + "\r\n\r\n"
}

// SendRaw writes raw, a request as bytes, on a new connection to addr and
// returns the answer and its body.
func SendRaw(tb testing.TB, addr, raw string) (*http.Response, []byte) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("testkit: read the answer to %.40q: %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}
