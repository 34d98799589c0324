package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A long poll gives its body's bytes back to --max-decoding-bytes once
// decoded: it held them for its whole wait, so that a few idle polls with
// padded bodies (8 of 16 MiB at the defaults) refused every other request
// with a body, 429, for as long as they waited, again and again.
func TestLongPollHoldsNoDecodingBudget(t *testing.T) {
	const budget = 64 << 10
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.MaxBodyBytes, o.MaxDecodingBytes = budget, budget
	}))
	createTopic(t, s, "idle", 1)
	createTopic(t, s, "other", 1)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"idle"}})
	head := `{"member_id":"` + m.id + `","generation":1,"max_messages":1,"wait_ms":20000`
	body := head + strings.Repeat(" ", budget-len(head)-1) + "}"
	polled := make(chan error, 1)
	go func() {
		resp, err := s.Client().Post(s.URL+"/groups/g/poll", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		polled <- err
	}()
	s.WaitInFlight(1)
	testkit.Eventually(t, 5*time.Second, func() bool {
		code, _ := s.Do("POST", "/topics/other/messages", api.PublishMessage{Value: []byte(`"x"`)})
		return code == http.StatusOK
	}, "a publish to succeed while a poll waits")
	publish(t, s, "idle", api.PublishMessage{Value: []byte(`"wake"`)})
	if err := <-polled; err != nil {
		t.Fatalf("poll: %v", err)
	}
}
