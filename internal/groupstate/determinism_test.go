package groupstate

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed of the random command sequences (0: from the clock, printed)")
	stepsFlag = flag.Int("steps", 400, "commands per random sequence")
)

// recorder makes a random command sequence in the transcript language,
// choosing each command from the state of a world it runs them against, so
// that most commands are meaningful (acks of messages handed out, reports
// of dead letters outstanding) while some are stale or wrong.
type recorder struct {
	r    *rand.Rand
	w    *world
	born map[string]int64
}

func newRecorder(seed uint64) *recorder {
	w := newWorld(Config{})
	return &recorder{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), w: w, born: map[string]int64{}}
}

var members = []string{"A", "B", "C"}

func (rc *recorder) pick(xs []string) string { return xs[rc.r.IntN(len(xs))] }

// member picks a live member mostly, any name sometimes.
func (rc *recorder) member() string {
	live := clientIDs(rc.w)
	if len(live) == 0 || rc.r.IntN(10) == 0 {
		return rc.pick(members)
	}
	return rc.pick(live)
}

// next returns the next command.
func (rc *recorder) next() string {
	w, r := rc.w, rc.r
	topics := slices.Sorted(mapKeys(w.topics))
	randTP := func() (delivery.TP, bool) {
		if len(topics) == 0 {
			return delivery.TP{}, false
		}
		t := rc.pick(topics)
		return delivery.TP{Topic: t, Partition: int32(r.IntN(len(w.topics[t].Partitions)))}, true
	}
	held := func(m string) (Ref, bool) {
		got := w.got[m]
		if len(got) == 0 {
			return Ref{}, false
		}
		return got[len(got)-1-r.IntN(min(len(got), 8))], true
	}
	switch n := r.IntN(100); {
	case n < 4 || len(topics) == 0:
		t := rc.pick([]string{"orders", "pay"})
		if _, ok := w.topics[t]; ok && r.IntN(2) == 0 {
			return fmt.Sprintf("grow %s %d", t, len(w.topics[t].Partitions)+1)
		}
		rc.born[t]++
		quiet := ""
		if r.IntN(4) == 0 {
			quiet = " quiet"
		}
		return fmt.Sprintf("topic %s %d born=%d records=%d%s", t, 1+r.IntN(3), rc.born[t], r.IntN(5), quiet)
	case n < 5:
		return "drop " + rc.pick(topics)
	case n < 15:
		tp, _ := randTP()
		return fmt.Sprintf("produce %s %d", fmtTP(tp), 1+r.IntN(4))
	case n < 22 || len(w.clients) == 0 && n < 60:
		m := rc.pick(members)
		opts := ""
		switch r.IntN(6) {
		case 0:
			opts += " reset=latest"
		case 1:
			opts += " reset=none"
		}
		if r.IntN(4) == 0 {
			opts += " instance=i-" + m
		}
		if r.IntN(5) == 0 {
			opts += fmt.Sprintf(" max-retries=%d", r.IntN(3)-1)
		}
		if r.IntN(5) == 0 {
			opts += " visibility=5s"
		}
		if r.IntN(6) == 0 {
			opts += " assignor=range"
		}
		ts := rc.pick(topics)
		if r.IntN(3) == 0 {
			ts = "orders,pay"
		}
		return fmt.Sprintf("join %s topics=%s session=20s%s", m, ts, opts)
	case n < 32:
		return "hb " + rc.member()
	case n < 34:
		return "leave " + rc.member()
	case n < 48:
		m := rc.member()
		if r.IntN(3) == 0 {
			return fmt.Sprintf("poll %s max=%d bytes=%d", m, 1+r.IntN(6), 100+r.IntN(300))
		}
		return fmt.Sprintf("poll %s max=%d", m, 1+r.IntN(6))
	case n < 72:
		m := rc.member()
		ref, ok := held(m)
		if !ok {
			return "hb " + m
		}
		cmd := fmt.Sprintf("%s %s %s@%d", rc.pick([]string{"ack", "ack", "ack", "nack", "nack", "release", "extend"}), m, fmtTP(ref.TP), ref.Offset)
		if strings.HasPrefix(cmd, "nack") && r.IntN(4) == 0 {
			cmd += " reject"
		}
		if strings.HasPrefix(cmd, "ack") && r.IntN(4) == 0 {
			cmd = fmt.Sprintf("ack %s %s@%d-%d", m, fmtTP(ref.TP), ref.Offset, ref.Offset+int64(r.IntN(4))+1)
		}
		return cmd
	case n < 75:
		m := rc.member()
		tp, _ := randTP()
		return fmt.Sprintf("commit %s %s=%d", m, fmtTP(tp), r.IntN(8))
	case n < 77:
		tp, _ := randTP()
		if r.IntN(3) == 0 {
			return fmt.Sprintf("reset %s=forget", fmtTP(tp))
		}
		return fmt.Sprintf("reset %s=%d", fmtTP(tp), r.IntN(5))
	case n < 85:
		if len(w.outstanding) == 0 {
			return "tick 1s"
		}
		keys := make([]letterKey, 0, len(w.outstanding))
		for k := range w.outstanding {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y letterKey) int {
			if c := compareTP(x.tp, y.tp); c != 0 {
				return c
			}
			if x.off != y.off {
				return int(x.off - y.off)
			}
			return int(x.seq) - int(y.seq)
		})
		k := keys[r.IntN(len(keys))]
		if r.IntN(3) == 0 {
			// Rather than report it, now and then reset its partition
			// under it (its members leave first): its message may
			// die again, and this report come late.
			if live := clientIDs(w); len(live) > 0 {
				return "leave " + rc.pick(live)
			}
			return fmt.Sprintf("reset %s=%d", fmtTP(k.tp), r.Int64N(k.off+1))
		}
		// Named by its seq: a late report of an earlier hand-out of
		// the same message must settle nothing.
		return fmt.Sprintf("%s %s@%d#%d", rc.pick([]string{"dlq-ok", "dlq-ok", "dlq-fail"}), fmtTP(k.tp), k.off, k.seq)
	case n < 98:
		return "tick " + rc.pick([]string{"10ms", "100ms", "100ms", "1s", "1s", "1s", "3s", "7s", "21s"})
	case n < 99:
		return "hb " + rc.member()
	default:
		return "restart"
	}
}

