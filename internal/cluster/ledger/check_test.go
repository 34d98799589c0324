package ledger

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// base is a clean history: partition 0 holds a, b, c at 0..2, read by a
// fetch and by group g (which committed 3); d was refused, e is unknown.
func base() *History {
	h := &History{}
	t0 := time.Unix(1000, 0)
	for i, v := range []string{"a", "b", "c"} {
		h.Publish(Publish{Value: v, Partition: 0, Outcome: Acked, Offset: int64(i), Start: t0.Add(time.Duration(i) * time.Second), End: t0.Add(time.Duration(i)*time.Second + time.Millisecond)})
	}
	h.Publish(Publish{Value: "d", Partition: 0, Outcome: Failed})
	h.Publish(Publish{Value: "e", Partition: 0, Outcome: Unknown})
	for i, v := range []string{"a", "b", "c"} {
		h.Read(Read{Reader: "fetch", Session: "1", Partition: 0, Offset: int64(i), Value: v})
		h.Read(Read{Reader: "c1", Session: "m1", Group: "g", Partition: 0, Offset: int64(i), Value: v})
	}
	h.Watermark(Watermark{Partition: 0, HWM: 3, Start: t0.Add(10 * time.Second), End: t0.Add(11 * time.Second)})
	h.Commit(Commit{Group: "g", Partition: 0, Offset: 1})
	h.Commit(Commit{Group: "g", Partition: 0, Offset: 3})
	return h
}

// Each violation planted in the clean history is reported, under its kind.
func TestCheckFindsPlantedViolations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name  string
		plant func(h *History)
		want  Kind
	}{
		{"acked write lost", func(h *History) {
			// The acked value b is never read, yet reads reached past it
			// (and another value sits at its offset: lost and conflict).
			h.reads = slices.DeleteFunc(h.reads, func(r Read) bool { return r.Value == "b" })
			h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 1, Value: "e"})
		}, Lost},
		{"acked at one offset, read at another", func(h *History) {
			h.reads = slices.DeleteFunc(h.reads, func(r Read) bool { return r.Value == "c" })
			h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 2, Value: "e"}, Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 3, Value: "c"})
		}, WrongOffset},
		{"one offset, two values", func(h *History) {
			h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 1, Value: "e"})
		}, Conflict},
		{"gap below the highest read", func(h *History) {
			h.Publish(Publish{Value: "f", Partition: 0, Outcome: Acked, Offset: 5})
			h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 5, Value: "f"})
		}, Gap},
		{"a session goes back", func(h *History) {
			h.Read(Read{Reader: "c1", Session: "m1", Group: "g", Partition: 0, Offset: 1, Value: "b"})
		}, NonMonotonic},
		{"committed offset goes back", func(h *History) {
			h.Commit(Commit{Group: "g", Partition: 0, Offset: 2})
		}, CommitRegressed},
		{"value never published", func(h *History) {
			h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 3, Value: "zz"})
		}, Phantom},
		{"refused publish visible", func(h *History) {
			h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 3, Value: "d"})
		}, FailedVisible},
		{"one value at two offsets", func(h *History) {
			h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 3, Value: "e"}, Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 4, Value: "e"})
		}, DuplicateWrite},
		{"watermark behind a completed ack", func(h *History) {
			h.Watermark(Watermark{Partition: 0, HWM: 2, Start: t0.Add(20 * time.Second), End: t0.Add(21 * time.Second)})
		}, StaleRead},
		{"group committed past what it read", func(h *History) {
			h.reads = slices.DeleteFunc(h.reads, func(r Read) bool { return r.Group == "g" && r.Offset == 1 })
		}, Unconsumed},
	}
	if r := Check(base()); !r.OK() {
		t.Fatalf("the clean history: %s", r)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := base()
			tc.plant(h)
			r := Check(h)
			if len(r.Of(tc.want)) == 0 {
				t.Fatalf("no %s reported:\n%s", tc.want, r)
			}
			t.Logf("%s", r)
		})
	}
}

// What at-least-once allows is not a violation: the same offset delivered
// again (a redelivery in one session, or a new session starting over from
// the commit), a fetch rereading, an unknown publish that was written or
// not.
func TestCheckAllowsRedelivery(t *testing.T) {
	h := base()
	h.Read(Read{Reader: "c1", Session: "m1", Group: "g", Partition: 0, Offset: 1, Value: "b", Redelivery: true})
	h.Read(Read{Reader: "c1", Session: "m2", Group: "g", Partition: 0, Offset: 1, Value: "b"})
	h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 0, Value: "a"})
	h.Read(Read{Reader: "fetch", Session: "2", Partition: 0, Offset: 3, Value: "e"})
	r := Check(h)
	if !r.OK() || r.Redelivered != 2 {
		t.Fatalf("%s (redelivered %d, want 2)", r, r.Redelivered)
	}
}

