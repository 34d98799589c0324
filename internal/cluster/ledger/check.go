package ledger

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kind names a violation.
type Kind string

// Violations Check reports.
const (
	// Lost: an acknowledged value never read anywhere, although reads of
	// its partition reached past its offset or a watermark above it was
	// seen.
	Lost Kind = "lost"
	// WrongOffset: an acknowledged value read at another partition or
	// offset than its acknowledgement named.
	WrongOffset Kind = "wrong-offset"
	// Conflict: one offset read with two different values.
	Conflict Kind = "conflict"
	// Gap: offsets that nobody read below the highest one read or the
	// highest watermark seen.
	Gap Kind = "gap"
	// NonMonotonic: a first delivery, in one reader's session, at an offset
	// not above the previous one of that partition.
	NonMonotonic Kind = "non-monotonic"
	// CommitRegressed: a group's committed offset observed lower than an
	// earlier observation.
	CommitRegressed Kind = "commit-regressed"
	// Phantom: a value read that no publish attempt sent.
	Phantom Kind = "phantom"
	// FailedVisible: a value read whose publish was refused.
	FailedVisible Kind = "failed-visible"
	// DuplicateWrite: one value stored at two offsets (a publish written
	// twice). Distinct from reading one offset twice, which at-least-once
	// delivery allows and Check does not report.
	DuplicateWrite Kind = "duplicate-write"
	// StaleRead: a high watermark, seen by a read that started after an
	// acknowledgement (or a higher watermark's read) completed, below that
	// acknowledged offset: the read did not see a committed write.
	StaleRead Kind = "stale-read"
	// Unconsumed: offsets below a group's committed offset that exist (read
	// by someone, or acknowledged) but that the group never read.
	Unconsumed Kind = "unconsumed"
)

// Violation is one thing wrong with a history.
type Violation struct {
	Kind      Kind
	Partition int32
	Offset    int64
	Detail    string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s p%d@%d: %s", v.Kind, v.Partition, v.Offset, v.Detail)
}

// Result is Check's verdict.
type Result struct {
	Violations []Violation
	// Unverified counts acknowledged values whose offset no read reached:
	// neither found nor known lost.
	Unverified int
	// Delivered counts reads, and Redelivered the group reads of an offset
	// the same group had read before.
	Delivered, Redelivered int
}

// OK reports whether no violation was found.
func (r Result) OK() bool { return len(r.Violations) == 0 }

// Of returns the violations of kind k.
func (r Result) Of(k Kind) []Violation {
	var out []Violation
	for _, v := range r.Violations {
		if v.Kind == k {
			out = append(out, v)
		}
	}
	return out
}

// String summarises the result: the count per kind and the first few of
// each.
func (r Result) String() string {
	if r.OK() {
		return fmt.Sprintf("ok: %d reads (%d redelivered), %d acked values unverified", r.Delivered, r.Redelivered, r.Unverified)
	}
	var b strings.Builder
	byKind := map[Kind][]Violation{}
	var kinds []Kind
	for _, v := range r.Violations {
		if byKind[v.Kind] == nil {
			kinds = append(kinds, v.Kind)
		}
		byKind[v.Kind] = append(byKind[v.Kind], v)
	}
	for _, k := range kinds {
		vs := byKind[k]
		fmt.Fprintf(&b, "%d %s:\n", len(vs), k)
		for _, v := range vs[:min(len(vs), 10)] {
			fmt.Fprintf(&b, "  %s\n", v)
		}
	}
	return b.String()
}

// at is one place in the log.
type at struct {
	p   int32
	off int64
}

// checker holds the indexes Check builds over one history.
type checker struct {
	h       *History
	res     Result
	pubs    map[string]Publish            // by value
	values  map[at]map[string]bool        // values read at each offset
	places  map[string]map[at]bool        // where each value was read
	byGroup map[string]map[at]bool        // offsets each group read
	maxRead map[int32]int64               // highest offset read per partition
	cover   map[int32]int64               // offsets below it must have been read: past maxRead and every watermark
	order   map[[3]string]map[int32]int64 // last first-delivery per session and partition
}

