package delivery

import (
	"cmp"
	"errors"
	"flag"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"pgregory.net/rapid"
)

// key names one message.
type key struct {
	tp  TP
	off int64
}

// flight is the model of one in-flight message.
type flight struct {
	member   string
	deadline time.Time
	count    int
}

// machine drives a Group with random operations and checks it against a
// model that knows only what the contract promises.
type machine struct {
	cfg     Config
	g       *Group
	now     time.Time
	members []string
	tps     []TP
	hwm     map[TP]int64
	owner   map[TP]string // "" while unowned

	inFlight  map[key]flight
	settled   map[key]bool      // acknowledged or dead-lettered: never delivered again
	dead      map[key]bool      // decided dead, DLQ write not confirmed
	nextCount map[key]int       // the count the next delivery must carry (default 1): every delivery counts
	fails     map[key]int       // failed deliveries (nack, expiry): the retry budget spent; handoffs spend none
	released  map[key]bool      // handed off, not delivered again yet
	due       map[key]time.Time // waiting messages: when they may be delivered again
	delivered map[key]bool      // delivered at least once since the last restart
	cursor    map[TP]int64      // first deliveries so far are all below it
	committed map[TP]int64      // last committed offset seen

	reached map[string]int // lease edge cases reached, shared by every run of a test
}

func newMachine(t *rapid.T) *machine {
	cfg := Config{
		MaxRetries:           rapid.SampledFrom([]int{-1, 1, 2, 3}).Draw(t, "retries"),
		MaxInFlightPerMember: rapid.IntRange(2, 12).Draw(t, "cap"),
	}.Or(Defaults())
	m := &machine{
		cfg:       cfg,
		g:         NewGroup(cfg),
		now:       t0,
		members:   []string{"m0", "m1", "m2"},
		tps:       []TP{orders0, orders1, orders2},
		hwm:       map[TP]int64{},
		owner:     map[TP]string{},
		inFlight:  map[key]flight{},
		settled:   map[key]bool{},
		dead:      map[key]bool{},
		nextCount: map[key]int{},
		fails:     map[key]int{},
		released:  map[key]bool{},
		due:       map[key]time.Time{},
		delivered: map[key]bool{},
		cursor:    map[TP]int64{},
		committed: map[TP]int64{},
	}
	for i, tp := range m.tps {
		m.owner[tp] = m.members[i%2]
	}
	return m
}

func (m *machine) owned(member string) []TP {
	var tps []TP
	for _, tp := range m.tps {
		if m.owner[tp] == member && member != "" {
			tps = append(tps, tp)
		}
	}
	return tps
}

