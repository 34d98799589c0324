package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"runtime/metrics"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// The stages of a message's end-to-end time (docs/latency.md). The probe
// sees the workload's HTTP requests and finds the messages in their bodies
// by the fixed tail the workload writes after each stamp, so it needs no
// hook in the client or the broker: it measures them as they are.
//
//	sent       the producer's PublishAsync
//	pubStart   the POST /batches carrying it starts (leaves the producer's queue)
//	pubFirst   its answer's first byte: the broker appended it
//	pollFirst  the first byte of the first poll answer carrying it
//	pollEnd    that answer's last byte
//	recv       Poll returned it to the application
//
// The stages telescope: queue + publish + toPoll + body + handoff is the
// end-to-end time. toPoll is negative when the broker answered the waiting
// poll before the publish (it wakes the poll at the append).
type msgStages struct {
	sent, pubStart, pubWrote, pubFirst  int64
	pollStart, pollFirst, pollEnd, recv int64
	pollLong                            bool // the poll carrying it long-polled (wait_ms > 0)
	published, polled, received         bool
}

// waited says the poll that carried m was out before m's publish was
// written: the broker had a poll waiting when it appended m. Otherwise m
// waited for a poll.
func (m *msgStages) waited() bool { return m.pollStart < m.pubWrote }

const nStages = 5

var stageNames = [nStages]string{"queue", "publish", "toPoll", "body", "handoff"}

func (m *msgStages) stages() [nStages]int64 {
	return [nStages]int64{m.pubStart - m.sent, m.pubFirst - m.pubStart, m.pollFirst - m.pubFirst, m.pollEnd - m.pollFirst, m.recv - m.pollEnd}
}

// reqTimes is one request as the probe saw it.
type reqTimes struct {
	kind                     string // "publish", "poll", "poll-ahead" or the path of another
	member                   string // of a poll
	start, wrote, first, end int64
	msgs                     int
}

// stageProbe is a latencyProbe and the workload's http.RoundTripper.
type stageProbe struct {
	base  http.RoundTripper
	epoch time.Time
	total int64

	mu   sync.Mutex
	msgs []msgStages // by seq
	reqs []reqTimes
}

func (p *stageProbe) begin(epoch time.Time, total int64) *http.Client {
	p.epoch, p.total = epoch, total
	p.msgs = make([]msgStages, total)
	if p.base == nil {
		// As the client's own (pkg/client newTransport), shared here by
		// the producer and the members.
		p.base = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	}
	return &http.Client{Transport: p}
}

func (p *stageProbe) now() int64 { return int64(time.Since(p.epoch)) }

func (p *stageProbe) received(seq, at int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq >= 0 && seq < p.total {
		p.msgs[seq].recv, p.msgs[seq].received = at, true
	}
}

// RoundTrip times one request: its start, when its body was written, its
// answer's first and last byte; and finds the messages it carried.
func (p *stageProbe) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := req.URL.Path
	switch {
	case strings.HasSuffix(kind, "/batches"):
		kind = "publish"
	case strings.HasSuffix(kind, "/poll"):
		kind = "poll"
	}
	var body []byte
	if req.Body != nil && (kind == "publish" || kind == "poll") {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
	}
	var member string
	if kind == "poll" {
		var pr api.PollRequest
		if json.Unmarshal(body, &pr) == nil && pr.WaitMS == 0 {
			kind = "poll-ahead"
		}
		member = pr.MemberID
	}
	r := &probeReq{p: p, t: reqTimes{kind: kind, member: member, start: p.now()}, reqBody: body}
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { r.wrote.Store(p.now()) },
		GotFirstResponseByte: func() { r.first.Store(p.now()) },
	}
	out := req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := p.base.RoundTrip(out)
	if err != nil {
		r.finish(nil)
		return nil, err
	}
	r.body = resp.Body
	resp.Body = r
	return resp, nil
}

