package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// publishN publishes values 0..n-1 to one partition.
func publishN(t *testing.T, s *brokertest.Server, topic string, p int32, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"messages":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":%d,"partition":%d}`, i, p)
	}
	b.WriteString(`]}`)
	publish(t, s, topic, b.String())
}

func offsets(msgs []api.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

func TestFetchFromOffsetWithMax(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 2)
	publishN(t, s, "t", 1, 10)

	for _, c := range []struct {
		query      string
		want       []int64
		nextOffset int64
	}{
		{"", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10},
		{"offset=earliest&max=2", []int64{0, 1}, 2},
		{"offset=3&max=4", []int64{3, 4, 5, 6}, 7},
		{"offset=8", []int64{8, 9}, 10},
		{"offset=10", []int64{}, 10},
		{"offset=latest", []int64{}, 10},
		{"offset=0&max=1000000", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10},
		// Past int64 it was refused as "a whole number of at least 1".
		{"offset=0&max=99999999999999999999&wait_ms=99999999999999999999", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10},
		{"offset=0&max_bytes=1", []int64{0}, 1}, // at least one message
	} {
		got := fetch(t, s, "t", 1, c.query)
		if fmt.Sprint(offsets(got.Messages)) != fmt.Sprint(c.want) || got.NextOffset != c.nextOffset ||
			got.HighWatermark != 10 || got.EarliestOffset != 0 || got.Topic != "t" || got.Partition != 1 {
			t.Errorf("?%s: offsets %v next %d hwm %d, want %v next %d", c.query, offsets(got.Messages), got.NextOffset, got.HighWatermark, c.want, c.nextOffset)
		}
		for _, m := range got.Messages {
			if string(m.Value) != fmt.Sprint(m.Offset) || m.Topic != "t" || m.Partition != 1 {
				t.Errorf("?%s: message %+v", c.query, m)
			}
		}
	}
	if got := fetch(t, s, "t", 0, ""); len(got.Messages) != 0 || got.NextOffset != 0 || got.Messages == nil {
		t.Errorf("empty partition: %+v", got)
	}
}

func TestFetchRejectsBadInput(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 2)
	publishN(t, s, "t", 0, 5)
	for _, c := range []struct {
		path string
		want *api.Error
	}{
		{"/topics/t/partitions/0/messages?offset=6", api.ErrOffsetOutOfRange},
		{"/topics/t/partitions/0/messages?offset=-1", api.ErrOffsetOutOfRange},
		{"/topics/t/partitions/0/messages?offset=abc", api.ErrInvalidArgument},
		{"/topics/t/partitions/0/messages?offset=1&timestamp=5", api.ErrInvalidArgument},
		{"/topics/t/partitions/0/messages?timestamp=-5", api.ErrInvalidArgument},
		{"/topics/t/partitions/0/messages?max=0", api.ErrInvalidArgument},
		{"/topics/t/partitions/0/messages?max=x", api.ErrInvalidArgument},
		{"/topics/t/partitions/0/messages?max_bytes=-1", api.ErrInvalidArgument},
		{"/topics/t/partitions/0/messages?wait_ms=-1", api.ErrInvalidArgument},
		{"/topics/t/partitions/0/messages?max=-99999999999999999999", api.ErrInvalidArgument},
		{"/topics/t/partitions/2/messages", api.ErrPartitionNotFound},
		{"/topics/t/partitions/-1/messages", api.ErrPartitionNotFound},
		{"/topics/t/partitions/x/messages", api.ErrInvalidArgument},
		{"/topics/u/partitions/0/messages", api.ErrTopicNotFound},
		// A misspelt parameter read from the earliest offset; of two
		// offsets the first was taken.
		{"/topics/t/partitions/0/messages?ofset=3", api.ErrBadRequest},
		{"/topics/t/partitions/0/messages?offset=1&offset=3", api.ErrInvalidArgument},
	} {
		st, raw := s.Do("GET", c.path, nil)
		wantError(t, st, raw, c.want)
	}
	// An out-of-range offset names the valid range.
	st, raw := s.Do("GET", "/topics/t/partitions/0/messages?offset=99", nil)
	e := wantError(t, st, raw, api.ErrOffsetOutOfRange)
	if e.Details["earliest_offset"] != float64(0) || e.Details["high_watermark"] != float64(5) || e.Details["offset"] != float64(99) {
		t.Fatalf("range details: %v", e.Details)
	}
	if !strings.Contains(e.Message, "0 to 5") {
		t.Fatalf("message does not tell the range: %q", e.Message)
	}
}

func TestFetchFromTimestamp(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 1)
	publish(t, s, "t", `{"messages":[{"value":"a","timestamp":1000},{"value":"b","timestamp":2000},{"value":"c","timestamp":3000}]}`)
	for _, c := range []struct {
		ts   int64
		want []int64
		next int64
	}{
		{0, []int64{0, 1, 2}, 3},
		{1000, []int64{0, 1, 2}, 3},
		{1500, []int64{1, 2}, 3},
		{3000, []int64{2}, 3},
		{3001, []int64{}, 3},
	} {
		got := fetch(t, s, "t", 0, fmt.Sprintf("timestamp=%d", c.ts))
		if fmt.Sprint(offsets(got.Messages)) != fmt.Sprint(c.want) || got.NextOffset != c.next {
			t.Errorf("timestamp=%d: %v next %d, want %v next %d", c.ts, offsets(got.Messages), got.NextOffset, c.want, c.next)
		}
	}
}

// A long-poll answers as soon as a message arrives, long before its wait.
func TestLongPollAnswersWhenDataArrives(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 1)
	type result struct {
		resp    api.FetchResponse
		elapsed time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		var r api.FetchResponse
		s.DoJSON("GET", "/topics/t/partitions/0/messages?offset=0&wait_ms=30000", nil, &r)
		done <- result{r, time.Since(start)}
	}()
	s.WaitInFlight(1) // the poll is in the broker, waiting
	publish(t, s, "t", `{"value":"wake up"}`)
	r := <-done
	if len(r.resp.Messages) == 0 || string(r.resp.Messages[0].Value) != `"wake up"` || r.resp.NextOffset < 1 {
		t.Fatalf("long-poll answered %+v", r.resp)
	}
	if r.elapsed > 10*time.Second {
		t.Fatalf("long-poll took %v", r.elapsed)
	}
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 1)
	start := time.Now()
	got := fetch(t, s, "t", 0, "offset=latest&wait_ms=100")
	if len(got.Messages) != 0 || got.NextOffset != 0 {
		t.Fatalf("answer %+v", got)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("returned after %v, before its wait", el)
	}
}

// Shutting down ends waiting long-polls at once instead of waiting for them.
func TestShutdownEndsLongPolls(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "t", 1)
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL+"/topics/t/partitions/0/messages?wait_ms=30000", nil)
		resp, err := s.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	s.WaitInFlight(1)
	start := time.Now()
	s.Stop()
	if st := <-done; st != http.StatusOK {
		t.Fatalf("long-poll ended with %d", st)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("stop took %v with a long-poll waiting", el)
	}
}