func sortedKeys[V any](mp map[key]V) []key {
	return slices.SortedFunc(maps.Keys(mp), func(a, b key) int {
		if c := compareTP(a.tp, b.tp); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
}

func (m *machine) pickFlight(t *rapid.T) (key, flight) {
	keys := sortedKeys(m.inFlight)
	if len(keys) == 0 {
		t.Skip("nothing in flight")
	}
	k := rapid.SampledFrom(keys).Draw(t, "msg")
	return k, m.inFlight[k]
}

// poll polls and checks every delivery against the model.
func (m *machine) poll(t *rapid.T, member string, owned []TP, limit int) []Delivery {
	room := min(limit, m.cfg.MaxInFlightPerMember-m.g.InFlight(member))
	var dueNow []key // of owned partitions, before the poll
	for _, k := range sortedKeys(m.due) {
		if slices.Contains(owned, k.tp) && !m.due[k].After(m.now) {
			dueNow = append(dueNow, k)
		}
	}
	ds := m.g.Poll(nil, m.now, member, owned, limit, ends(m.hwm))
	if room > 0 && room < limit && len(ds) == room && m.leasesHeldBy(member) >= 2 {
		m.reach("poll up to the cap across leases")
	}
	if len(ds) > max(room, 0) {
		t.Fatalf("poll of %d with room %d returned %d", limit, room, len(ds))
	}
	got := map[key]bool{}
	for _, d := range ds {
		got[key{d.TP, d.Offset}] = true
	}
	for _, k := range dueNow {
		if got[k] {
			continue
		}
		// A due redelivery may wait only if the poll was full, and then
		// no fresh message of its partition may pass it.
		if len(ds) < room {
			t.Fatalf("due %v (at %v, now %v) not delivered by a poll with room", k, m.due[k], m.now)
		}
		for _, d := range ds {
			if d.TP == k.tp && !m.delivered[key{d.TP, d.Offset}] {
				t.Fatalf("fresh %v delivered before due %v", d, k)
			}
		}
	}
	for _, d := range ds {
		k := key{d.TP, d.Offset}
		switch {
		case !slices.Contains(owned, d.TP):
			t.Fatalf("delivered %v of a partition %s does not own", k, member)
		case d.Offset < 0 || d.Offset >= m.hwm[d.TP]:
			t.Fatalf("delivered %v outside [0, %d)", k, m.hwm[d.TP])
		case m.settled[k]:
			t.Fatalf("delivered %v again after it was settled", k)
		case m.dead[k]:
			t.Fatalf("delivered %v while its dead letter is pending", k)
		}
		if f, ok := m.inFlight[k]; ok {
			t.Fatalf("delivered %v to %s while in flight for %s", k, member, f.member)
		}
		if want := max(m.nextCount[k], 1); d.DeliveryCount != want {
			t.Fatalf("delivered %v with count %d, want %d", k, d.DeliveryCount, want)
		}
		if m.fails[k] >= m.cfg.maxFailures() {
			t.Fatalf("delivered %v after %d failures, its retry budget spent", k, m.fails[k])
		}
		if !m.delivered[k] {
			// First deliveries come in offset order, skipping only what
			// is settled.
			want := m.cursor[d.TP]
			for m.settled[key{d.TP, want}] {
				want++
			}
			if d.Offset != want {
				t.Fatalf("first delivery of %v, want offset %d next", k, want)
			}
			m.cursor[d.TP] = want + 1
		} else if due, ok := m.due[k]; !ok || due.After(m.now) {
			t.Fatalf("delivered %v again at %v, but it is not due (%v, %v)", k, m.now, due, ok)
		}
		m.delivered[k] = true
		m.inFlight[k] = flight{member: member, deadline: m.now.Add(m.cfg.VisibilityTimeout), count: d.DeliveryCount}
		delete(m.released, k)
		delete(m.due, k)
	}
	return ds
}

func (m *machine) Poll(t *rapid.T) {
	member := rapid.SampledFrom(m.members).Draw(t, "member")
	m.poll(t, member, m.owned(member), rapid.IntRange(1, 8).Draw(t, "limit"))
}

func (m *machine) Produce(t *rapid.T) {
	tp := rapid.SampledFrom(m.tps).Draw(t, "tp")
	m.hwm[tp] += int64(rapid.IntRange(1, 6).Draw(t, "n"))
}

func (m *machine) Ack(t *rapid.T) {
	k, f := m.pickFlight(t)
	if err := m.g.Ack(f.member, k.tp, k.off); err != nil {
		t.Fatalf("Ack %v by its holder: %v", k, err)
	}
	delete(m.inFlight, k)
	m.settled[k] = true
}

// HandBack returns a message its holder will not process: deliverable
// again at once, one more delivery, no failure.
func (m *machine) HandBack(t *rapid.T) {
	k, f := m.pickFlight(t)
	if err := m.g.HandBack(f.member, k.tp, k.off); err != nil {
		t.Fatalf("HandBack %v by its holder: %v", k, err)
	}
	delete(m.inFlight, k)
	m.nextCount[k] = f.count + 1
	m.released[k] = true
	m.due[k] = time.Time{}
}

// BadAck acks a message the member does not hold.
func (m *machine) BadAck(t *rapid.T) {
	member := rapid.SampledFrom(m.members).Draw(t, "member")
	k := key{rapid.SampledFrom(m.tps).Draw(t, "tp"), rapid.Int64Range(0, 40).Draw(t, "off")}
	if f, ok := m.inFlight[k]; ok && f.member == member {
		t.Skip("holds it")
	}
	if err := m.g.Ack(member, k.tp, k.off); !errors.Is(err, api.ErrNotInFlight) {
		t.Fatalf("Ack %v by %s, who does not hold it: %v", k, member, err)
	}
}

func (m *machine) Nack(t *rapid.T) {
	k, f := m.pickFlight(t)
	opt := NackOptions{
		Reject: rapid.IntRange(0, 4).Draw(t, "reject") == 0,
		Delay:  rapid.SampledFrom([]time.Duration{0, 0, time.Second}).Draw(t, "delay"),
		Reason: "boom",
	}
	if m.inLease(k) {
		m.reach("nack inside a lease")
	}
	o, err := m.g.Nack(m.now, f.member, k.tp, k.off, opt)
	if err != nil {
		t.Fatalf("Nack %v by its holder: %v", k, err)
	}
	delete(m.inFlight, k)
	m.fails[k]++
	fails := m.fails[k]
	switch {
	case opt.Reject, fails >= m.cfg.maxFailures():
		reason := ReasonMaxRetries
		if opt.Reject {
			reason = ReasonRejected
		}
		want := DeadLetter{TP: k.tp, Offset: k.off, DeliveryCount: f.count, Reason: reason, LastError: "boom"}
		if !o.Dead || o.Letter != want {
			t.Fatalf("Nack %v (count %d) = %+v, want dead %+v", k, f.count, o, want)
		}
		m.dead[k] = true
	default:
		delay := opt.Delay
		if delay == 0 {
			delay = m.cfg.Backoff(fails)
		}
		if o.Dead || !o.RetryAt.Equal(m.now.Add(delay)) {
			t.Fatalf("Nack %v (count %d) = %+v, want retry after %v", k, f.count, o, delay)
		}
		m.nextCount[k] = f.count + 1
		m.due[k] = o.RetryAt
	}
}

func (m *machine) Extend(t *rapid.T) {
	k, f := m.pickFlight(t)
	d := rapid.SampledFrom([]time.Duration{time.Second, time.Minute}).Draw(t, "d")
	if m.inLease(k) {
		m.reach("extend inside a lease")
	}
	if err := m.g.Extend(m.now, f.member, k.tp, k.off, d); err != nil {
		t.Fatalf("Extend %v: %v", k, err)
	}
	f.deadline = m.now.Add(d)
	m.inFlight[k] = f
}

func (m *machine) ConfirmDead(t *rapid.T) {
	keys := sortedKeys(m.dead)
	if len(keys) == 0 {
		t.Skip("no dead letter pending")
	}
	k := rapid.SampledFrom(keys).Draw(t, "dead")
	if err := m.g.DeadLettered(k.tp, k.off); err != nil {
		t.Fatalf("DeadLettered %v: %v", k, err)
	}
	delete(m.dead, k)
	m.settled[k] = true
}

// Advance moves the clock, often exactly to the next timer, and expires
// visibility timeouts.
func (m *machine) Advance(t *rapid.T) {
	dt := rapid.SampledFrom([]time.Duration{
		0, 0, 50 * time.Millisecond, 100 * time.Millisecond, time.Second, 10 * time.Second, 31 * time.Second,
	}).Draw(t, "dt")
	if dt == 0 {
		next, ok := m.nextTimer()
		if !ok {
			t.Skip("no timer")
		}
		dt = max(next.Sub(m.now), 0)
	}
	m.now = m.now.Add(dt)
	m.tick(t)
	// Consumers poll all the time: whatever just became due must be
	// handed out at this very instant.
	m.Poll(t)
}

// nextTimer is the model's NextDeadline.
func (m *machine) nextTimer() (next time.Time, ok bool) {
	for _, f := range m.inFlight {
		if !ok || f.deadline.Before(next) {
			next, ok = f.deadline, true
		}
	}
	for _, d := range m.due {
		if !ok || d.Before(next) {
			next, ok = d, true
		}
	}
	return next, ok
}

// Commit settles a prefix of a partition, as a client's offset commit or
// retention does.
func (m *machine) Commit(t *rapid.T) {
	tp := rapid.SampledFrom(m.tps).Draw(t, "tp")
	to := rapid.Int64Range(0, m.hwm[tp]).Draw(t, "to")
	m.g.Commit(tp, to)
	for off := int64(0); off < to; off++ {
		k := key{tp, off}
		m.settled[k] = true
		delete(m.inFlight, k)
		delete(m.dead, k)
		delete(m.due, k)
		delete(m.released, k)
	}
	m.cursor[tp] = max(m.cursor[tp], to)
}

func (m *machine) tick(t *rapid.T) {
	for _, tp := range m.tps {
		for _, l := range m.leases(tp) {
			if !l.at.After(m.now) && m.partlySettled(l) {
				m.reach("partly acked lease expires")
			}
		}
	}
	var want []DeadLetter
	for _, k := range sortedKeys(m.inFlight) {
		f := m.inFlight[k]
		if f.deadline.After(m.now) {
			continue
		}
		delete(m.inFlight, k)
		m.fails[k]++
		if m.fails[k] >= m.cfg.maxFailures() {
			want = append(want, DeadLetter{TP: k.tp, Offset: k.off, DeliveryCount: f.count, Reason: ReasonMaxRetries, LastError: LastErrorVisibility})
			m.dead[k] = true
			continue
		}
		m.nextCount[k] = f.count + 1
		m.due[k] = f.deadline
	}
	got := m.g.Tick(m.now)
	slices.SortFunc(got, func(a, b DeadLetter) int {
		return cmp.Or(compareTP(a.TP, b.TP), cmp.Compare(a.Offset, b.Offset))
	})
	if !slices.Equal(got, want) {
		t.Fatalf("Tick = %+v, want %+v", got, want)
	}
}

// Handoff moves a partition to another member (or to none), releasing what
// its owner held, and checks the new owner gets the released messages at
// the same instant.
func (m *machine) Handoff(t *rapid.T) {
	tp := rapid.SampledFrom(m.tps).Draw(t, "tp")
	to := rapid.SampledFrom(append([]string{""}, m.members...)).Draw(t, "to")
	from := m.owner[tp]
	if from == to {
		t.Skip("same owner")
	}
	if from != "" {
		m.release(t, from, tp)
	}
	m.owner[tp] = to
	if to == "" {
		return
	}
	var pending []key
	for _, k := range sortedKeys(m.released) {
		if k.tp == tp {
			pending = append(pending, k)
		}
	}
	room := m.cfg.MaxInFlightPerMember - m.g.InFlight(to)
	if room <= 0 {
		return
	}
	ds := m.poll(t, to, []TP{tp}, room)
	want := min(room, len(pending))
	if len(ds) < want {
		t.Fatalf("new owner %s got %d messages, want at least the %d released", to, len(ds), want)
	}
	for _, d := range ds[:want] {
		if !slices.Contains(pending, key{d.TP, d.Offset}) {
			t.Fatalf("new owner got %v before the released %v", d, pending)
		}
	}
}

func (m *machine) release(t *rapid.T, member string, tp TP) {
	for _, l := range m.leases(tp) {
		if l.holder.id == member && m.partlySettled(l) {
			m.reach("handoff of a partly acked lease")
		}
	}
	want := 0
	for _, k := range sortedKeys(m.inFlight) {
		if f := m.inFlight[k]; k.tp == tp && f.member == member {
			delete(m.inFlight, k)
			m.nextCount[k] = f.count + 1
			m.released[k] = true
			m.due[k] = time.Time{}
			want++
		}
	}
	if n := m.g.Release(member, tp); n != want {
		t.Fatalf("Release(%s, %v) = %d, want %d", member, tp, n, want)
	}
}

// Leave removes a member: everything it held is released, partition by
// partition or at once.
func (m *machine) Leave(t *rapid.T) {
	member := rapid.SampledFrom(m.members).Draw(t, "member")
	perPartition := rapid.Bool().Draw(t, "perPartition")
	want := 0
	for _, tp := range m.owned(member) {
		if perPartition {
			m.release(t, member, tp)
		}
		m.owner[tp] = ""
	}
	for _, k := range sortedKeys(m.inFlight) {
		if f := m.inFlight[k]; f.member == member {
			delete(m.inFlight, k)
			m.nextCount[k] = f.count + 1
			m.released[k] = true
			m.due[k] = time.Time{}
			want++
		}
	}
	if n := m.g.ReleaseMember(member); n != want {
		t.Fatalf("ReleaseMember(%s) = %d, want %d", member, n, want)
	}
	if n := m.g.InFlight(member); n != 0 {
		t.Fatalf("%s still holds %d after leaving", member, n)
	}
}

// Restart persists every partition, starts a new Group and restores it:
// in-flight and pending dead letters are delivered again, afresh.
func (m *machine) Restart(t *rapid.T) {
	r := NewGroup(m.cfg)
	for _, tp := range m.g.Partitions() {
		c, acked, _ := m.g.Snapshot(tp)
		r.Restore(tp, c, acked)
	}
	m.g = r
	clear(m.inFlight)
	clear(m.dead)
	clear(m.released)
	clear(m.nextCount)
	clear(m.fails)
	clear(m.due)
	clear(m.delivered)
	for _, tp := range m.tps {
		m.cursor[tp], _ = r.Committed(tp)
	}
}

// AckRange acks a run of offsets of one partition at once, as a client's
// ack range does: exactly those the member holds are settled, and each
// other offset is refused on its own, in order.
func (m *machine) AckRange(t *rapid.T) {
	member := rapid.SampledFrom(m.members).Draw(t, "member")
	tp := rapid.SampledFrom(m.tps).Draw(t, "tp")
	from := rapid.Int64Range(0, 40).Draw(t, "from")
	to := from + rapid.Int64Range(1, 20).Draw(t, "len")
	if k, f := m.pickFlightOf(member, tp); f {
		from = k.off - rapid.Int64Range(0, 3).Draw(t, "before") // mostly around what it holds
		from = max(from, 0)
	}
	if f, ok := m.inFlight[key{tp, from}]; ok && f.member == member && m.inLease(key{tp, from}) && to-from > 1 {
		m.reach("ack range through a lease")
	}
	var refused []int64
	for off := from; off < to; {
		next, err := m.g.AckRange(member, tp, off, to)
		if next < off || next > to || (err == nil) != (next == to) {
			t.Fatalf("AckRange(%s, %v, %d, %d) = %d, %v", member, tp, off, to, next, err)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, api.ErrNotInFlight) {
			t.Fatalf("AckRange refused offset %d with %v", next, err)
		}
		refused = append(refused, next)
		off = next + 1
	}
	var want []int64
	for off := from; off < to; off++ {
		k := key{tp, off}
		if f, ok := m.inFlight[k]; ok && f.member == member {
			delete(m.inFlight, k)
			m.settled[k] = true
			continue
		}
		want = append(want, off)
	}
	if !slices.Equal(refused, want) {
		t.Fatalf("AckRange(%s, %v, %d, %d) refused %v, want %v", member, tp, from, to, refused, want)
	}
}

// pickFlightOf returns the first message member holds of tp, if any.
func (m *machine) pickFlightOf(member string, tp TP) (key, bool) {
	for _, k := range sortedKeys(m.inFlight) {
		if k.tp == tp && m.inFlight[k].member == member {
			return k, true
		}
	}
	return key{}, false
}

// AckSome acks every other message one member holds on one partition, so
// that leases are partly acknowledged, then expire, are handed off, or have
// messages nacked or extended.
func (m *machine) AckSome(t *rapid.T) {
	k, f := m.pickFlight(t)
	var keys []key
	for _, k2 := range sortedKeys(m.inFlight) {
		if k2.tp == k.tp && m.inFlight[k2].member == f.member {
			keys = append(keys, k2)
		}
	}
	for i := rapid.IntRange(0, 1).Draw(t, "first"); i < len(keys); i += 2 {
		if err := m.g.Ack(f.member, keys[i].tp, keys[i].off); err != nil {
			t.Fatalf("Ack %v by its holder: %v", keys[i], err)
		}
		delete(m.inFlight, keys[i])
		m.settled[keys[i]] = true
	}
}

// The model knows nothing of leases; these look at them only to count
// which of their edge cases a run reached.

func (m *machine) reach(what string) {
	if m.reached != nil {
		m.reached[what]++
	}
}

func (m *machine) leases(tp TP) []*entry {
	if p := m.g.lookup(tp); p != nil {
		return p.leases.all()
	}
	return nil
}

func (m *machine) leasesHeldBy(member string) int {
	n := 0
	for _, tp := range m.tps {
		for _, l := range m.leases(tp) {
			if l.holder.id == member {
				n++
			}
		}
	}
	return n
}

// inLease reports whether k is in flight through a lease of more than one
// message.
func (m *machine) inLease(k key) bool {
	for _, l := range m.leases(k.tp) {
		if l.off <= k.off && k.off < l.end && l.end-l.off > 1 && m.g.lookup(k.tp).entries[k.off] == nil {
			return true
		}
	}
	return false
}

// partlySettled reports whether some offset of lease l is settled.
func (m *machine) partlySettled(l *entry) bool {
	for off := l.off; off < l.end; off++ {
		if m.settled[key{l.p.tp, off}] {
			return true
		}
	}
	return false
}

// Check holds after every step.
func (m *machine) Check(t *rapid.T) {
	if err := m.g.verify(); err != nil {
		t.Fatal(err)
	}
	for _, tp := range m.tps {
		c, _ := m.g.Committed(tp)
		if c < m.committed[tp] {
			t.Fatalf("committed %v went back from %d to %d", tp, m.committed[tp], c)
		}
		m.committed[tp] = c
		want := int64(0)
		for m.settled[key{tp, want}] {
			want++
		}
		if c != want {
			t.Fatalf("committed %v = %d, want the settled prefix %d", tp, c, want)
		}
		n := 0
		for k := range m.inFlight {
			if k.tp == tp {
				n++
			}
		}
		if st := m.g.Stats(tp); st.InFlight != n {
			t.Fatalf("Stats(%v).InFlight = %d, want %d", tp, st.InFlight, n)
		}
	}
	next, ok := m.nextTimer()
	if gotNext, gotOK := m.g.NextDeadline(); gotOK != ok || !gotNext.Equal(next) {
		t.Fatalf("NextDeadline = %v %v, want %v %v", gotNext, gotOK, next, ok)
	}
	for _, member := range m.members {
		n := 0
		for _, f := range m.inFlight {
			if f.member == member {
				n++
			}
		}
		if got := m.g.InFlight(member); got != n || got > m.cfg.MaxInFlightPerMember {
			t.Fatalf("InFlight(%s) = %d, want %d (cap %d)", member, got, n, m.cfg.MaxInFlightPerMember)
		}
	}
}

// drain gives every partition to one member who acks everything, and
// checks the group then settles every offset below the high watermarks.
func (m *machine) drain(t *rapid.T) {
	for _, tp := range m.tps {
		if o := m.owner[tp]; o != "" && o != "m0" {
			m.release(t, o, tp)
		}
		m.owner[tp] = "m0"
	}
	for range 1000 {
		for _, k := range sortedKeys(m.dead) {
			if err := m.g.DeadLettered(k.tp, k.off); err != nil {
				t.Fatalf("DeadLettered %v: %v", k, err)
			}
			delete(m.dead, k)
			m.settled[k] = true
		}
		for _, k := range sortedKeys(m.inFlight) {
			if err := m.g.Ack(m.inFlight[k].member, k.tp, k.off); err != nil {
				t.Fatalf("Ack %v: %v", k, err)
			}
			delete(m.inFlight, k)
			m.settled[k] = true
		}
		if len(m.poll(t, "m0", m.tps, m.cfg.MaxInFlightPerMember)) > 0 {
			continue
		}
		if _, ok := m.g.NextDeadline(); !ok {
			break
		}
		m.now = m.now.Add(m.cfg.BackoffMax)
		m.tick(t)
	}
	for _, tp := range m.tps {
		if c, _ := m.g.Committed(tp); c != m.hwm[tp] {
			t.Fatalf("after draining, committed %v = %d, want the high watermark %d", tp, c, m.hwm[tp])
		}
	}
}

func TestModel(t *testing.T) {
	reached := map[string]int{}
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine(t)
		m.reached = reached
		// Repeat runs -rapid.steps (default 30) actions; several rounds
		// reach the deeper states (retries exhausted, restarts over gaps).
		for range 5 {
			m.repeat(t)
		}
		m.drain(t)
	})
	// The model must not pass by never reaching the edges of leases (the
	// default 100 checks reach each many times).
	if f := flag.Lookup("rapid.checks"); f == nil || f.Value.String() != "100" || t.Failed() {
		return
	}
	for _, what := range []string{
		"partly acked lease expires",
		"extend inside a lease",
		"nack inside a lease",
		"handoff of a partly acked lease",
		"poll up to the cap across leases",
		"ack range through a lease",
	} {
		if reached[what] == 0 {
			t.Errorf("no run reached: %s", what)
		}
	}
	t.Logf("lease edge cases reached: %v", reached)
}

func (m *machine) repeat(t *rapid.T) {
	t.Repeat(map[string]func(*rapid.T){
		"poll":     m.Poll,
		"produce":  m.Produce,
		"ack":      m.Ack,
		"badAck":   m.BadAck,
		"nack":     m.Nack,
		"extend":   m.Extend,
		"confirm":  m.ConfirmDead,
		"advance":  m.Advance,
		"handoff":  m.Handoff,
		"handBack": m.HandBack,
		"leave":    m.Leave,
		"commit":   m.Commit,
		"ackSome":  m.AckSome,
		"ackRange": m.AckRange,
		"restart":  m.Restart,
		"":         m.Check,
	})
}

// TestModelDrainsUnderLoad is a smaller check that the drain itself cannot
// pass vacuously: with messages produced and nothing acked, it must ack them.
func TestModelDrainsUnderLoad(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine(t)
		for _, tp := range m.tps {
			m.hwm[tp] = int64(rapid.IntRange(1, 30).Draw(t, "hwm"))
		}
		m.Poll(t)
		m.drain(t)
		for _, tp := range m.tps {
			if c, _ := m.g.Committed(tp); c == 0 {
				t.Fatalf("nothing committed on %v", tp)
			}
		}
	})
}