// An acknowledged value beyond every read is unverified, not lost: the
// checker cannot tell, and says so in the count.
func TestCheckCountsUnverified(t *testing.T) {
	h := base()
	h.Publish(Publish{Value: "f", Partition: 0, Outcome: Acked, Offset: 3})
	if r := Check(h); !r.OK() || r.Unverified != 1 {
		t.Fatalf("%s (unverified %d)", r, r.Unverified)
	}
}

// model runs a simple correct broker: partitions are slices, publishes
// append (an unknown outcome may or may not have), fetch readers read a
// prefix and see its watermark, group sessions read forward from the
// commit and commit what they read, then a final read of everything.
func model(t *rapid.T) *History {
	h := &History{}
	parts := rapid.IntRange(1, 3).Draw(t, "partitions")
	logs := make([][]string, parts)
	commit := make([]int64, parts)
	clock := time.Unix(0, 0)
	tick := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	session, next := 0, 0
	fetch := func(reader string, p int) {
		start := tick()
		n := rapid.IntRange(0, len(logs[p])).Draw(t, "prefix")
		for off := range n {
			h.Read(Read{Reader: reader, Session: fmt.Sprint(session), Partition: int32(p), Offset: int64(off), Value: logs[p][off]})
		}
		h.Watermark(Watermark{Partition: int32(p), HWM: int64(len(logs[p])), Start: start, End: tick()})
		session++
	}
	steps := rapid.IntRange(0, 60).Draw(t, "steps")
	for range steps {
		p := rapid.IntRange(0, parts-1).Draw(t, "p")
		switch rapid.IntRange(0, 3).Draw(t, "op") {
		case 0:
			v := fmt.Sprintf("v%d", next)
			next++
			start := tick()
			pub := Publish{Value: v, Partition: int32(p), Start: start}
			switch rapid.IntRange(0, 2).Draw(t, "outcome") {
			case 0:
				pub.Outcome, pub.Offset = Acked, int64(len(logs[p]))
				logs[p] = append(logs[p], v)
			case 1:
				pub.Outcome = Failed
			default:
				pub.Outcome = Unknown
				if rapid.Bool().Draw(t, "written") {
					logs[p] = append(logs[p], v)
				}
			}
			pub.End = tick()
			h.Publish(pub)
		case 1:
			fetch("fetch", p)
		case 2:
			// A group session reads forward from the commit, some of it
			// twice (a redelivery), and commits part of what it read.
			end := rapid.IntRange(int(commit[p]), len(logs[p])).Draw(t, "read to")
			for off := commit[p]; off < int64(end); off++ {
				r := Read{Reader: "c", Session: fmt.Sprint(session), Group: "g", Partition: int32(p), Offset: off, Value: logs[p][off]}
				h.Read(r)
				if rapid.IntRange(0, 9).Draw(t, "redeliver") == 0 {
					r.Redelivery = true
					h.Read(r)
				}
			}
			commit[p] = rapid.Int64Range(commit[p], int64(end)).Draw(t, "commit")
			h.Commit(Commit{Group: "g", Partition: int32(p), Offset: commit[p]})
			session++
		default:
			h.Commit(Commit{Group: "g", Partition: int32(p), Offset: commit[p]})
		}
	}
	for p := range parts {
		start := tick()
		for off, v := range logs[p] {
			h.Read(Read{Reader: "final", Session: "final", Partition: int32(p), Offset: int64(off), Value: v})
		}
		h.Watermark(Watermark{Partition: int32(p), HWM: int64(len(logs[p])), Start: start, End: tick()})
	}
	return h
}

// Every history of the correct model is clean, and every acknowledged
// value verified by the final read.
func TestCheckModelHistoriesAreClean(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := model(t)
		if r := Check(h); !r.OK() || r.Unverified != 0 {
			t.Fatalf("%s (unverified %d)", r, r.Unverified)
		}
	})
}

// The test that proves a chaos run can fail: an acknowledged value removed
// from every read of a model history (as if the broker had lost it) is
// reported lost, whichever one it is.
func TestCheckReportsALossPlantedInAModelHistory(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := model(t)
		var acked []Publish
		for _, p := range h.publishes {
			if p.Outcome == Acked {
				acked = append(acked, p)
			}
		}
		if len(acked) == 0 {
			t.Skip("nothing acked")
		}
		gone := rapid.SampledFrom(acked).Draw(t, "lost")
		// The broker lost it: every later offset moved down by one, as a
		// log that dropped a record and kept appending would read.
		var reads []Read
		for _, r := range h.reads {
			switch {
			case r.Partition != gone.Partition || r.Offset < gone.Offset:
				reads = append(reads, r)
			case r.Offset > gone.Offset:
				r.Offset--
				reads = append(reads, r)
			}
		}
		h.reads = reads
		r := Check(h)
		if r.OK() {
			t.Fatalf("the loss of %q at p%d@%d went unnoticed", gone.Value, gone.Partition, gone.Offset)
		}
	})
}
