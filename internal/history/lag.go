// Package history owns what the broker remembers of its consumer groups
// over time: a bounded history of lag per group and per partition (Lag),
// and each group's recent rebalances, kept in a file across restarts
// (Rebalances). It is fed samples and records; it reads no broker state
// itself and knows nothing of HTTP.
package history

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Config bounds the lag history. Zero fields take the defaults.
type Config struct {
	Interval      time.Duration // between samples; default 10 s
	Retention     time.Duration // how long samples are kept; default 24 h
	FineRetention time.Duration // partitions keep every sample this long; default 1 h
	CoarseStep    time.Duration // beyond it, partitions keep the peak of each step; default 5 min
	GoneGroups    int           // groups no longer sampled whose history is kept; default 1000
}

// Defaults of Config.
const (
	DefaultInterval      = 10 * time.Second
	DefaultRetention     = 24 * time.Hour
	DefaultFineRetention = time.Hour
	DefaultCoarseStep    = 5 * time.Minute
	DefaultGoneGroups    = 1000
	// maxSeriesLen bounds every ring, so that a short interval with a long
	// retention cannot ask for gigabytes.
	maxSeriesLen = 1 << 17
)

// Or returns c with zero fields set to the defaults.
func (c Config) Or() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.FineRetention <= 0 {
		c.FineRetention = min(DefaultFineRetention, c.Retention)
	}
	if c.CoarseStep <= 0 {
		c.CoarseStep = max(DefaultCoarseStep, c.Interval)
	}
	if c.GoneGroups <= 0 {
		c.GoneGroups = DefaultGoneGroups
	}
	return c
}

// Validate reports a configuration whose rings would be empty or too long.
func (c Config) Validate() error {
	c = c.Or()
	switch {
	case c.Retention < c.Interval:
		return fmt.Errorf("lag history: retention %v is shorter than the sample interval %v", c.Retention, c.Interval)
	case c.Retention/c.Interval > maxSeriesLen:
		return fmt.Errorf("lag history: %v at one sample every %v is more than %d samples; sample less often", c.Retention, c.Interval, maxSeriesLen)
	case c.CoarseStep < c.Interval || c.FineRetention > c.Retention:
		return fmt.Errorf("lag history: coarse step %v must be at least the interval %v and fine retention %v at most the retention %v", c.CoarseStep, c.Interval, c.FineRetention, c.Retention)
	}
	return nil
}

// GroupSample is one group's lag at one tick.
type GroupSample struct {
	Group      string
	Partitions []PartitionSample
}

// PartitionSample is a group's lag on one partition at one tick.
type PartitionSample struct {
	Topic     string
	Partition int32
	Lag       int64
	TimeLag   time.Duration
}

// Lag is the lag history of every group. Each group keeps every sample of
// its total lag and largest time lag for the whole retention; each of its
// partitions keeps every sample for FineRetention and the peak of each
// CoarseStep after that, so that 100 groups of 100 partitions stay in tens
// of megabytes. A group that stops being sampled (it was deleted) is
// forgotten once its newest sample is older than the retention, or sooner
// when more than GoneGroups groups are no longer sampled: those last
// sampled longest ago go first. Without that bound the groups a client can
// create and delete in a day, not --max-groups, bounded the history. mu
// guards everything.
type Lag struct {
	cfg    Config // immutable
	fineN  int    // samples in a fine ring: FineRetention / Interval
	perBkt int64  // ticks per coarse bucket

	mu      sync.Mutex
	tick    int64              // sequence number of the newest tick; -1 before the first
	times   *ring[int64]       // tick → its time (ms)
	buckets *ring[int64]       // coarse bucket → the time of its first tick (ms)
	groups  map[string]*series // guarded by mu
}

// series is one group's history.
type series struct {
	lag     *ring[int64]  // per tick: sum of the partitions' lag
	timeLag *ring[uint32] // per tick: the largest time lag, ms (clamped)
	parts   map[partKey]*partSeries
}

