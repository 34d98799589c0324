package groupstate

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the actual output")

// TestTranscripts replays testdata/*.txt against a whole aggregate, as the
// transcripts of internal/group do against its membership: blocks of
// comment lines (#), one command, "----", and the expected output — the
// command's answer, then the effects it asked for (persist, dead, save,
// wake, next). Run with -update to rewrite the expected output. After every
// command the effects are checked for consistency (see world).
//
// Commands:
//
//	new [max-retries=] [visibility=] [in-flight=] [session=] [max-members=]   a fresh group
//	topic NAME PARTITIONS [born=] [records=] [quiet]   create (or, with another born, create again) a topic; SetTopics unless quiet
//	drop NAME                      delete a topic; SetTopics
//	grow NAME PARTITIONS           add partitions; SetTopics
//	produce T:P N                  append N records (the group is not told)
//	retain T:P OFFSET              retention removed everything below OFFSET
//	join ID topics=a,b [instance=] [reset=] [assignor=] [session=] [max-retries=] [visibility=] [in-flight=] [proto=consumer]
//	hold | unhold                  HoldClassic, ReleaseClassic (a classic Kafka group's members come and go)
//	delete                         delete the group
//	hb ID [gen=N] [owned=t:0,1;u:2|none]
//	settle                         after 1s, every client heartbeats, until stable
//	leave ID
//	poll ID [max=N] [bytes=N]      (records are 100 bytes)
//	ack|nack|release|extend ID [gen=N] T:P@O,O,.. T:P@FROM-TO ... [reject] [delay=] [reason=] [for=]
//	commit ID T:P=OFFSET[#METADATA] ...
//	commit-each ID T:P=OFFSET[#METADATA] ...  CommitEach: Kafka's, partition by partition
//	reset T:P=OFFSET|forget ...
//	delete-offsets T:P ... [also=t1,t2]  Kafka's OffsetDelete; also: classic members' topics
//	store T:P=OFFSET[#METADATA] ...  StoreClassic: a Kafka commit naming a classic member
//	store-free T:P=OFFSET[#METADATA] ...  StoreClassic: a Kafka commit without member
//	dlq-ok|dlq-fail T:P@O[#SEQ]    report the write of an outstanding dead letter (that hand-out; else the latest)
//	tick DURATION                  advance the clock, then Tick
//	restart                        a new aggregate restored from the offsets persisted
//	describe                       the digest of the group's state
func TestTranscripts(t *testing.T) {
	testkit.Transcripts(t, "testdata/*.txt", *update, func(t *testing.T) testkit.TranscriptRun {
		w := newWorld(Config{})
		return func(cmd string) (string, []string) {
			got := runCommand(t, &w, cmd)
			w.check()
			broken := w.violations
			w.violations = nil
			return got, broken
		}
	})
}

