package groupstate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// world is a faithful caller of one Group, as the broker's coordinator is:
// it keeps the topics, performs the effects (an offset store, a DLQ whose
// writes it confirms or fails when told), and checks after every command
// that the effects are consistent. The transcript, determinism and
// property tests all drive a Group through it.
type world struct {
	cfg     Config
	now     time.Time
	a       *Group
	topics  Topics
	store   map[delivery.TP]OffsetWrite // what the offset store holds
	saved   *Saved                      // what meta.db holds
	clients map[string]*fakeClient
	// outstanding are the dead letters handed out and not yet reported:
	// the caller's DLQ writes in progress.
	outstanding map[letterKey]DeadLetter
	awaited     map[letterKey]bool   // the outstanding ones the group awaited after the last command
	superseded  map[letterKey]bool   // the outstanding ones handed out again since (their reports settle nothing)
	dlq         []DeadLetter         // written, in order
	next        time.Time            // the last Effects.Next
	rewound     map[delivery.TP]bool // partitions a reset or deletion may move back
	got         map[string][]Ref     // per member, what its polls handed it (maybe settled since)
	violations  []string
}

// fakeClient is a member as the test drives it: it does what it is told.
type fakeClient struct {
	gen  int64
	held api.Assignment // what it was last told it may own
}

var epoch0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newWorld(cfg Config) *world {
	w := &world{cfg: cfg, now: epoch0, topics: Topics{}, store: map[delivery.TP]OffsetWrite{},
		clients: map[string]*fakeClient{}, outstanding: map[letterKey]DeadLetter{}, awaited: map[letterKey]bool{}, superseded: map[letterKey]bool{}, rewound: map[delivery.TP]bool{},
		got: map[string][]Ref{}}
	w.a = New("g", cfg)
	return w
}

// apply performs fx as the coordinator would, checks it, and renders it.
func (w *world) apply(fx Effects) string {
	var b strings.Builder
	for _, o := range fx.Offsets {
		prev, had := w.store[o.TP]
		switch {
		case o.Deleted:
			delete(w.store, o.TP)
			fmt.Fprintf(&b, "persist %s deleted\n", fmtTP(o.TP))
			continue
		case had && o.Committed < prev.Committed && !w.rewound[o.TP] && prev.Born == o.Born:
			w.violate("persisted offset of %s went back from %d to %d", fmtTP(o.TP), prev.Committed, o.Committed)
		}
		w.store[o.TP] = o
		fmt.Fprintf(&b, "persist %s committed=%d", fmtTP(o.TP), o.Committed)
		for _, r := range o.Acked {
			fmt.Fprintf(&b, " acked=[%d,%d)", r.From, r.To)
		}
		fmt.Fprintf(&b, " born=%d", o.Born)
		if o.Metadata != "" {
			fmt.Fprintf(&b, " metadata=%q", o.Metadata)
		}
		b.WriteString("\n")
	}
	clear(w.rewound)
	for _, dl := range fx.DeadLetters {
		// The group awaits one write of a message at a time: it hands
		// out another only once an earlier one is reported or no longer
		// awaited (its partition reset or forgotten, the delivery state
		// rebuilt), which a command before this one did.
		for k := range w.awaited {
			if k.tp == dl.TP && k.off == dl.Offset {
				w.violate("dead letter %s@%d handed out twice while its write is outstanding", fmtTP(dl.TP), dl.Offset)
			}
		}
		for k := range w.outstanding {
			if k.tp == dl.TP && k.off == dl.Offset {
				w.superseded[k] = true
			}
		}
		// And each hand-out is told from every other outstanding, so that
		// the report of a stale one cannot settle a later one.
		k := letterKey{dl.TP, dl.Offset, dl.Born, dl.Seq}
		if _, dup := w.outstanding[k]; dup {
			w.violate("dead letter %s@%d handed out again as one still outstanding (seq %d)", fmtTP(dl.TP), dl.Offset, dl.Seq)
		}
		w.outstanding[k] = dl
		fmt.Fprintf(&b, "dead %s@%d count=%d reason=%s last=%s born=%d seq=%d\n", fmtTP(dl.TP), dl.Offset, dl.DeliveryCount, dl.Reason, dl.LastError, dl.Born, dl.Seq)
	}
	if fx.Settings != nil {
		s := *fx.Settings
		w.saved = &s
		fmt.Fprintf(&b, "save assignor=%s reset=%s retries=%d visibility=%v in-flight=%d", s.Assignor, s.OffsetReset, s.MaxRetries, s.VisibilityTimeout, s.MaxInFlight)
		if s.Protocol != ProtocolHTTP {
			fmt.Fprintf(&b, " protocol=%s", s.Protocol)
		}
		b.WriteString("\n")
	}
	if fx.Wake {
		b.WriteString("wake\n")
	}
	if !fx.Next.IsZero() {
		if fx.Next.Before(w.now.Add(-time.Hour)) {
			w.violate("next deadline %v long past", fx.Next)
		}
		fmt.Fprintf(&b, "next=%s\n", rel(fx.Next))
	}
	w.next = fx.Next
	clear(w.awaited)
	for k, dl := range w.outstanding {
		if !w.a.stale(dl) {
			w.awaited[k] = true
		}
	}
	return b.String()
}