type partKey struct {
	topic string
	part  int32
}

type partSeries struct {
	fine   *ring[uint32] // per tick, for FineRetention
	coarse *ring[uint32] // per coarse bucket: its peak
}

const (
	noneInt64  = math.MaxInt64
	noneUint32 = math.MaxUint32
)

// NewLag returns an empty history; cfg must be valid.
func NewLag(cfg Config) *Lag {
	cfg = cfg.Or()
	n := int(cfg.Retention / cfg.Interval)
	return &Lag{
		cfg:     cfg,
		fineN:   max(int(cfg.FineRetention/cfg.Interval), 1),
		perBkt:  max(int64(cfg.CoarseStep/cfg.Interval), 1),
		tick:    -1,
		times:   newRing[int64](n, noneInt64),
		buckets: newRing[int64](max(int(cfg.Retention/cfg.CoarseStep), 1), noneInt64),
		groups:  make(map[string]*series),
	}
}

// Config returns the configuration in effect (defaults filled).
func (l *Lag) Config() Config { return l.cfg }

// Record adds one tick taken at now with a sample of every group.
func (l *Lag) Record(now time.Time, samples []GroupSample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tick++
	t := l.tick
	ms := now.UnixMilli()
	l.times.put(t, ms)
	bkt := t / l.perBkt
	if _, ok := l.buckets.get(bkt); !ok {
		l.buckets.put(bkt, ms)
	}
	for _, g := range samples {
		s := l.groups[g.Group]
		if s == nil {
			s = &series{
				lag:     newRing[int64](l.times.size, noneInt64),
				timeLag: newRing[uint32](l.times.size, noneUint32),
				parts:   make(map[partKey]*partSeries),
			}
			l.groups[g.Group] = s
		}
		var sum int64
		var worst time.Duration
		for _, p := range g.Partitions {
			sum += p.Lag
			worst = max(worst, p.TimeLag)
			k := partKey{p.Topic, p.Partition}
			ps := s.parts[k]
			if ps == nil {
				ps = &partSeries{fine: newRing[uint32](l.fineN, noneUint32), coarse: newRing[uint32](l.buckets.size, noneUint32)}
				s.parts[k] = ps
			}
			v := clamp32(p.Lag)
			ps.fine.put(t, v)
			ps.coarse.put(bkt, v)
		}
		s.lag.put(t, min(sum, noneInt64-1))
		s.timeLag.put(t, clamp32(worst.Milliseconds()))
	}
	l.forgetLocked()
}

func clamp32(v int64) uint32 { return uint32(min(max(v, 0), noneUint32-1)) }

// forgetLocked drops the series (groups and partitions) whose newest
// sample has left the retention, then, of the groups not sampled at this
// tick, those past the newest GoneGroups.
func (l *Lag) forgetLocked() {
	oldest := l.times.oldest()
	var gone []string
	for id, s := range l.groups {
		if s.lag.last < oldest {
			delete(l.groups, id)
			continue
		}
		for k, ps := range s.parts {
			if ps.fine.last < oldest {
				delete(s.parts, k)
			}
		}
		if s.lag.last < l.tick {
			gone = append(gone, id)
		}
	}
	extra := len(gone) - l.cfg.GoneGroups
	if extra <= 0 {
		return
	}
	slices.SortFunc(gone, func(a, b string) int {
		return cmp.Or(cmp.Compare(l.groups[a].lag.last, l.groups[b].lag.last), strings.Compare(a, b))
	})
	for _, id := range gone[:extra] {
		delete(l.groups, id)
	}
}

// Has reports whether group has any history.
func (l *Lag) Has(group string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.groups[group] != nil
}

