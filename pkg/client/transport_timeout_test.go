package client

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// A broker's port that accepts the connection and never speaks TLS (a
// stalled or broken TLS terminator, a port that is not the broker's) held
// a request of the default transport for ever with context.Background:
// it had no TLS handshake timeout. The server's end of the pipe here
// never reads the ClientHello.
func TestDefaultTransportBoundsTheTLSHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := defaultTransport()
		var mu sync.Mutex
		var servers []net.Conn
		tr.DialContext = func(context.Context, string, string) (net.Conn, error) {
			c, s := net.Pipe()
			mu.Lock()
			servers = append(servers, s)
			mu.Unlock()
			return c, nil
		}
		defer func() {
			tr.CloseIdleConnections()
			mu.Lock()
			defer mu.Unlock()
			for _, s := range servers {
				s.Close()
			}
		}()
		req, err := http.NewRequest(http.MethodGet, "https://broker.test/version", nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var took time.Duration
		done := make(chan error, 1)
		go func() {
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			took = time.Since(start)
			done <- err
		}()
		time.Sleep(time.Hour)
		synctest.Wait()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a request answered by a peer that never spoke TLS")
			}
			if took > 2*tlsHandshakeTimeout {
				t.Fatalf("the request failed after %v: %v", took, err)
			}
		default:
			t.Fatal("a request still waits on a TLS handshake an hour after it started")
		}
	})
}