// Check checks h (which must not be recorded into meanwhile).
func Check(h *History) Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := &checker{
		h: h, pubs: map[string]Publish{}, values: map[at]map[string]bool{}, places: map[string]map[at]bool{},
		byGroup: map[string]map[at]bool{}, maxRead: map[int32]int64{},
		order: map[[3]string]map[int32]int64{}, cover: map[int32]int64{},
	}
	for _, p := range h.publishes {
		c.pubs[p.Value] = p
	}
	for _, r := range h.reads {
		c.read(r)
	}
	for p, m := range c.maxRead {
		c.cover[p] = m + 1
	}
	for _, w := range h.watermarks {
		c.cover[w.Partition] = max(c.cover[w.Partition], w.HWM)
	}
	c.offsets()
	c.acks()
	c.gaps()
	c.commits()
	c.realTime()
	slices.SortStableFunc(c.res.Violations, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return c.res
}

func (c *checker) fail(k Kind, p int32, off int64, format string, args ...any) {
	c.res.Violations = append(c.res.Violations, Violation{Kind: k, Partition: p, Offset: off, Detail: fmt.Sprintf(format, args...)})
}

// read indexes one read and checks what needs only the reads before it:
// order within a session, and that the value was published.
func (c *checker) read(r Read) {
	c.res.Delivered++
	a := at{r.Partition, r.Offset}
	add(c.values, a, r.Value)
	add(c.places, r.Value, a)
	if r.Group != "" {
		if c.byGroup[r.Group][a] {
			c.res.Redelivered++
		}
		add(c.byGroup, r.Group, a)
	}
	if m, ok := c.maxRead[r.Partition]; !ok || r.Offset > m {
		c.maxRead[r.Partition] = r.Offset
	}
	if !r.Redelivery {
		key := [3]string{r.Group, r.Reader, r.Session}
		last, ok := c.order[key][r.Partition]
		if ok && r.Offset <= last {
			c.fail(NonMonotonic, r.Partition, r.Offset, "%s session %q read offset %d after %d", r.Reader, r.Session, r.Offset, last)
		}
		if !ok || r.Offset > last {
			if c.order[key] == nil {
				c.order[key] = map[int32]int64{}
			}
			c.order[key][r.Partition] = r.Offset
		}
	}
	switch p, ok := c.pubs[r.Value]; {
	case !ok:
		c.fail(Phantom, r.Partition, r.Offset, "value %q was never published (read by %s)", r.Value, r.Reader)
	case p.Outcome == Failed:
		c.fail(FailedVisible, r.Partition, r.Offset, "value %q was refused at publish but read by %s", r.Value, r.Reader)
	}
}

// offsets reports offsets holding two values and values at two offsets.
func (c *checker) offsets() {
	for _, a := range sortedKeys(c.values, cmpAt) {
		if vs := c.values[a]; len(vs) > 1 {
			c.fail(Conflict, a.p, a.off, "values %q", slices.Sorted(maps.Keys(vs)))
		}
	}
	for _, v := range slices.Sorted(maps.Keys(c.places)) {
		if ps := c.places[v]; len(ps) > 1 {
			where := slices.SortedFunc(maps.Keys(ps), cmpAt)
			c.fail(DuplicateWrite, where[0].p, where[0].off, "value %q stored at %v", v, where)
		}
	}
}

// acks checks every acknowledged value against the reads.
func (c *checker) acks() {
	for _, p := range c.h.publishes {
		if p.Outcome != Acked {
			continue
		}
		a := at{p.Partition, p.Offset}
		where := c.places[p.Value]
		switch {
		case where[a]:
		case len(where) > 0:
			c.fail(WrongOffset, p.Partition, p.Offset, "value %q acked here, read at %v", p.Value, slices.SortedFunc(maps.Keys(where), cmpAt))
		case c.reached(a):
			c.fail(Lost, p.Partition, p.Offset, "acked value %q never read; offsets below %d were read or seen committed", p.Value, c.cover[p.Partition])
		default:
			c.res.Unverified++
		}
	}
}

func (c *checker) reached(a at) bool { return a.off < c.cover[a.p] }

