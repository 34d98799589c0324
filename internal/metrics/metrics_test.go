package metrics

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape returns every sample of m's exposition keyed by its series, e.g.
// `goqueue_partition_high_watermark{partition="0",topic="t"}`.
func scrape(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(rec.Body.Bytes()))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func want(t *testing.T, samples map[string]float64, series string, v float64) {
	t.Helper()
	got, ok := samples[series]
	if !ok {
		t.Errorf("no series %s", series)
		return
	}
	if got != v {
		t.Errorf("%s = %v, want %v", series, got, v)
	}
}

func TestLogMetricsFromARealBroker(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	b, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := New(b, "v1.2.3", Options{})

	before := scrape(t, m)
	want(t, before, "goqueue_topics", 0)
	want(t, before, `goqueue_publish_duration_seconds_count{fsync="interval"}`, 0)

	if _, err := b.CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	msgs := []broker.Message{
		{Value: []byte("12345"), Partition: 1},
		{Key: []byte("k"), Value: []byte("v"), Partition: 1},
		{Value: []byte("x"), Partition: 0},
	}
	if _, err := b.Publish("orders", msgs); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(t.Context(), "orders", broker.FetchRequest{Partition: 1, Offset: broker.OffsetEarliest, MaxMessages: 10, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}

	s := scrape(t, m)
	p := func(name, part string) string { return name + `{partition="` + part + `",topic="orders"}` }
	want(t, s, "goqueue_topics", 1)
	want(t, s, p("goqueue_partition_high_watermark", "0"), 1)
	want(t, s, p("goqueue_partition_high_watermark", "1"), 2)
	want(t, s, p("goqueue_partition_earliest_offset", "1"), 0)
	want(t, s, p("goqueue_partition_log_segments", "1"), 1)
	want(t, s, p("goqueue_published_messages_total", "1"), 2)
	want(t, s, p("goqueue_published_bytes_total", "1"), 7)
	want(t, s, p("goqueue_fetched_messages_total", "1"), 2)
	want(t, s, p("goqueue_fetched_bytes_total", "1"), 7)
	want(t, s, p("goqueue_fetched_messages_total", "0"), 0)
	want(t, s, `goqueue_publish_duration_seconds_count{fsync="interval"}`, 1)
	want(t, s, `goqueue_publish_duration_seconds_bucket{fsync="interval",le="+Inf"}`, 1)
	want(t, s, `goqueue_publish_duration_seconds_count{fsync="always"}`, 0)
	if s[p("goqueue_partition_log_bytes", "1")] <= 0 {
		t.Errorf("log bytes of a written partition = %v", s[p("goqueue_partition_log_bytes", "1")])
	}
	if _, ok := s[`goqueue_build_info{goversion="`+runtime.Version()+`",version="v1.2.3"}`]; !ok {
		t.Error("no build info")
	}
	if _, ok := s["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func TestHistogramConversion(t *testing.T) {
	src := &fakeSource{s: broker.LogStats{Fsync: broker.Histogram{
		Bounds:     []float64{0.001, 0.01},
		Cumulative: []uint64{2, 5},
		Count:      6,
		Sum:        1.5,
	}}}
	s := scrape(t, New(src, "dev", Options{}))
	want(t, s, `goqueue_fsync_duration_seconds_bucket{le="0.001"}`, 2)
	want(t, s, `goqueue_fsync_duration_seconds_bucket{le="0.01"}`, 5)
	want(t, s, `goqueue_fsync_duration_seconds_bucket{le="+Inf"}`, 6)
	want(t, s, `goqueue_fsync_duration_seconds_sum`, 1.5)
	want(t, s, `goqueue_fsync_duration_seconds_count`, 6)
}

func TestRequestMetrics(t *testing.T) {
	m := New(&fakeSource{}, "dev", Options{})
	done := m.RequestStarted()
	want(t, scrape(t, m), "goqueue_http_requests_in_flight", 1)
	done("GET /topics/{topic}", 404)
	m.RequestStarted()(Unrouted, 404)
	s := scrape(t, m)
	want(t, s, "goqueue_http_requests_in_flight", 0)
	want(t, s, `goqueue_http_request_duration_seconds_count{code="404",route="GET /topics/{topic}"}`, 1)
	want(t, s, `goqueue_http_request_duration_seconds_count{code="404",route="unrouted"}`, 1)
}

type fakeSource struct {
	s       broker.LogStats
	groups  []broker.GroupStats
	expired int64
}

func (f *fakeSource) LogStats() broker.LogStats       { return f.s }
func (f *fakeSource) GroupStats() []broker.GroupStats { return f.groups }
func (f *fakeSource) GroupsExpired() int64            { return f.expired }
