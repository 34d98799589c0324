package httpapi_test

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// The records of fetch answers held at once are bounded by
// MaxFetchMemory: an answer is held until written, and 40 clients that
// each asked for 16 MiB and did not read the answer took the broker to
// 3.9 GB of RSS for as long as the write timeout let them. Past the bound
// a fetch is refused 429, retriable.
func TestStalledFetchAnswersBounded(t *testing.T) {
	const (
		bound   = 16 << 20
		askEach = 4 << 20
		clients = 12
	)
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxFetchMemory = bound }))
	createTopic(t, s, "big", 1)
	value := make([]byte, 900<<10)
	for range 6 {
		rand.Read(value)
		publish(t, s, "big", api.PublishMessage{ValueBase64: value})
	}
	status := func(c net.Conn) int {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
		if err != nil {
			t.Fatalf("status line: %v", err)
		}
		var code int
		fmt.Sscanf(strings.TrimPrefix(line, "HTTP/1.1 "), "%d", &code)
		return code
	}
	answered := map[int]int{}
	for range clients {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4 << 10) // and reads no more than the status line
		fmt.Fprintf(c, "GET /topics/big/partitions/0/messages?offset=0&max=10000&max_bytes=%d HTTP/1.1\r\nHost: x\r\n\r\n", askEach)
		answered[status(c)]++
	}
	if answered[http.StatusOK] > bound/(3<<20) || answered[http.StatusOK]+answered[http.StatusTooManyRequests] != clients {
		t.Fatalf("%d stalled fetches of about 3.5 MB, bound %d: answered %v; want at most %d 200s, the others 429", clients, bound, answered, bound/(3<<20))
	}
}