// record makes a sequence of steps commands, running them against the
// recorder's world as it goes.
func record(t *testing.T, seed uint64, steps int) []string {
	rc := newRecorder(seed)
	cmds := []string{}
	for range steps {
		cmd := rc.next()
		runCommand(t, &rc.w, cmd)
		rc.w.check()
		cmds = append(cmds, cmd)
	}
	return cmds
}

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}

// TestDeterminism records a random command sequence and feeds it into two
// fresh aggregates, comparing their answers, effects and whole state after
// every step: the same commands in the same order give the same state and
// effects, what a replicated state machine needs.
func TestDeterminism(t *testing.T) {
	base := seed(t)
	for i := range uint64(4) {
		s := base + i
		cmds := record(t, s, *stepsFlag)
		w1, w2 := newWorld(Config{}), newWorld(Config{})
		for n, cmd := range cmds {
			o1, o2 := runCommand(t, &w1, cmd), runCommand(t, &w2, cmd)
			d1, d2 := w1.a.digest(w1.now), w2.a.digest(w2.now)
			if o1 != o2 || d1 != d2 {
				t.Fatalf("seed %d step %d %q: the aggregates differ\nanswer 1:\n%s\nanswer 2:\n%s\nstate 1:\n%s\nstate 2:\n%s\nsequence:\n%s",
					s, n+1, cmd, o1, o2, d1, d2, strings.Join(cmds[:n+1], "\n"))
			}
		}
	}
}

// TestEffectsConsistent runs random command sequences through a faithful
// caller and checks, after every command, that the effects are consistent
// (see world.apply and world.check): persisted offsets never go back
// unless reset or of a new topic; the offset store mirrors the group's
// settled state; no dead letter is handed out twice while its write is
// outstanding. At the end, every dead letter whose write failed is handed
// out again within the longest backoff, and once all writes succeed none
// stays pending.
func TestEffectsConsistent(t *testing.T) {
	base := seed(t)
	for i := range uint64(20) {
		s := base + i
		rc := newRecorder(s)
		var cmds []string
		fail := func(cmd string) {
			t.Fatalf("seed %d after %q: %s\nsequence:\n%s", s, cmd, strings.Join(rc.w.violations, "; "), strings.Join(cmds, "\n"))
		}
		for range *stepsFlag {
			cmd := rc.next()
			cmds = append(cmds, cmd)
			runCommand(t, &rc.w, cmd)
			rc.w.check()
			if len(rc.w.violations) > 0 {
				fail(cmd)
			}
		}
		w := rc.w
		// Fail every outstanding write: each comes back after a backoff
		// (world.check: a pending dead letter is written or retried).
		for _, k := range slices.Collect(mapKeysDead(w.outstanding)) {
			w.deadWritten(k, false)
			w.check()
		}
		w.tick(DeadBackoffMax)
		w.check()
		// Now every write succeeds: nothing stays pending.
		for round := 0; len(w.outstanding) > 0 && round < 10; round++ {
			for _, k := range slices.Collect(mapKeysDead(w.outstanding)) {
				w.deadWritten(k, true)
			}
			w.tick(time.Minute)
		}
		for _, tp := range w.a.Partitions() {
			if st := w.a.Stats(tp); st.DeadPending > 0 && len(w.outstanding) == 0 {
				w.violate("%s keeps %d dead letters pending with no write outstanding", fmtTP(tp), st.DeadPending)
			}
		}
		w.check()
		if len(w.violations) > 0 {
			fail("the final drain")
		}
	}
}

func mapKeysDead(m map[letterKey]DeadLetter) func(func(letterKey) bool) {
	return func(yield func(letterKey) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