// check checks what must hold between commands: the offset store holds
// exactly the group's settled state of every partition (every change the
// group decided was handed out to persist, and nothing else).
func (w *world) check() {
	seen := map[delivery.TP]bool{}
	for _, tp := range w.a.Partitions() {
		seen[tp] = true
		committed, acked, _ := w.a.Snapshot(tp)
		st, ok := w.store[tp]
		switch {
		case !ok:
			w.violate("%s has state (committed %d) that was never persisted", fmtTP(tp), committed)
		case st.Committed != committed || fmt.Sprint(st.Acked) != fmt.Sprint(acked) || st.Metadata != w.a.Metadata(tp):
			w.violate("%s is committed %d acked %v metadata %q, persisted %d %v %q", fmtTP(tp), committed, acked, w.a.Metadata(tp), st.Committed, st.Acked, st.Metadata)
		}
	}
	for tp := range w.store {
		if !seen[tp] {
			w.violate("%s is persisted but the group has no state for it", fmtTP(tp))
		}
	}
	// Every pending dead letter is being written, or will be handed out
	// again at a retry the caller is told to tick for.
	retrying := w.a.dead.failed && !w.next.IsZero() && !w.next.After(w.a.dead.retry)
	for _, dl := range w.a.d.Dead() {
		seq, writing := w.a.dead.writing[deadKey{dl.TP, dl.Offset}]
		if _, ok := w.outstanding[letterKey{dl.TP, dl.Offset, w.a.born[dl.TP.Topic], seq}]; (!writing || !ok) && !retrying {
			w.violate("dead letter %s@%d is pending with no write outstanding and no retry scheduled", fmtTP(dl.TP), dl.Offset)
		}
	}
}

func (w *world) violate(format string, args ...any) {
	w.violations = append(w.violations, fmt.Sprintf(format, args...))
}

// view returns the topics as the caller reads them now.
func (w *world) view() Topics {
	out := make(Topics, len(w.topics))
	for t, top := range w.topics {
		top.Partitions = slices.Clone(top.Partitions)
		out[t] = top
	}
	return out
}

// produce appends n records of 100 bytes to tp.
func (w *world) produce(tp delivery.TP, n int64) {
	top := w.topics[tp.Topic]
	p := &top.Partitions[tp.Partition]
	p.HighWatermark += n
	p.Bytes += 100 * n
}

// restart replaces the group with one restored from the store and meta.db,
// as a broker restart does; every member is gone, and so are the DLQ
// writes in progress (their dead letters are delivered again).
func (w *world) restart() string {
	w.a = New("g", w.cfg)
	for _, tp := range sortedTPs(w.store) {
		o := w.store[tp]
		w.a.Restore(tp, o.Committed, o.Acked, o.Born, o.Metadata)
	}
	if w.saved != nil {
		w.a.RestoreSettings(*w.saved)
	}
	clear(w.clients)
	clear(w.outstanding)
	clear(w.awaited)
	clear(w.superseded)
	return w.apply(w.a.SetTopics(w.now, w.view()))
}

func (w *world) join(id string, p group.JoinParams, set Settings, proto string) (string, error) {
	p.MemberID = id
	res, fx, err := w.a.Join(w.now, Join{Params: p, Settings: set, Protocol: proto}, w.view())
	out := w.apply(fx)
	if err != nil {
		return errLine(err) + out, err
	}
	w.clients[res.MemberID] = &fakeClient{gen: res.Generation, held: res.Assigned}
	return fmt.Sprintf("member=%s gen=%d assigned=%s\n", res.MemberID, res.Generation, fmtAssignment(res.Assigned)) + out, nil
}