// Query renders group's history from since to now in at most points
// points of equal width (a whole number of sample intervals), each the
// peak of the samples inside it (-1: none). ok is false if the group has
// none; h is then all -1.
func (l *Lag) Query(group string, since, now time.Time, points int) (h api.LagHistory, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.groups[group]
	if !ok {
		s = &series{lag: newRing[int64](1, noneInt64), timeLag: newRing[uint32](1, noneUint32)}
	}
	points = max(points, 1)
	from, to := since.UnixMilli(), now.UnixMilli()
	// Nothing older than the retention is kept: a since before it (0, say)
	// would spread the points over years of empty buckets.
	from = max(from, to-l.cfg.Retention.Milliseconds())
	if to < from {
		from = to
	}
	iv := l.cfg.Interval.Milliseconds()
	step := max(iv, (to-from+int64(points)-1)/int64(points))
	step = (step + iv - 1) / iv * iv // a whole number of samples per point
	// Aligned down, so that a chart polled again keeps its buckets, from
	// lengthens the span by up to a step, which may take one point more
	// than asked: then the step grows by a sample until they fit (it
	// answered points+1). A single point is one step longer than the
	// span, unaligned.
	if points == 1 {
		step = (to - from + iv) / iv * iv
	}
	aligned := from
	for points > 1 {
		aligned = from - from%step
		if (to-aligned)/step < int64(points) {
			break
		}
		step += iv
	}
	from = aligned
	n := int((to-from)/step) + 1
	h = api.LagHistory{
		GroupID: group, IntervalMS: iv, StepMS: step,
		Times: make([]int64, n), Lag: filled(n), TimeLagMS: filled(n),
		Partitions: []api.PartitionLagHistory{},
	}
	for i := range h.Times {
		h.Times[i] = from + int64(i)*step
	}
	at := func(ms int64) int {
		if ms < from || ms > to+step {
			return -1
		}
		return min(int((ms-from)/step), n-1)
	}
	for t := l.times.oldest(); t >= 0 && t <= l.times.last; t++ {
		ms, _ := l.times.get(t)
		i := at(ms)
		if i < 0 {
			continue
		}
		if v, ok := s.lag.get(t); ok {
			h.Lag[i] = max(h.Lag[i], v)
		}
		if v, ok := s.timeLag.get(t); ok {
			h.TimeLagMS[i] = max(h.TimeLagMS[i], int64(v))
		}
	}
	keys := make([]partKey, 0, len(s.parts))
	for k := range s.parts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].part < keys[j].part
	})
	for _, k := range keys {
		h.Partitions = append(h.Partitions, api.PartitionLagHistory{Topic: k.topic, Partition: k.part, Lag: l.partLocked(s.parts[k], from, to, step, n, at)})
	}
	return h, ok
}

// partLocked renders one partition: its fine samples where it has them,
// before that the peaks of its coarse buckets, each spread over the points
// its step covers.
func (l *Lag) partLocked(ps *partSeries, from, to, step int64, n int, at func(int64) int) []int64 {
	out := filled(n)
	fineFrom := int64(math.MaxInt64)
	for t := ps.fine.oldest(); t >= 0 && t <= ps.fine.last; t++ {
		ms, ok := l.times.get(t)
		if !ok {
			continue
		}
		fineFrom = min(fineFrom, ms)
		v, ok := ps.fine.get(t)
		if i := at(ms); ok && i >= 0 {
			out[i] = max(out[i], int64(v))
		}
	}
	width := l.cfg.CoarseStep.Milliseconds()
	for b := ps.coarse.oldest(); b >= 0 && b <= ps.coarse.last; b++ {
		start, ok := l.buckets.get(b)
		v, has := ps.coarse.get(b)
		if !ok || !has || start >= fineFrom {
			continue
		}
		end := min(start+width, fineFrom, to+1)
		for ms := max(start, from); ms < end; ms += step {
			if i := at(ms); i >= 0 {
				out[i] = max(out[i], int64(v))
			}
		}
	}
	return out
}

func filled(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = -1
	}
	return s
}
