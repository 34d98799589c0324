package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// running is serveOn in the background on 127.0.0.1:0.
type running struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startServe(t *testing.T, args ...string) *running {
	t.Helper()
	return startServeLog(t, slog.DiscardHandler, args...)
}

// startServeLog is startServe logging to h.
func startServeLog(t *testing.T, h slog.Handler, args ...string) *running {
	t.Helper()
	cfg, err := parse(t, append([]string{"--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0"}, args...), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- serveOn(ctx, &cfg, slog.New(h), ln) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels serveOn and waits for it to return (once).
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("serveOn: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serveOn did not return 15 s after cancellation")
	}
	r.done = nil
}

// waitReady polls /readyz until 200.
func waitReady(t *testing.T, c *http.Client, url string) {
	t.Helper()
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		resp, err := c.Get(url + "/readyz")
		if err != nil {
			return fmt.Errorf("%s never became ready: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s never became ready: /readyz answers %d", url, resp.StatusCode)
		}
		return nil
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// the paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "goqueue test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	r := startServe(t, "--tls-cert", certFile, "--tls-key", keyFile)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := "https://" + r.addr
	waitReady(t, c, url)
	resp, err := c.Post(url+"/topics", "application/json", strings.NewReader(`{"name":"secure","partitions":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.TLS == nil {
		t.Fatalf("create over TLS: %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}

	// Plain HTTP to the TLS port gets no API answer.
	plain := &http.Client{Transport: &http.Transport{}}
	if resp, err := plain.Get("http://" + r.addr + "/topics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d", resp.StatusCode)
		}
	}
	// A client that does not trust the certificate is refused.
	untrusting := &http.Client{Transport: &http.Transport{}}
	if resp, err := untrusting.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a client without the certificate in its roots connected")
	}
	r.stop(t)
}

// A client that sends part of its headers (or body) and stalls is
// disconnected after the read timeouts; it cannot hold a connection.
func TestSlowClientsAreCutOff(t *testing.T) {
	r := startServe(t, "--read-header-timeout", "200ms", "--read-timeout", "400ms")
	waitReady(t, http.DefaultClient, "http://"+r.addr)
	defer http.DefaultClient.CloseIdleConnections()
	for _, c := range []struct {
		name, sent string
		limit      time.Duration
	}{
		{"headers", "GET /topics HTTP/1.1\r\nHost: x\r\nX-Slow: ", 200 * time.Millisecond},
		{"body", "POST /topics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":", 400 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, c.sent); err != nil {
				t.Fatal(err)
			}
			// The client now stalls; the server must end the exchange. A
			// deadline far beyond the timeout keeps a broken server from
			// hanging the test.
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(conn) // returns once the server closes
			took := time.Since(start)
			if err != nil {
				t.Fatalf("the server never closed the connection: %v", err)
			}
			if took < c.limit-50*time.Millisecond || took > c.limit+3*time.Second {
				t.Errorf("closed after %v; the timeout is %v", took, c.limit)
			}
			t.Logf("closed after %v with %q", took, firstLine(b))
		})
	}
	r.stop(t)
}

// A header block over --max-header-bytes is refused with a coded 431, as
// every refusal of the API is, the stream's upgrade included; a block far
// larger is cut off before the broker has read it all.
func TestHeaderBlockOverTheLimit(t *testing.T) {
	const limit = 8 << 10
	r := startServe(t, "--max-header-bytes", "8KiB")
	waitReady(t, http.DefaultClient, "http://"+r.addr)
	defer http.DefaultClient.CloseIdleConnections()
	for _, c := range []struct {
		name, line string
		n          int
		lines      []string
		want       int
	}{
		{"at the limit", "GET /topics HTTP/1.1", limit, nil, http.StatusOK},
		{"one byte over", "GET /topics HTTP/1.1", limit + 1, nil, http.StatusRequestHeaderFieldsTooLarge},
		{"twice the limit", "GET /topics HTTP/1.1", 2 * limit, nil, http.StatusRequestHeaderFieldsTooLarge},
		{"stream upgrade", "GET " + api.StreamPath + " HTTP/1.1", limit + 1,
			[]string{"Connection: Upgrade", "Upgrade: " + api.StreamProtocol}, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := testkit.SendRaw(t, r.addr, testkit.RequestHead(t, c.line, c.n, c.lines...))
			if resp.StatusCode != c.want {
				t.Fatalf("%d %.100q, want %d", resp.StatusCode, body, c.want)
			}
			if c.want == http.StatusOK {
				return
			}
			var eb api.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil || eb.Error.Code != api.ErrHeadersTooLarge.Code ||
				eb.Error.Details["max_header_bytes"] != float64(limit) {
				t.Fatalf("%d %q, want a coded %s", resp.StatusCode, body, api.ErrHeadersTooLarge.Code)
			}
		})
	}
	// Refused, and counted as every other request is, by route and code.
	_, metrics := get(t, http.DefaultClient, "http://"+r.addr+"/metrics")
	for _, want := range []string{
		`goqueue_http_request_duration_seconds_count{code="431",route="GET /topics"} 2`,
		`goqueue_http_request_duration_seconds_count{code="431",route="GET ` + api.StreamPath + `"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics has no %s", want)
		}
	}

	// A block that never ends: the broker answers and closes once it has
	// read a bounded amount, well before the 4 × limit sent.
	t.Run("unbounded", func(t *testing.T) {
		conn, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /topics HTTP/1.1\r\nHost: broker\r\nX-Pad: "+strings.Repeat("a", 4*limit)); err != nil {
			t.Fatal(err)
		}
		// Only a broken server waits for more. A reset after the answer
		// is fine: the rest of the block was never read.
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(conn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the server kept reading a block of %d bytes", 4*limit)
		}
		if !strings.HasPrefix(string(b), "HTTP/1.1 431 ") {
			t.Fatalf("answered %q (%v)", firstLine(b), err)
		}
	})
	r.stop(t)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}