// runCommand runs one transcript command against *wp (new replaces it).
func runCommand(t *testing.T, wp **world, cmd string) string {
	t.Helper()
	w := *wp
	fields := strings.Fields(cmd)
	name, args := fields[0], fields[1:]
	kv := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && !strings.Contains(k, ":") {
			kv[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	num := func(k string) int {
		if kv[k] == "" {
			return 0
		}
		n, err := strconv.Atoi(kv[k])
		if err != nil {
			t.Fatalf("%s: %s=%q: %v", cmd, k, kv[k], err)
		}
		return n
	}
	dur := func(s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s: duration %q: %v", cmd, s, err)
		}
		return d
	}
	settings := func() Settings {
		return Settings{MaxRetries: num("max-retries"), VisibilityTimeout: dur(kv["visibility"]), MaxInFlight: num("in-flight")}
	}
	switch name {
	case "new":
		cfg := Config{Group: group.Config{SessionTimeout: dur(kv["session"])}, MaxMembers: num("max-members"),
			Delivery: settings().config()}
		*wp = newWorld(cfg)
		return "ok\n"
	case "topic", "grow":
		{
			n := pos[0]
			c, err := strconv.Atoi(pos[1])
			if err != nil {
				t.Fatalf("%s: partitions: %v", cmd, err)
			}
			top := w.topics[n]
			if name == "topic" {
				top = Topic{Born: int64(num("born")), MaxMessageBytes: 1000}
				if top.Born == 0 {
					top.Born = 1
				}
			}
			for len(top.Partitions) < c {
				top.Partitions = append(top.Partitions, Partition{})
			}
			w.topics[n] = top
			for i := range top.Partitions {
				if r := int64(num("records")); r > 0 && name == "topic" {
					w.produce(delivery.TP{Topic: n, Partition: int32(i)}, r)
				}
			}
		}
		if slices.Contains(pos, "quiet") {
			return "ok\n" // the group is not told (the broker is down)
		}
		return w.apply(w.a.SetTopics(w.now, w.view()))
	case "drop":
		delete(w.topics, pos[0])
		return w.apply(w.a.SetTopics(w.now, w.view()))
	case "produce":
		n, _ := strconv.ParseInt(pos[1], 10, 64)
		w.produce(parseTP(t, pos[0]), n)
		return "ok\n"
	case "retain":
		tp := parseTP(t, pos[0])
		off, _ := strconv.ParseInt(pos[1], 10, 64)
		p := &w.topics[tp.Topic].Partitions[tp.Partition]
		p.Bytes -= 100 * (off - p.Earliest)
		p.Earliest = off
		return "ok\n"
	case "join":
		id := pos[0]
		if id == "-" {
			id = ""
		}
		p := group.JoinParams{InstanceID: kv["instance"], ClientHost: "10.0.0.1", SessionTimeout: dur(kv["session"]),
			Assignor: kv["assignor"], OffsetReset: kv["reset"]}
		if kv["topics"] != "" {
			p.Topics = strings.Split(kv["topics"], ",")
		}
		out, _ := w.join(id, p, settings(), kv["proto"])
		return out
	case "hold":
		if err := w.a.HoldClassic(); err != nil {
			return errLine(err)
		}
		return "ok\n"
	case "unhold":
		w.a.ReleaseClassic()
		return "ok\n"
	case "delete":
		if err := w.a.Delete(); err != nil {
			return errLine(err)
		}
		return "ok\n"
	case "hb":
		var gen *int64
		if v, ok := kv["gen"]; ok {
			g, _ := strconv.ParseInt(v, 10, 64)
			gen = &g
		}
		var owned api.Assignment
		if v, ok := kv["owned"]; ok {
			owned = parseAssignment(v)
		}
		return w.heartbeat(pos[0], gen, owned)
	case "settle":
		var b strings.Builder
		for i := 1; ; i++ {
			w.now = w.now.Add(time.Second)
			for _, id := range clientIDs(w) {
				w.heartbeat(id, nil, nil)
			}
			if w.a.State() == group.StateStable {
				fmt.Fprintf(&b, "stable after %d rounds\n", i)
				break
			}
			if i == 10 {
				b.WriteString("not stable after 10 rounds\n")
				break
			}
		}
		for _, id := range clientIDs(w) {
			fmt.Fprintf(&b, "%s: %s\n", id, fmtAssignment(w.clients[id].held))
		}
		return b.String()
	case "leave":
		fx, err := w.a.Leave(w.now, pos[0], slices.Contains(pos, "for-good"))
		delete(w.clients, pos[0])
		if err != nil {
			return errLine(err) + w.apply(fx)
		}
		return "ok\n" + w.apply(fx)
	case "poll":
		limit, room := num("max"), int64(num("bytes"))
		if limit == 0 {
			limit = 100
		}
		if room == 0 {
			room = 1 << 30
		}
		return w.poll(pos[0], limit, room)
	case "ack", "nack", "release", "extend":
		s := Settle{Member: pos[0], Generation: int64(num("gen")), Visibility: dur(kv["for"]),
			Nack: delivery.NackOptions{Delay: dur(kv["delay"]), Reason: kv["reason"]}}
		s.Op = map[string]Op{"ack": OpAck, "nack": OpNack, "release": OpRelease, "extend": OpExtend}[name]
		for _, p := range pos[1:] {
			if p == "reject" {
				s.Nack.Reject = true
				continue
			}
			tps, offs, _ := strings.Cut(p, "@")
			tp := parseTP(t, tps)
			for _, o := range strings.Split(offs, ",") {
				if from, to, ok := strings.Cut(o, "-"); ok {
					f, _ := strconv.ParseInt(from, 10, 64)
					e, _ := strconv.ParseInt(to, 10, 64)
					s.Ranges = append(s.Ranges, Range{TP: tp, From: f, To: e})
					continue
				}
				off, _ := strconv.ParseInt(o, 10, 64)
				s.Messages = append(s.Messages, Ref{TP: tp, Offset: off})
			}
		}
		return w.settle(s)
	case "commit", "commit-each":
		c := w.clients[pos[0]]
		var gen int64
		if c != nil {
			gen = c.gen
		}
		var refs []Ref
		meta := map[delivery.TP]string{}
		for _, p := range pos[1:] {
			p, text, _ := strings.Cut(p, "#")
			tps, off := splitKV(t, p)
			refs = append(refs, Ref{TP: parseTP(t, tps), Offset: int64(off)})
			meta[parseTP(t, tps)] = text
		}
		if name == "commit-each" {
			refused, fx, err := w.a.CommitEach(w.now, pos[0], gen, "10.0.0.1", refs, meta, w.view())
			var b strings.Builder
			for _, tp := range sortedTPs(refused) {
				fmt.Fprintf(&b, "refused %s %s", fmtTP(tp), errLine(refused[tp]))
			}
			if err != nil {
				return b.String() + errLine(err) + w.apply(fx)
			}
			return b.String() + "ok\n" + w.apply(fx)
		}
		fx, err := w.a.Commit(w.now, pos[0], gen, "10.0.0.1", refs, meta, w.view())
		if err != nil {
			return errLine(err) + w.apply(fx)
		}
		return "ok\n" + w.apply(fx)
	case "delete-offsets":
		var tps []delivery.TP
		for _, p := range pos {
			tps = append(tps, parseTP(t, p))
		}
		var also []string
		if kv["also"] != "" {
			also = strings.Split(kv["also"], ",")
		}
		kept, fx, err := w.a.DeleteOffsets(w.now, tps, also)
		if err != nil {
			return errLine(err) + w.apply(fx)
		}
		var out []string
		for _, tp := range kept {
			out = append(out, fmtTP(tp))
		}
		return fmt.Sprintf("subscribed %s\n", strings.Join(out, " ")) + w.apply(fx)
	case "reset", "store", "store-free":
		var plan []Ref
		meta := map[delivery.TP]string{}
		for _, p := range pos {
			p, text, _ := strings.Cut(p, "#")
			tps, off, _ := strings.Cut(p, "=")
			meta[parseTP(t, tps)] = text
			r := Ref{TP: parseTP(t, tps), Offset: Forgotten}
			if off != "forget" {
				r.Offset, _ = strconv.ParseInt(off, 10, 64)
			}
			w.rewound[r.TP] = true
			plan = append(plan, r)
		}
		var fx Effects
		var err error
		if name == "reset" {
			fx, err = w.a.Reset(w.now, plan)
		} else {
			fx, err = w.a.StoreClassic(w.now, plan, meta, name == "store")
		}
		if err != nil {
			return errLine(err) + w.apply(fx)
		}
		return "ok\n" + w.apply(fx)
	case "dlq-ok", "dlq-fail":
		tps, o, _ := strings.Cut(pos[0], "@")
		o, sq, bySeq := strings.Cut(o, "#")
		off, _ := strconv.ParseInt(o, 10, 64)
		seq, _ := strconv.ParseUint(sq, 10, 64)
		k := letterKey{tp: parseTP(t, tps), off: off, born: -1}
		for o := range w.outstanding {
			switch {
			case o.tp != k.tp || o.off != k.off:
			case bySeq && o.seq == seq,
				!bySeq && (o.born > k.born || o.born == k.born && o.seq > k.seq):
				k = o
			}
		}
		return w.deadWritten(k, name == "dlq-ok")
	case "tick":
		return w.tick(dur(pos[0]))
	case "restart":
		return w.restart()
	case "describe":
		return w.a.digest(w.now)
	}
	t.Fatalf("unknown command %q", cmd)
	return ""
}

func clientIDs(w *world) []string {
	ids := make([]string, 0, len(w.clients))
	for id := range w.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func splitKV(t *testing.T, s string) (string, int) {
	k, v, ok := strings.Cut(s, "=")
	n, err := strconv.Atoi(v)
	if !ok || err != nil {
		t.Fatalf("want NAME=N, got %q", s)
	}
	return k, n
}

func parseTP(t *testing.T, s string) delivery.TP {
	topic, p, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(p)
	if !ok || err != nil {
		t.Fatalf("want TOPIC:PARTITION, got %q", s)
	}
	return delivery.TP{Topic: topic, Partition: int32(n)}
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