// heartbeat sends id's heartbeat, owning what it was told (or owned).
func (w *world) heartbeat(id string, gen *int64, owned api.Assignment) string {
	c := w.clients[id]
	if c == nil {
		c = &fakeClient{}
	}
	g, held := c.gen, c.held
	if gen != nil {
		g = *gen
	}
	if owned != nil {
		held = owned
	}
	if held == nil {
		held = api.Assignment{}
	}
	res, fx, err := w.a.Heartbeat(w.now, id, g, held, 0, "10.0.0.1")
	out := w.apply(fx)
	if err != nil {
		return errLine(err) + out
	}
	if w.clients[id] != nil {
		c.gen, c.held = res.Generation, res.Assigned
	}
	s := fmt.Sprintf("gen=%d assigned=%s", res.Generation, fmtAssignment(res.Assigned))
	if res.Revoked != nil {
		s += " revoked=" + fmtAssignment(res.Revoked)
	}
	return s + "\n" + out
}

// poll runs a member's poll in rounds as the coordinator does, reading
// the records of each round (every record is 100 bytes here).
func (w *world) poll(id string, limit int, room int64) string {
	c := w.clients[id]
	if c == nil {
		c = &fakeClient{}
	}
	var b strings.Builder
	var got []delivery.Delivery
	due := false
	var redeliver time.Time
	// Like the coordinator, the world reads ahead the partitions a round
	// handed out, and so knows their records' sizes in the next rounds.
	read := map[delivery.TP]bool{}
	size := func(tp delivery.TP, _ int64) (int, bool) { return 100, read[tp] }
	for left := limit; left > 0; {
		res, fx, err := w.a.Poll(w.now, Poll{Member: id, Generation: c.gen, Host: "10.0.0.1", Limit: left, Room: room, First: len(got) == 0, Size: size}, w.view())
		fxs := w.apply(fx)
		if err != nil {
			return errLine(err) + fxs
		}
		b.WriteString(fxs)
		due = due || res.HeartbeatDue
		redeliver = res.NextRedelivery
		for _, r := range res.Reads() {
			top := w.topics[r.TP.Topic]
			if int(r.TP.Partition) >= len(top.Partitions) || r.To > top.Partitions[r.TP.Partition].HighWatermark {
				w.violate("poll asks to read %s [%d,%d) past the high watermark", fmtTP(r.TP), r.From, r.To)
			}
		}
		got = append(got, res.Deliveries...)
		for _, d := range res.Deliveries {
			w.got[id] = append(w.got[id], Ref{TP: d.TP, Offset: d.Offset})
			read[d.TP] = true
		}
		room -= 100 * int64(len(res.Deliveries))
		left -= len(res.Deliveries)
		if res.Unsized && len(res.Deliveries) > 0 {
			fmt.Fprintf(&b, "round of %d: sizes unknown\n", len(res.Deliveries))
			continue
		}
		if len(res.Deliveries) < res.Asked || res.Asked == 0 {
			break
		}
	}
	var head strings.Builder
	head.WriteString("got")
	if len(got) == 0 {
		head.WriteString(" -")
	}
	for _, d := range got {
		fmt.Fprintf(&head, " %s@%d#%d", fmtTP(d.TP), d.Offset, d.DeliveryCount)
	}
	if due {
		head.WriteString(" heartbeat-due")
	}
	if len(got) == 0 && !redeliver.IsZero() {
		fmt.Fprintf(&head, " redelivery=%s", rel(redeliver))
	}
	return head.String() + "\n" + b.String()
}

func (w *world) settle(s Settle) string {
	if c := w.clients[s.Member]; c != nil && s.Generation == 0 {
		s.Generation = c.gen
	}
	s.Host = "10.0.0.1"
	res, fx := w.a.Settle(w.now, s)
	var b strings.Builder
	fmt.Fprintf(&b, "%s ok=%d\n", s.Op, res.Succeeded)
	for _, f := range res.Failed {
		fmt.Fprintf(&b, "failed %s@%d %s", fmtTP(f.Ref.TP), f.Ref.Offset, errLine(f.Err))
	}
	return b.String() + w.apply(fx)
}

// letterKey names a dead letter handed out.
type letterKey struct {
	tp   delivery.TP
	off  int64
	born int64
	seq  uint64
}

// deadWritten reports the outstanding dead letter's write, done or failed.
func (w *world) deadWritten(k letterKey, ok bool) string {
	dl, out := w.outstanding[k]
	if !out {
		w.violate("report of a dead letter %s@%d never handed out", fmtTP(k.tp), k.off)
	}
	delete(w.outstanding, k)
	// The report of a hand-out a later one of the same message superseded
	// settles nothing: the later one is still being written.
	superseded := w.superseded[k]
	delete(w.superseded, k)
	writing := maps.Clone(w.a.dead.writing)
	if !ok {
		fx := w.a.DeadLetterFailed(w.now, dl)
		if superseded && !maps.Equal(writing, w.a.dead.writing) {
			w.violate("the failed write of %s@%d seq %d, superseded, changed the writes awaited", fmtTP(k.tp), k.off, k.seq)
		}
		return "failed\n" + w.apply(fx)
	}
	fx, err := w.a.DeadLetterWritten(w.now, dl)
	if superseded && (err == nil || len(fx.Offsets) > 0 || !maps.Equal(writing, w.a.dead.writing)) {
		w.violate("the write of %s@%d seq %d, superseded, settled it", fmtTP(k.tp), k.off, k.seq)
	}
	w.dlq = append(w.dlq, dl)
	if err != nil {
		return errLine(err) + w.apply(fx)
	}
	return "written\n" + w.apply(fx)
}

