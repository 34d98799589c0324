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
// abandoned poll hands it back and the next poll gets it at once.
func TestLongPollClosedBeforePublishTakesNothing(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}, VisibilityTimeoutMS: time.Hour.Milliseconds()})
	body, err := json.Marshal(api.PollRequest{MemberID: m.id, Generation: m.gen, WaitMS: 30000})
	if err != nil {
		t.Fatal(err)
	}
	for try := range 20 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /groups/g/poll HTTP/1.1\r\nHost: goqueue\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		s.WaitInFlight(1) // the long poll is in
		conn.Close()
		publish(t, s, "orders", map[string]any{"messages": []any{map[string]any{"value": fmt.Sprint(try)}}})
		got := m.poll(10, 5*time.Second)
		if len(got) != 1 {
			t.Fatalf("try %d: the next poll got %d messages, want the one published (the closed poll took it)", try, len(got))
		}
		if status, res := m.settle("ack", api.AckRequest{}, got...); status != 200 {
			t.Fatalf("try %d: ack: %d %+v", try, status, res)
		}
		testkit.EventuallyNil(t, 10*time.Second, func() error { // the closed poll ended
			if n := s.InFlight(); n != 0 {
				return fmt.Errorf("%d requests in flight", n)
			}
			return nil
		})
	}
}