// probeReq is a request in flight and, as the client reads it, its answer.
type probeReq struct {
	p            *stageProbe
	t            reqTimes
	wrote, first atomic.Int64
	reqBody      []byte
	body         io.ReadCloser
	resp         bytes.Buffer
	done         bool
}

func (r *probeReq) Read(b []byte) (int, error) {
	n, err := r.body.Read(b)
	r.resp.Write(b[:n])
	if err == io.EOF {
		r.finish(r.resp.Bytes())
	}
	return n, err
}

func (r *probeReq) Close() error {
	err := r.body.Close()
	r.finish(r.resp.Bytes())
	return err
}

// finish records the request once its answer is read (or failed).
func (r *probeReq) finish(answer []byte) {
	if r.done {
		return
	}
	r.done = true
	p := r.p
	r.t.end, r.t.wrote, r.t.first = p.now(), r.wrote.Load(), r.first.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.t.kind {
	case "publish":
		if answer == nil {
			break
		}
		for _, s := range findStamps(r.reqBody, p.total) {
			m := &p.msgs[s.seq]
			if m.published {
				continue
			}
			r.t.msgs++
			m.published, m.sent, m.pubStart, m.pubWrote, m.pubFirst = true, s.sent, r.t.start, r.t.wrote, r.t.first
		}
	case "poll", "poll-ahead":
		for _, s := range findStamps(answer, p.total) {
			m := &p.msgs[s.seq]
			if m.polled {
				continue // a stored batch sent again for records it holds beside this one
			}
			r.t.msgs++
			m.polled, m.pollStart, m.pollFirst, m.pollEnd, m.pollLong = true, r.t.start, r.t.first, r.t.end, r.t.kind == "poll"
		}
	}
	p.reqs = append(p.reqs, r.t)
}

// stamp is one message found in a body.
type stamp struct{ seq, sent int64 }

// stampTail is what the workload writes after every stamp (send fills the
// value with 'a'+i%26): 16 bytes that find the messages in any uncompressed
// body, a publish's frames or a poll's stored batches alike.
var stampTail = func() []byte {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte('a' + (stampBytes+i)%26)
	}
	return b
}()

// findStamps returns the messages body holds, in order; seqs outside
// [0, total) are not messages of the workload.
func findStamps(body []byte, total int64) []stamp {
	var out []stamp
	for off := stampBytes; off+len(stampTail) <= len(body); {
		i := bytes.Index(body[off:], stampTail)
		if i < 0 {
			break
		}
		at := off + i
		seq := int64(binary.BigEndian.Uint64(body[at-stampBytes+seqAt:]))
		if seq >= 0 && seq < total {
			out = append(out, stamp{seq: seq, sent: int64(binary.BigEndian.Uint64(body[at-stampBytes+sentAt:]))})
		}
		off = at + len(stampTail)
	}
	return out
}

// report is the probe's account of a run.
type report struct {
	msgs     []msgStages // complete ones, by end-to-end time
	e2e      []int64
	reqs     []reqTimes
	missing  int
	loadavg  [2]string // before, after
	runtimeM string    // the client's GC pauses and scheduling latencies
}

func (p *stageProbe) report() report {
	p.mu.Lock()
	defer p.mu.Unlock()
	var r report
	for _, m := range p.msgs {
		if m.published && m.polled && m.received {
			r.msgs = append(r.msgs, m)
		} else {
			r.missing++
		}
	}
	slices.SortFunc(r.msgs, func(a, b msgStages) int { return cmp.Compare(a.recv-a.sent, b.recv-b.sent) })
	for _, m := range r.msgs {
		r.e2e = append(r.e2e, m.recv-m.sent)
	}
	r.reqs = slices.Clone(p.reqs)
	return r
}

func quantile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

func us(ns int64) string { return fmt.Sprintf("%.0f", float64(ns)/1e3) }

