package group

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the actual output")

// TestTranscripts replays testdata/*.txt. Each file is a sequence of blocks
// separated by blank lines: comment lines (#), one command, "----", and the
// expected output. Run with -update to rewrite the expected output.
//
// Commands (members are fake clients that do exactly what they are told
// unless a command overrides what they report):
//
//	new [assignor=] [session=] [interval=] [min-session=] [max-session=] [max-rebalance=]
//	topics orders=6 ...          set topic partition counts (0 deletes), SetPartitions
//	join ID|- topics=a,b [instance=] [session=] [rebalance=] [assignor=] [client=] [reset=] [regex=R]
//	hb ID [gen=N] [owned=orders:0,1|none]   defaults: the client's generation and holdings
//	subscribe ID topics=a,b|regex=R  Subscribe in the client's generation
//	round                        after 1s, every client heartbeats once, in ID order
//	settle                       rounds until stable (at most 10)
//	leave ID [for-good]            for-good: LeaveForGood (a static member gives its place up)
//	tick DURATION                advance the clock, then Tick
//	check ID gen=N topic:partition
//	describe
func TestTranscripts(t *testing.T) {
	testkit.Transcripts(t, "testdata/*.txt", *update, func(t *testing.T) testkit.TranscriptRun {
		h := newHarness(t)
		return func(cmd string) (string, []string) {
			got := h.run(cmd)
			h.checkInvariants()
			return got, nil
		}
	})
}

// client is a fake member as the test drives it.
type client struct {
	gen  int64
	held parts // what it was last told it may own
}

type harness struct {
	t       *testing.T
	now     time.Time
	g       *Group
	topics  map[string]int32
	clients map[string]*client
}

var epoch0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	return &harness{t: t, now: epoch0, g: New("g", Config{}), topics: map[string]int32{}, clients: map[string]*client{}}
}

func (h *harness) run(cmd string) string {
	fields := strings.Fields(cmd)
	name, args := fields[0], fields[1:]
	kv := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	var out strings.Builder
	switch name {
	case "new":
		cfg := Config{DefaultAssignor: kv["assignor"], SessionTimeout: h.dur(kv["session"]),
			HeartbeatInterval: h.dur(kv["interval"]), MinSessionTimeout: h.dur(kv["min-session"]),
			MaxSessionTimeout: h.dur(kv["max-session"]), MaxRebalanceTimeout: h.dur(kv["max-rebalance"])}
		h.g = New("g", cfg)
		fmt.Fprintf(&out, "assignor=%s session=%v interval=%v\n", h.g.cfg.DefaultAssignor, h.g.cfg.SessionTimeout, h.g.cfg.HeartbeatInterval)
		return out.String()
	case "topics":
		for t, n := range kv {
			c, err := strconv.Atoi(n)
			if err != nil {
				h.t.Fatalf("topics %s: %v", t, err)
			}
			if c == 0 {
				delete(h.topics, t)
			} else {
				h.topics[t] = int32(c)
			}
		}
		h.g.SetPartitions(h.now, h.topics)
	case "join":
		p := JoinParams{MemberID: pos[0], InstanceID: kv["instance"], ClientID: kv["client"], ClientHost: "10.0.0.1",
			SessionTimeout: h.dur(kv["session"]), RebalanceTimeout: h.dur(kv["rebalance"]), Assignor: kv["assignor"],
			OffsetReset: kv["reset"], TopicRegex: kv["regex"]}
		if p.MemberID == "-" {
			p.MemberID = ""
		}
		if kv["topics"] != "" {
			p.Topics = strings.Split(kv["topics"], ",")
		}
		res, err := h.g.Join(h.now, p, h.topics)
		if err != nil {
			out.WriteString(errLine(err))
			break
		}
		h.clients[res.MemberID] = &client{gen: res.Generation, held: fromAssignment(res.Assigned)}
		fmt.Fprintf(&out, "member=%s gen=%d assigned=%s interval=%v session=%v assignor=%s\n",
			res.MemberID, res.Generation, fmtAssignment(res.Assigned), res.HeartbeatInterval, res.SessionTimeout, res.Assignor)
	case "hb":
		out.WriteString(h.heartbeat(pos[0], kv))
	case "subscribe":
		c := h.clients[pos[0]]
		if c == nil {
			c = &client{}
		}
		var topics []string
		if _, ok := kv["topics"]; ok {
			topics = strings.Split(kv["topics"], ",")
		}
		if err := h.g.Subscribe(h.now, pos[0], c.gen, topics, kv["regex"], h.topics); err != nil {
			out.WriteString(errLine(err))
			break
		}
		out.WriteString("ok\n")
	case "round":
		h.advance(time.Second)
		for _, id := range h.clientIDs() {
			out.WriteString(id + ": " + h.heartbeat(id, nil))
		}
	case "settle":
		for i := 1; ; i++ {
			h.advance(time.Second)
			for _, id := range h.clientIDs() {
				h.heartbeat(id, nil)
			}
			if h.g.State() == StateStable {
				fmt.Fprintf(&out, "stable after %d rounds\n", i)
				break
			}
			if i == 10 {
				out.WriteString("not stable after 10 rounds\n")
				break
			}
		}
		for _, id := range h.clientIDs() {
			fmt.Fprintf(&out, "%s: %s\n", id, fmtAssignment(h.clients[id].held.assignment()))
		}
	case "leave":
		leave := h.g.Leave
		if slices.Contains(pos, "for-good") {
			leave = h.g.LeaveForGood
		}
		if err := leave(h.now, pos[0]); err != nil {
			out.WriteString(errLine(err))
			break
		}
		delete(h.clients, pos[0])
		out.WriteString("ok\n")
	case "tick":
		h.advance(h.dur(pos[0]))
	case "check":
		topic, part, _ := strings.Cut(pos[1], ":")
		p, _ := strconv.Atoi(part)
		gen, _ := strconv.ParseInt(kv["gen"], 10, 64)
		if err := h.g.CheckOwner(pos[0], gen, topic, int32(p)); err != nil {
			out.WriteString(errLine(err))
		} else {
			out.WriteString("ok\n")
		}
	case "describe":
		out.WriteString(h.describe())
	default:
		h.t.Fatalf("unknown command %q", cmd)
	}
	for _, r := range h.g.DrainReleased() {
		fmt.Fprintf(&out, "released %s %s:%d (%s)\n", r.Member, r.Topic, r.Partition, r.Why)
	}
	fmt.Fprintf(&out, "state=%s gen=%d\n", h.g.State(), h.g.Generation())
	return out.String()
}

