package httpapi_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A client that subscribes, grants credit and never reads its stream: the
// DELIVER writes fill the socket's buffers, then block. Stream writes had
// no deadline (the server's are a request's, cleared on the upgrade), so
// the stream, its subscription's goroutine and the batches being written
// stayed for as long as the client kept the connection. Now a frame not
// written within StreamWriteTimeout closes the stream.
func TestStreamClosedWhenItsClientStopsReading(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.StreamWriteTimeout = 200 * time.Millisecond }))
	createTopic(t, s, "orders", 1)
	value := strings.Repeat("x", 900<<10)
	for i := range 4 {
		msgs := make([]map[string]any, 4)
		for j := range msgs {
			msgs[j] = map[string]any{"value": fmt.Sprintf("%d-%d-%s", i, j, value)}
		}
		publish(t, s, "orders", map[string]any{"messages": msgs})
	}
	m := join(t, s, "billing", api.JoinRequest{Topics: []string{"orders"}})
	_, sc := dialStream(t, s, "")
	sc.conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	sc.subscribe(1, m)
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 16)) // 14 MiB to push; nothing read
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		if n := s.InFlight(); n != 0 {
			return fmt.Errorf("the stream of a client that reads nothing is still served (%d requests in flight)", n)
		}
		return nil
	})
}
