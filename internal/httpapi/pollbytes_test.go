package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// max_bytes caps a poll's JSON and binary answers alike; what does not fit
// is not in flight, and the next polls hand it out.
func TestPollMaxBytesOverHTTP(t *testing.T) {
	const size = 10 << 10
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprint("binary=", binary), func(t *testing.T) {
			s := brokertest.Start(t)
			createTopic(t, s, "big", 1)
			var msgs []map[string]any
			for range 10 {
				msgs = append(msgs, map[string]any{"value": strings.Repeat("v", size)})
			}
			publish(t, s, "big", map[string]any{"messages": msgs})
			m := join(t, s, "g", api.JoinRequest{Topics: []string{"big"}})
			poll := func() (n, bytes_ int) {
				body := fmt.Sprintf(`{"member_id":%q,"generation":%d,"max_messages":10,"max_bytes":%d}`, m.id, m.gen, 3*size+size/2)
				req, _ := http.NewRequest("POST", s.URL+"/groups/g/poll", bytes.NewReader([]byte(body)))
				req.Header.Set("Content-Type", "application/json")
				if binary {
					req.Header.Set("Accept", api.PollBatchesContentType)
				}
				resp, err := s.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("poll: %d %s", resp.StatusCode, raw)
				}
				if binary {
					got, err := decodePollBatches(raw)
					if err != nil {
						t.Fatal(err)
					}
					for _, g := range got {
						bytes_ += len(g.value)
					}
					return len(got), bytes_
				}
				var pr api.PollResponse
				mustUnmarshal(t, raw, &pr)
				for _, msg := range pr.Messages {
					bytes_ += len(msg.Value) - 2 // a JSON string's quotes
				}
				return len(pr.Messages), bytes_
			}
			total := 0
			for i := 0; total < 10; i++ {
				n, b := poll()
				if n == 0 || n > 3 || b > 3*size+size/2 {
					t.Fatalf("poll %d: %d messages of %d bytes; want 1..3 within %d", i, n, b, 3*size+size/2)
				}
				total += n
				if d := describeGroup(t, s, "g"); d.Partitions[0].InFlight != total {
					t.Fatalf("after poll %d: %d in flight, %d handed out", i, d.Partitions[0].InFlight, total)
				}
			}
		})
	}
}