// While the broker recovers, the process is alive but not ready.
func TestStartingIsLiveNotReady(t *testing.T) {
	sw := &switchHandler{}
	sw.set(starting{})
	for path, want := range map[string]int{"/livez": 200, "/readyz": 503, "/healthz": 503, "/topics": 503} {
		rec := httptest.NewRecorder()
		sw.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s while starting = %d, want %d", path, rec.Code, want)
		}
		if want == 503 {
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code != api.ErrUnavailable.Code || !eb.Error.Retriable {
				t.Errorf("GET %s while starting: body %s", path, rec.Body)
			}
		}
	}
	sw.set(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	sw.ServeHTTP(rec, httptest.NewRequest("GET", "/livez", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("after the switch: %d", rec.Code)
	}
}

func TestServeRequiresAPIKey(t *testing.T) {
	r := startServe(t, "--api-keys", "0123456789abcdef-one,0123456789abcdef-two")
	url := "http://" + r.addr
	waitReady(t, http.DefaultClient, url) // health is open by default
	defer http.DefaultClient.CloseIdleConnections()
	for key, want := range map[string]int{"": 401, "wrong-key-wrong-key": 401, "0123456789abcdef-two": 200} {
		req, _ := http.NewRequest("GET", url+"/topics", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("key %q: %d, want %d", key, resp.StatusCode, want)
		}
	}
	r.stop(t)
}

// No goroutine of serveOn (server, broker loops, shutdown) outlives it.
func TestServeLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	r := startServe(t)
	c := &http.Client{Transport: &http.Transport{}}
	waitReady(t, c, "http://"+r.addr)
	resp, err := c.Post("http://"+r.addr+"/topics", "application/json", strings.NewReader(`{"name":"t"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
	r.stop(t)
	goleak.VerifyNone(t, before)
}
