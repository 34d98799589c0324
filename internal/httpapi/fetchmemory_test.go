package httpapi_test

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
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
	bigTopic(t, s, 6)
	answered, _, _ := stalledAnswers(t, s, clients, func(i int) string {
		return fmt.Sprintf("GET /topics/big/partitions/0/messages?offset=0&max=10000&max_bytes=%d HTTP/1.1\r\nHost: x\r\n\r\n", askEach)
	})
	if answered[http.StatusOK] > bound/(3<<20) || answered[http.StatusOK]+answered[http.StatusTooManyRequests] != clients {
		t.Fatalf("%d stalled fetches of about 3.5 MB, bound %d: answered %v; want at most %d 200s, the others 429", clients, bound, answered, bound/(3<<20))
	}
}

// Group polls take from the same bound: their messages are held until
// written too, and 40 groups' polls of 64 MiB whose clients read nothing
// held 3.4 GB of read buffers. A poll past it hands its messages back.
func TestStalledPollAnswersBounded(t *testing.T) {
	const (
		bound   = 16 << 20
		askEach = 4 << 20
		clients = 12
	)
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxFetchMemory = bound }))
	bigTopic(t, s, 6)
	members := bigReaders(t, s, clients)
	answered, statuses, closeAll := stalledAnswers(t, s, clients, func(i int) string {
		body := fmt.Sprintf(`{"member_id":%q,"generation":%d,"max_messages":1000,"max_bytes":%d}`, members[i].id, members[i].gen, askEach)
		return fmt.Sprintf("POST /groups/g%d/poll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body)
	})
	if answered[http.StatusOK] > bound/(3<<20) || answered[http.StatusOK]+answered[http.StatusTooManyRequests] != clients {
		t.Fatalf("%d stalled polls of about 3.5 MB, bound %d: answered %v; want at most %d 200s, the others 429", clients, bound, answered, bound/(3<<20))
	}
	// A refused poll handed its messages back: once the stalled answers
	// are gone, the member's next poll gets them with the others (held in
	// flight, only the 2 left).
	closeAll()
	for i, m := range members {
		if statuses[i] != http.StatusTooManyRequests {
			continue
		}
		var resp api.PollResponse
		testkit.Eventually(t, 10*time.Second, func() bool {
			return s.DoJSON("POST", "/groups/"+m.group+"/poll", api.PollRequest{MemberID: m.id, Generation: m.gen, MaxMessages: 1000}, &resp) == http.StatusOK
		}, "a poll of g%d once the stalled answers are gone", i)
		if len(resp.Messages) < 4 {
			t.Fatalf("member of g%d, refused 429: its next poll got %d messages, want its 4 back", i, len(resp.Messages))
		}
	}
}

// stalledAnswers sends n requests, request(i) on a connection of its own
// that reads nothing past the answer's status line, and returns how many
// got each status, each one's, and what closes the connections.
func stalledAnswers(t *testing.T, s *brokertest.Server, n int, request func(i int) string) (map[int]int, []int, func()) {
	t.Helper()
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
	answered, statuses := map[int]int{}, make([]int, n)
	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(closeAll)
	for i := range n {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.(*net.TCPConn).SetReadBuffer(4 << 10) // and reads no more than the status line
		fmt.Fprint(c, request(i))
		statuses[i] = status(c)
		answered[statuses[i]]++
	}
	return answered, statuses, closeAll
}

// Stream deliveries take from the same bound: one stream that read
// nothing, with 40 subscriptions of 64 MiB (one member of each of 40
// groups), held 3.3 GB of read buffers. Past the bound a subscription's
// messages are handed back and its poll tried again.
func TestStalledStreamDeliveriesBounded(t *testing.T) {
	const (
		bound   = 16 << 20
		askEach = 16 << 20
		subs    = 12
	)
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxFetchMemory = bound }))
	bigTopic(t, s, 20)
	members := bigReaders(t, s, subs)
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	_, sc := dialStream(t, s, "")
	sc.conn.(*net.TCPConn).SetReadBuffer(4 << 10) // and reads nothing
	for i, m := range members {
		sc.send(api.StreamSubscribe, uint32(i+1), (&api.StreamSubscription{Group: m.group, MemberID: m.id, Generation: m.gen, MaxBytes: askEach}).Append(nil))
		sc.send(api.StreamCredit, uint32(i+1), binary.BigEndian.AppendUint32(nil, 1000))
	}
	// Each subscription polls within milliseconds of its credit; those
	// refused read again now and then, so the least the heap held over
	// two seconds, once the first answers are in, is what stays held.
	testkit.Eventually(t, 10*time.Second, func() bool { return heap()-before > askEach }, "the first answers read")
	least := int64(1 << 62)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		least = min(least, heap()-before)
	}
	// The bound, and the read buffers the coordinator's pool keeps from
	// the polls handed back: not one answer per subscription.
	if least > 5*bound {
		t.Fatalf("%d stalled subscriptions of %d bytes hold %d bytes of heap; want at most %d (MaxFetchMemory %d)", subs, askEach, least, 5*bound, bound)
	}
}

// bigTopic creates topic big, of one partition, holding n messages of
// 900 KiB of random bytes (so that no compression makes them small).
func bigTopic(t *testing.T, s *brokertest.Server, n int) {
	t.Helper()
	createTopic(t, s, "big", 1)
	value := make([]byte, 900<<10)
	for range n {
		rand.Read(value)
		publish(t, s, "big", api.PublishMessage{ValueBase64: value})
	}
}

// bigReaders joins one member to each of n groups g0… of topic big.
func bigReaders(t *testing.T, s *brokertest.Server, n int) []*member {
	t.Helper()
	members := make([]*member, n)
	for i := range members {
		members[i] = join(t, s, fmt.Sprintf("g%d", i), api.JoinRequest{Topics: []string{"big"}})
	}
	return members
}
