package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// BenchmarkHTTPPublish publishes 100-byte values through a real server:
// one message per request (8 concurrent clients, as the target in DESIGN.md
// §6), and 1,000-message batches (one client). It reports msg/s.
func BenchmarkHTTPPublish(b *testing.B) {
	value := strings.Repeat("x", 100)
	single := []byte(`{"value":"` + value + `"}`)
	var batch bytes.Buffer
	batch.WriteString(`{"messages":[`)
	for i := range 1000 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"key":"k%d","value":"%s"}`, i, value)
	}
	batch.WriteString(`]}`)

	for _, c := range []struct {
		name    string
		body    []byte
		perReq  int
		clients int
	}{
		{"single/8conns", single, 1, 8},
		{"batch1000/1conn", batch.Bytes(), 1000, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := brokertest.Start(b)
			s.Do("POST", "/topics", `{"name":"bench","partitions":6}`)
			url := s.URL + "/topics/bench/messages"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients}}
			defer client.CloseIdleConnections()
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			b.ResetTimer()
			var next sync.Mutex
			n := b.N
			var wg sync.WaitGroup
			for range c.clients {
				wg.Go(func() {
					for {
						next.Lock()
						if n == 0 {
							next.Unlock()
							return
						}
						n--
						next.Unlock()
						resp, err := client.Post(url, "application/json", bytes.NewReader(c.body))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*c.perReq)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