// gaps reports, per partition, the offsets below the highest read or the
// highest watermark seen that nobody read, as ranges.
func (c *checker) gaps() {
	for _, p := range slices.Sorted(maps.Keys(c.cover)) {
		cover := c.cover[p]
		for off := int64(0); off < cover; off++ {
			if c.values[at{p, off}] != nil {
				continue
			}
			end := off
			for end+1 < cover && c.values[at{p, end + 1}] == nil {
				end++
			}
			c.fail(Gap, p, off, "offsets %d..%d never read, below %d", off, end, cover)
			off = end
		}
	}
}

// commits checks that each group's committed offsets only go forward, and
// that the group read every offset below its last one.
func (c *checker) commits() {
	type gp struct {
		g string
		p int32
	}
	last := map[gp]int64{}
	var order []gp
	for _, cm := range c.h.commits {
		k := gp{cm.Group, cm.Partition}
		prev, ok := last[k]
		if ok && cm.Offset < prev {
			c.fail(CommitRegressed, cm.Partition, cm.Offset, "group %s committed %d after %d", cm.Group, cm.Offset, prev)
			continue
		}
		if !ok {
			order = append(order, k)
		}
		last[k] = cm.Offset
	}
	exists := map[at]bool{}
	for a := range c.values {
		exists[a] = true
	}
	for _, p := range c.h.publishes {
		if p.Outcome == Acked {
			exists[at{p.Partition, p.Offset}] = true
		}
	}
	for _, k := range order {
		read := c.byGroup[k.g]
		for off := int64(0); off < last[k]; off++ {
			a := at{k.p, off}
			if !exists[a] || read[a] {
				continue
			}
			end := off
			for end+1 < last[k] && exists[at{k.p, end + 1}] && !read[at{k.p, end + 1}] {
				end++
			}
			c.fail(Unconsumed, k.p, off, "group %s committed %d but never read offsets %d..%d", k.g, last[k], off, end)
			off = end
		}
	}
}

// realTime checks every watermark seen against the acknowledgements and
// watermarks that completed before its read started: a partition's
// committed prefix never shrinks.
func (c *checker) realTime() {
	type fact struct {
		end  time.Time
		next int64 // offsets below it were committed by end
		what string
	}
	facts := map[int32][]fact{}
	for _, p := range c.h.publishes {
		if p.Outcome == Acked && !p.End.IsZero() {
			facts[p.Partition] = append(facts[p.Partition], fact{p.End, p.Offset + 1, fmt.Sprintf("the ack of %q at %d", p.Value, p.Offset)})
		}
	}
	for _, w := range c.h.watermarks {
		if !w.End.IsZero() {
			facts[w.Partition] = append(facts[w.Partition], fact{w.End, w.HWM, fmt.Sprintf("a watermark of %d", w.HWM)})
		}
	}
	best := map[int32][]fact{} // per partition, by end, each the highest so far
	for p, fs := range facts {
		slices.SortFunc(fs, func(a, b fact) int { return a.end.Compare(b.end) })
		for i := 1; i < len(fs); i++ {
			if fs[i].next < fs[i-1].next {
				fs[i].next, fs[i].what = fs[i-1].next, fs[i-1].what
			}
		}
		best[p] = fs
	}
	for _, w := range c.h.watermarks {
		fs := best[w.Partition]
		if w.Start.IsZero() || len(fs) == 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(fs, w.Start, func(f fact, t time.Time) int {
			if f.end.Before(t) {
				return -1
			}
			return 1
		})
		if i > 0 && w.HWM < fs[i-1].next {
			c.fail(StaleRead, w.Partition, w.HWM, "watermark %d seen by a read started after %s completed", w.HWM, fs[i-1].what)
		}
	}
}

func add[K, V comparable](m map[K]map[V]bool, k K, v V) {
	if m[k] == nil {
		m[k] = map[V]bool{}
	}
	m[k][v] = true
}

func sortedKeys[K comparable, V any](m map[K]V, f func(a, b K) int) []K {
	return slices.SortedFunc(maps.Keys(m), f)
}

func cmpAt(a, b at) int { return cmp.Or(cmp.Compare(a.p, b.p), cmp.Compare(a.off, b.off)) }