// write prints the report: end-to-end quantiles, each stage's quantiles,
// the mean stages of the messages at p50, beyond p99 and beyond p99.9 and
// which stage is the largest for them, and the requests' round trips.
func (r report) write(w io.Writer) {
	n := len(r.msgs)
	fmt.Fprintf(w, "load before %s, after %s\n", r.loadavg[0], r.loadavg[1])
	fmt.Fprintf(w, "messages traced %d (incomplete %d)\n", n, r.missing)
	if n == 0 {
		return
	}
	qs := []float64{.5, .9, .99, .999}
	fmt.Fprintf(w, "end-to-end us: p50 %s p90 %s p99 %s p99.9 %s max %s\n",
		us(quantile(r.e2e, .5)), us(quantile(r.e2e, .9)), us(quantile(r.e2e, .99)), us(quantile(r.e2e, .999)), us(r.e2e[n-1]))
	fmt.Fprintf(w, "\nstage quantiles over all messages (us):\n%-8s %8s %8s %8s %8s %8s\n", "stage", "p50", "p90", "p99", "p99.9", "max")
	for s := range nStages {
		v := make([]int64, n)
		for i := range r.msgs {
			v[i] = r.msgs[i].stages()[s]
		}
		slices.Sort(v)
		fmt.Fprintf(w, "%-8s", stageNames[s])
		for _, q := range qs {
			fmt.Fprintf(w, " %8s", us(quantile(v, q)))
		}
		fmt.Fprintf(w, " %8s\n", us(v[n-1]))
	}
	bands := []struct {
		name   string
		lo, hi float64
	}{{"p45-p55", .45, .55}, {"p90-p99", .90, .99}, {">=p99", .99, 1}, {">=p99.9", .999, 1}}
	fmt.Fprintf(w, "\nmean stage (us) of the messages in each band of end-to-end time; largest stage counts; share delivered by a long poll / by a poll out before the publish was written\n")
	fmt.Fprintf(w, "%-8s %6s %8s", "band", "msgs", "e2e")
	for _, s := range stageNames {
		fmt.Fprintf(w, " %8s", s)
	}
	fmt.Fprintf(w, "  %-40s %5s %5s\n", "largest", "long", "waited")
	for _, b := range bands {
		lo, hi := int(b.lo*float64(n)), int(b.hi*float64(n))
		if hi <= lo {
			continue
		}
		var sum [nStages]int64
		var e2e int64
		var largest [nStages]int
		long, out := 0, 0
		for _, m := range r.msgs[lo:hi] {
			st := m.stages()
			big := 0
			for s := range nStages {
				sum[s] += st[s]
				if st[s] > st[big] {
					big = s
				}
			}
			largest[big]++
			e2e += m.recv - m.sent
			if m.pollLong {
				long++
			}
			if m.waited() {
				out++
			}
		}
		k := int64(hi - lo)
		fmt.Fprintf(w, "%-8s %6d %8s", b.name, k, us(e2e/k))
		for s := range nStages {
			fmt.Fprintf(w, " %8s", us(sum[s]/k))
		}
		var lg []string
		for s := range nStages {
			if largest[s] > 0 {
				lg = append(lg, fmt.Sprintf("%s:%d", stageNames[s], largest[s]))
			}
		}
		fmt.Fprintf(w, "  %-40s %4.0f%% %4.0f%%\n", strings.Join(lg, " "), 100*float64(long)/float64(k), 100*float64(out)/float64(k))
	}
	// The wake: for the messages a waiting poll carried, from the publish's
	// answer to the poll's (both leave the broker after the append).
	var wake, notWaited []int64
	for _, m := range r.msgs {
		if m.waited() {
			wake = append(wake, m.pollFirst-m.pubFirst)
		} else {
			notWaited = append(notWaited, m.pollStart-m.pubWrote)
		}
	}
	slices.Sort(wake)
	slices.Sort(notWaited)
	fmt.Fprintf(w, "\nwaited for by a poll: %d msgs; poll answer after publish answer (us) p50 %s p99 %s p99.9 %s\n",
		len(wake), us(quantile(wake, .5)), us(quantile(wake, .99)), us(quantile(wake, .999)))
	fmt.Fprintf(w, "waited for a poll: %d msgs; poll started after publish written (us) p50 %s p99 %s p99.9 %s\n",
		len(notWaited), us(quantile(notWaited, .5)), us(quantile(notWaited, .99)), us(quantile(notWaited, .999)))
	r.writeCoverage(w)

	fmt.Fprintf(w, "\nrequests: round trip start..last byte (us), first byte after write (us)\n")
	kinds := map[string][]reqTimes{}
	for _, q := range r.reqs {
		kinds[q.kind] = append(kinds[q.kind], q)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range kinds {
			if !yield(k) {
				return
			}
		}
	}) {
		qs := kinds[k]
		var rt, srv []int64
		msgs, empty := 0, 0
		for _, q := range qs {
			rt = append(rt, q.end-q.start)
			if q.first > 0 && q.wrote > 0 {
				srv = append(srv, q.first-q.wrote)
			}
			msgs += q.msgs
			if q.msgs == 0 {
				empty++
			}
		}
		slices.Sort(rt)
		slices.Sort(srv)
		fmt.Fprintf(w, "%-12s n %6d msgs/req %6.1f empty %5.1f%%  rt p50 %6s p99 %6s p99.9 %6s  server p50 %6s p99 %6s\n",
			k, len(qs), float64(msgs)/float64(len(qs)), 100*float64(empty)/float64(len(qs)),
			us(quantile(rt, .5)), us(quantile(rt, .99)), us(quantile(rt, .999)), us(quantile(srv, .5)), us(quantile(srv, .99)))
	}
	fmt.Fprint(w, r.runtimeM)
}