// tick advances the clock by d and ticks the group; clients fenced meanwhile
// are forgotten.
func (w *world) tick(d time.Duration) string {
	w.now = w.now.Add(d)
	out := w.apply(w.a.Tick(w.now))
	for id := range w.clients {
		if _, ok := w.a.Member(id); !ok {
			delete(w.clients, id)
		}
	}
	return out
}

func errLine(err error) string {
	if ae, ok := err.(*api.Error); ok {
		return fmt.Sprintf("error %s: %s\n", ae.Code, ae.Message)
	}
	return "error " + err.Error() + "\n"
}

func fmtTP(tp delivery.TP) string { return fmt.Sprintf("%s:%d", tp.Topic, tp.Partition) }

// fmtAssignment renders {"a":[0,1],"b":[2]} as "a:0,1 b:2" and {} as "-".
func fmtAssignment(a api.Assignment) string {
	if len(a) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range slices.Sorted(mapKeys(a)) {
		ps := make([]string, len(a[t]))
		for i, p := range a[t] {
			ps[i] = fmt.Sprint(p)
		}
		parts = append(parts, t+":"+strings.Join(ps, ","))
	}
	return strings.Join(parts, " ")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func sortedTPs[V any](m map[delivery.TP]V) []delivery.TP {
	out := make([]delivery.TP, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTP)
	return out
}

// digest renders the group's whole decided state, for comparing two
// aggregates fed the same commands.
func (a *Group) digest(now time.Time) string {
	var b strings.Builder
	d := a.g.Describe(now)
	fmt.Fprintf(&b, "state=%s gen=%d assignor=%s reset=%q settings=%+v saved=%+v classic=%t\n", d.State, d.Generation, d.Assignor, a.offsetReset, a.settings, a.saved, a.classic)
	for _, m := range d.Members {
		fmt.Fprintf(&b, " member %s gen=%d assigned=%s revoking=%s host=%s in-flight=%d due=%v\n", m.MemberID, m.Generation,
			fmtAssignment(m.AssignedPartitions), fmtAssignment(m.RevokingPartitions), a.hosts[m.MemberID], a.d.InFlight(m.MemberID), a.g.HeartbeatDue(m.MemberID))
	}
	for _, tp := range a.d.Partitions() {
		committed, acked, _ := a.d.Snapshot(tp)
		fmt.Fprintf(&b, " %s committed=%d acked=%v stats=%+v", fmtTP(tp), committed, acked, a.d.Stats(tp))
		if m := a.Metadata(tp); m != "" {
			fmt.Fprintf(&b, " metadata=%q", m)
		}
		b.WriteString("\n")
	}
	for _, t := range slices.Sorted(mapKeys(a.subs)) {
		fmt.Fprintf(&b, " sub %s %v\n", t, a.subs[t])
	}
	for _, t := range slices.Sorted(mapKeys(a.born)) {
		fmt.Fprintf(&b, " born %s %d\n", t, a.born[t])
	}
	for _, dl := range a.d.Dead() {
		fmt.Fprintf(&b, " dead %+v writing=%v\n", dl, a.dead.writing[deadKey{dl.TP, dl.Offset}])
	}
	nudged := slices.Sorted(mapKeys(a.nudged))
	fmt.Fprintf(&b, " dlq failed=%v retry=%s backoff=%v seq=%d epoch=%d changes=%d nudged=%v looked=%s\n", a.dead.failed, rel(a.dead.retry), a.dead.backoff, a.dead.seq, a.epoch, a.changes, nudged, rel(a.looked))
	if at, ok := a.g.NextDeadline(); ok {
		fmt.Fprintf(&b, " group-deadline=%s", rel(at))
	}
	if at, ok := a.d.NextDeadline(); ok {
		fmt.Fprintf(&b, " delivery-deadline=%s", rel(at))
	}
	fmt.Fprintf(&b, " hints=%d\n", len(a.hints.h))
	return b.String()
}

// rel renders t as the time since the test's start; "-" for none.
func rel(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return "+" + t.Sub(epoch0).String()
}
