package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A long poll whose client closed the connection right before a publish
// took the message (the append woke the poll before the server read the
// close) and answered no one: the message stayed in flight, kept from the
// member's next poll, for the visibility timeout (11 of 16 tries). Now the
// abandoned poll hands it back and the next poll gets it at once, but for
// a rare try whose close the server has not read even then.
func TestLongPollClosedBeforePublishTakesNothing(t *testing.T) {
	for _, accept := range []string{"application/json", api.PollStoredContentType} {
		t.Run(accept, func(t *testing.T) {
			s := brokertest.Start(t)
			createTopic(t, s, "orders", 1)
			m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}, VisibilityTimeoutMS: time.Hour.Milliseconds()})
			body, err := json.Marshal(api.PollRequest{MemberID: m.id, Generation: m.gen, WaitMS: 30000})
			if err != nil {
				t.Fatal(err)
			}
			const tries = 20
			lost := 0
			for try := range tries {
				conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(conn, "POST /groups/g/poll HTTP/1.1\r\nHost: goqueue\r\nAccept: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", accept, len(body), body)
				s.WaitInFlight(1) // the long poll is in
				conn.Close()
				publish(t, s, "orders", map[string]any{"messages": []any{map[string]any{"value": fmt.Sprint(try)}}})
				if got := m.poll(10, time.Second); len(got) == 0 {
					lost++ // the closed poll took it
				} else if status, res := m.settle("ack", api.AckRequest{}, got...); status != 200 {
					t.Fatalf("try %d: ack: %d %+v", try, status, res)
				}
				testkit.EventuallyNil(t, 10*time.Second, func() error { // the closed poll ended
					if n := s.InFlight(); n != 0 {
						return fmt.Errorf("%d requests in flight", n)
					}
					return nil
				})
			}
			// The broker learns of the close only when the goroutine
			// reading the connection runs, which the woken poll yields
			// to once: on a loaded machine it may come later still.
			if lost > tries/10 {
				t.Fatalf("%d of %d messages published right after a long poll's close went to it, want at most %d", lost, tries, tries/10)
			}
		})
	}
}