// writeCoverage prints, per member, the share of the run during which it
// had a poll out (any, and a long poll): the time a message appended then
// is met by a poll at once.
func (r report) writeCoverage(w io.Writer) {
	byMember := map[string][]reqTimes{}
	var lo, hi int64
	for _, q := range r.reqs {
		if q.member == "" {
			continue
		}
		byMember[q.member] = append(byMember[q.member], q)
		if lo == 0 || q.start < lo {
			lo = q.start
		}
		hi = max(hi, q.end)
	}
	for m, qs := range byMember {
		slices.SortFunc(qs, func(a, b reqTimes) int { return cmp.Compare(a.start, b.start) })
		covered := func(long bool) int64 {
			var sum, end int64
			for _, q := range qs {
				if long && q.kind != "poll" {
					continue
				}
				s := max(q.start, end)
				if q.end > s {
					sum += q.end - s
				}
				end = max(end, q.end)
			}
			return sum
		}
		span := float64(hi - lo)
		fmt.Fprintf(w, "member %.8s: a poll out %.0f%% of the run, a long poll %.0f%%\n", m, 100*float64(covered(false))/span, 100*float64(covered(true))/span)
	}
}

// runtimeLatencies reads this process's GC pauses and goroutine
// scheduling latencies (runnable until running) since it started.
func runtimeLatencies() string {
	samples := []metrics.Sample{{Name: "/sched/latencies:seconds"}, {Name: "/sched/pauses/total/gc:seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(samples)
	var b strings.Builder
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(&b, "client %s: %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64Histogram:
			h := s.Value.Float64Histogram()
			var total uint64
			for _, c := range h.Counts {
				total += c
			}
			fmt.Fprintf(&b, "client %s: n %d", s.Name, total)
			for _, q := range []float64{.5, .99, .999, 1} {
				fmt.Fprintf(&b, " p%g %.0fus", q*100, histQuantile(h, total, q)*1e6)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// histQuantile is the upper bound of the bucket holding quantile q.
func histQuantile(h *metrics.Float64Histogram, total uint64, q float64) float64 {
	want := uint64(q * float64(total))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= want && c > 0 {
			return h.Buckets[i+1]
		}
	}
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// TestLatencyStagesAgainstABroker runs a short latency workload with the
// probe against an in-process broker and checks the probe accounts for
// every message: each was found published, polled and received, and its
// stages add up to its end-to-end time in the right order.
func TestLatencyStagesAgainstABroker(t *testing.T) {
	srv := brokertest.Start(t)
	probe := &stageProbe{}
	cfg := Config{Brokers: []string{srv.URL}, Rate: 2000, Duration: 500 * time.Millisecond, Stall: 10 * time.Second, probe: probe}
	if _, err := Latency(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	r := probe.report()
	if r.missing != 0 || len(r.msgs) != 1000 {
		t.Fatalf("traced %d messages completely, %d not", len(r.msgs), r.missing)
	}
	for _, m := range r.msgs {
		var sum int64
		for _, s := range m.stages() {
			sum += s
		}
		if sum != m.recv-m.sent || m.pubStart < m.sent || m.pubFirst < m.pubStart || m.pollEnd < m.pollFirst ||
			m.recv < m.pollEnd || m.pollFirst < m.pollStart || m.pubWrote < m.pubStart {
			t.Fatalf("stages out of order: %+v", m)
		}
	}
	var buf bytes.Buffer
	r.write(&buf)
	if !strings.Contains(buf.String(), ">=p99") || !strings.Contains(buf.String(), "publish") {
		t.Fatalf("report lacks its bands or requests:\n%s", buf.String())
	}
}

func TestFindStamps(t *testing.T) {
	value := func(seq, sent int64) []byte {
		v := make([]byte, 100)
		for i := range v {
			v[i] = byte('a' + i%26)
		}
		binary.BigEndian.PutUint64(v[sentAt:], uint64(sent))
		binary.BigEndian.PutUint64(v[seqAt:], uint64(seq))
		return v
	}
	var body []byte
	body = append(body, "frame head"...)
	body = append(body, value(7, 70)...)
	body = append(body, 0, 1, 2)
	body = append(body, value(8, 80)...)
	body = append(body, value(99, 990)...) // outside total: not the workload's
	got := findStamps(body, 50)
	if want := []stamp{{7, 70}, {8, 80}}; !slices.Equal(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	if got := findStamps(body[:20], 50); got != nil {
		t.Fatalf("found %v in a body without a whole message", got)
	}
}

// TestLatencyStages is the instrumented run of docs/latency.md: with
// GOQUEUE_LATENCY_BROKER=host:port it runs the latency workload against
// that broker with the probe and prints the stage report;
// GOQUEUE_LATENCY_TRACE=file also writes a runtime/trace of this process
// (the clients) for `go tool trace`. GOQUEUE_LATENCY_RATE and
// GOQUEUE_LATENCY_DURATION change the workload's 20,000 msg/s for 10 s.
func TestLatencyStages(t *testing.T) {
	addr := os.Getenv("GOQUEUE_LATENCY_BROKER")
	if addr == "" {
		t.Skip("set GOQUEUE_LATENCY_BROKER=host:port to run the instrumented latency workload against that broker")
	}
	cfg := Config{Brokers: []string{addr}, Rate: 20000, Duration: 10 * time.Second}
	if v := os.Getenv("GOQUEUE_LATENCY_RATE"); v != "" {
		if _, err := fmt.Sscan(v, &cfg.Rate); err != nil {
			t.Fatal(err)
		}
	}
	if v := os.Getenv("GOQUEUE_LATENCY_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Duration = d
	}
	probe := &stageProbe{}
	cfg.probe = probe
	// The broker outlives the test: its keep-alive connections would be
	// left open (and reported by goleak) unless closed here.
	defer func() {
		if t, ok := probe.base.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}()
	if f := os.Getenv("GOQUEUE_LATENCY_TRACE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if err := trace.Start(out); err != nil {
			t.Fatal(err)
		}
		defer trace.Stop()
	}
	before := loadavg()
	res, err := Latency(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := probe.report()
	r.loadavg = [2]string{before, loadavg()}
	r.runtimeM = runtimeLatencies()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "workload: %d msg/s for %v; bench p50 %.0fus p99 %.0fus p99.9 %.0fus (from actual send)\n",
		cfg.Rate, cfg.Duration, res.P50, res.P99, res.P999)
	r.write(&buf)
	t.Log("\n" + buf.String())
}