// advance moves the clock, ticks the group and forgets fenced clients.
func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.g.Tick(h.now)
	for id := range h.clients {
		if _, ok := h.g.Member(id); !ok {
			delete(h.clients, id)
		}
	}
}

// heartbeat sends a heartbeat for id; kv may override gen and owned.
func (h *harness) heartbeat(id string, kv map[string]string) string {
	c := h.clients[id]
	if c == nil {
		c = &client{}
	}
	gen, owned := c.gen, c.held.assignment()
	if v, ok := kv["gen"]; ok {
		gen, _ = strconv.ParseInt(v, 10, 64)
	}
	if v, ok := kv["owned"]; ok {
		owned = parseAssignment(v)
	}
	res, err := h.g.Heartbeat(h.now, id, gen, owned, 0)
	if err != nil {
		return errLine(err)
	}
	if h.clients[id] != nil {
		c.gen, c.held = res.Generation, fromAssignment(res.Assigned)
	}
	s := fmt.Sprintf("gen=%d assigned=%s", res.Generation, fmtAssignment(res.Assigned))
	if res.Revoked != nil {
		s += " revoked=" + fmtAssignment(res.Revoked)
	}
	return s + fmt.Sprintf(" interval=%v\n", res.HeartbeatInterval)
}

func (h *harness) describe() string {
	d := h.g.Describe(h.now)
	var b strings.Builder
	fmt.Fprintf(&b, "group=%s state=%s gen=%d assignor=%s\n", d.GroupID, d.State, d.Generation, d.Assignor)
	for _, m := range d.Members {
		fmt.Fprintf(&b, "  %s gen=%d assigned=%s", m.MemberID, m.Generation, fmtAssignment(m.AssignedPartitions))
		if m.RevokingPartitions != nil {
			fmt.Fprintf(&b, " revoking=%s", fmtAssignment(m.RevokingPartitions))
		}
		if m.Idle {
			b.WriteString(" idle")
		}
		if m.InstanceID != "" {
			fmt.Fprintf(&b, " instance=%s", m.InstanceID)
		}
		b.WriteString("\n")
	}
	r := d.Rebalances
	fmt.Fprintf(&b, "rebalances=%d in_progress=%v total=%dms by_reason=%v\n", r.Count, r.InProgress, r.TotalDurationMS, r.ByReason)
	for _, rb := range r.Recent {
		fmt.Fprintf(&b, "  gen=%d %s started=+%dms", rb.Generation, rb.Reason, rb.StartedAt-epoch0.UnixMilli())
		if rb.EndedAt != 0 {
			fmt.Fprintf(&b, " took=%dms", rb.DurationMS)
		}
		for _, mv := range rb.Moved {
			fmt.Fprintf(&b, " %s:%d %s→%s", mv.Topic, mv.Partition, orDash(mv.From), orDash(mv.To))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (h *harness) clientIDs() []string {
	ids := make([]string, 0, len(h.clients))
	for id := range h.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (h *harness) dur(s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		h.t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

// checkInvariants checks, after every command, that ownership is exclusive
// and consistent: each owned partition has one owner, owners mirrors the
// members' owned sets, and what a member is told is a subset of what it owns.
func (h *harness) checkInvariants() {
	h.t.Helper()
	if err := h.g.invariants(); err != nil {
		h.t.Fatal(err)
	}
}

func errLine(err error) string {
	var e *api.Error
	if ae, ok := err.(*api.Error); ok {
		e = ae
		return fmt.Sprintf("error %s: %s\n", e.Code, e.Message)
	}
	return "error " + err.Error() + "\n"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fmtAssignment renders {"a":[0,1],"b":[2]} as "a:0,1 b:2" and {} as "-".
func fmtAssignment(a api.Assignment) string {
	if len(a) == 0 {
		return "-"
	}
	topics := make([]string, 0, len(a))
	for t := range a {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	var parts []string
	for _, t := range topics {
		ps := make([]string, len(a[t]))
		for i, p := range a[t] {
			ps[i] = strconv.Itoa(int(p))
		}
		parts = append(parts, t+":"+strings.Join(ps, ","))
	}
	return strings.Join(parts, " ")
}

// parseAssignment reads "a:0,1;b:2" or "none".
func parseAssignment(s string) api.Assignment {
	a := api.Assignment{}
	if s == "none" {
		return a
	}
	for _, tps := range strings.Split(s, ";") {
		t, ps, _ := strings.Cut(tps, ":")
		a[t] = []int32{}
		for _, p := range strings.Split(ps, ",") {
			n, _ := strconv.Atoi(p)
			a[t] = append(a[t], int32(n))
		}
	}
	return a
}
