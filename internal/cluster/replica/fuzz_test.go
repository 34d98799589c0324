package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// seenLog is a memLog that keeps the entries it was given.
type seenLog struct {
	memLog
	seen [][]byte
}

func (l *seenLog) ApplyEntry(b []byte, at int64) ([]int64, error) {
	l.seen = append(l.seen, bytes.Clone(b))
	return l.memLog.ApplyEntry(b, at)
}

// copyLog is a copy of l's state, to compare with later: its batches and
// offsets (not what Retain last kept, which a restore sets).
func copyLog(l *memLog) memLog {
	c := *l
	c.retained = 0
	c.batches = make([][]byte, len(l.batches))
	for i, b := range l.batches {
		c.batches[i] = bytes.Clone(b)
	}
	return c
}

// addDamaged is testkit.AddDamaged at b's spots and, in a record batch,
// its length field (offset 8) and record count (57).
func addDamaged(f *testing.F, b []byte) {
	testkit.AddDamaged(f, b, append(testkit.Spots(b), 8, 11, recordbatch.HeaderLen-1, 57, 60)...)
}

// FuzzApply applies an arbitrary entry, as one of the partition's group
// committed it (proposed by its leader, replicated, replayed), to a
// replica whose log holds two entries. An entry that is not whole record
// batches is refused with ErrCorrupt and changes nothing, and the replica
// goes on taking entries; one that is goes to the log whole, which writes
// it or refuses it whole (a batch without records), and the replica goes
// on. Either way the entry's bytes (Raft's) are not modified, and the
// replica's snapshot restores onto its own log unchanged.
func FuzzApply(f *testing.F) {
	addDamaged(f, batch(1))
	addDamaged(f, append(batch(2), batch(3)...))
	addDamaged(f, append(append(batch(1), batch(4)...), batch(1)...))
	f.Fuzz(func(t *testing.T, entry []byte) {
		l := &seenLog{}
		p := New(l, 1, []uint64{1, 2, 3}, nil)
		for i, b := range [][]byte{batch(2), append(batch(1), batch(3)...)} {
			if r := p.Apply(uint64(i+1), b).(Result); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		before, seen := copyLog(&l.memLog), len(l.seen)
		given := bytes.Clone(entry)
		r, ok := p.Apply(3, given).(Result)
		if !ok {
			t.Fatalf("Apply answered no Result")
		}
		if !bytes.Equal(given, entry) {
			t.Fatalf("Apply modified the entry:\n%x\nwas\n%x", given, entry)
		}
		if p.applied != 3 {
			t.Fatalf("applied %d, want 3", p.applied)
		}
		if err := checkEntry(entry); err != nil {
			if !errors.Is(r.Err, recordbatch.ErrCorrupt) || r.Bases != nil {
				t.Fatalf("entry of no whole batches (%v) answered %+v, want ErrCorrupt", err, r)
			}
			if !reflect.DeepEqual(copyLog(&l.memLog), before) || len(l.seen) != seen {
				t.Fatalf("refused entry reached the log")
			}
			if p.failed != nil {
				t.Fatalf("refused entry failed the replica: %v", p.failed)
			}
		} else if len(l.seen) != seen+1 || !bytes.Equal(l.seen[seen], entry) {
			t.Fatalf("entry of whole batches answered %+v; the log was given %d entries", r, len(l.seen)-seen)
		} else if err := l.refuses(entry); err != nil {
			// Refused by the log as every replica's refuses it: nothing
			// written, the replica goes on.
			if !refusal(r.Err) || r.Bases != nil || p.failed != nil ||
				!reflect.DeepEqual(copyLog(&l.memLog), before) {
				t.Fatalf("entry the log refuses (%v) answered %+v; replica failed %v", err, r, p.failed)
			}
		} else if r.Err != nil {
			t.Fatalf("entry of whole batches answered %+v", r)
		}
		next := l.next
		if r := p.Apply(4, batch(1)).(Result); r.Err != nil || !slices.Equal(r.Bases, []int64{next}) {
			t.Fatalf("the entry after answered %+v, want base %d", r, next)
		}
		snap, err := p.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		after := copyLog(&l.memLog)
		if err := p.Restore(snap); err != nil || p.applied != 4 || !reflect.DeepEqual(copyLog(&l.memLog), after) {
			t.Fatalf("restoring its own snapshot %s: %v, applied %d; log changed %v", snap, err, p.applied, !reflect.DeepEqual(copyLog(&l.memLog), after))
		}
	})
}

// FuzzRestore restores arbitrary bytes as a snapshot, as a replica does
// with one from its leader or its disk, onto a failed log holding offsets
// 0 to 10. A snapshot that does not decode, or that no replica took (no
// node, an end below 0), is refused with ErrBadSnapshot; one the log
// cannot be cut back to (inside a batch) is refused by the log; one that
// ends past the log, with no one to fetch from, is refused with
// ErrBehind. A refused snapshot changes nothing: not the log, the
// applied index or the failure; one whose producer state the log refuses
// (memLog: "refused") once cut back fails the replica. One restored makes
// the log end at its Next and heals the failure; the replica's snapshot
// then says the same index, end and producer state.
func FuzzRestore(f *testing.F) {
	for _, s := range []snapshot{{Index: 5, Next: 10, Node: 1}, {Index: 3, Next: 4, Node: 2}, {Index: 9, Next: 30, Node: 2}, {}} {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		addDamaged(f, b)
	}
	f.Add([]byte("null"))
	f.Add([]byte(`{"index":1,"next":-1,"node":1}`))
	f.Add([]byte(`{"index":7,"next":5,"node":2}`))
	f.Add([]byte(`{"index":7,"next":-9223372036854775808,"node":2}`))
	f.Add([]byte(`{"index":5,"next":6,"node":1,"producers":[{"id":1}]}`))
	f.Add([]byte(`{"index":5,"next":6,"node":1,"producers":"refused"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := sourceLog(t, 0, 10)
		p := New(l, 1, []uint64{1, 2, 3}, nil)
		failed := errors.New("disk gone")
		p.applied, p.failed = 5, failed
		before := copyLog(l)
		err := p.Restore(data)
		unchanged := func(why string) {
			t.Helper()
			if err == nil || p.applied != 5 || p.failed != failed || p.CatchingUp() || !reflect.DeepEqual(copyLog(l), before) {
				t.Fatalf("%s %q: %v; applied %d, failed %v, catching up %v, log changed %v", why, data, err,
					p.applied, p.failed, p.CatchingUp(), !reflect.DeepEqual(copyLog(l), before))
			}
		}
		var s snapshot
		if data != nil {
			if decodeErr := json.Unmarshal(data, &s); decodeErr != nil || s.Node == 0 || s.Next < 0 {
				if !errors.Is(err, ErrBadSnapshot) {
					t.Fatalf("snapshot %q (%v) answered %v, want ErrBadSnapshot", data, decodeErr, err)
				}
				unchanged("bad snapshot")
				return
			}
		}
		switch {
		case s.Next > before.next:
			if !errors.Is(err, ErrBehind) {
				t.Fatalf("restored %+v over a log ending at %d without a fetch: %v", s, before.next, err)
			}
			unchanged("snapshot past the log")
			return
		case err != nil && string(s.Producers) == `"refused"` && l.next == s.Next:
			if p.failed == nil || p.applied != 5 {
				t.Fatalf("producer state refused: %v, failed %v, applied %d", err, p.failed, p.applied)
			}
			return
		case err != nil:
			unchanged("snapshot the log cannot be cut to") // inside a batch
			return
		case l.next != s.Next || p.applied != s.Index || p.failed != nil:
			t.Fatalf("restored %+v: the log ends at %d, applied %d, failed %v", s, l.next, p.applied, p.failed)
		}
		b, err := p.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		// The producer state as given, compacted as Marshal does.
		want, err := json.Marshal(snapshot{Index: s.Index, Next: s.Next, Node: 1, Producers: s.Producers})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("restored %+v, then took %s (%v)", s, b, err)
		}
	})
}

// contiguousLog is a memLog that fails t when given batches that do not
// continue it: each at the offset the one before ends at, the first at
// the log's end.
type contiguousLog struct {
	memLog
	t   *testing.T
	end int64 // no batch may start at or after it
}

func (l *contiguousLog) AppendBatches(b []byte) (int64, error) {
	for want, rest := l.next, b; len(rest) > 0; {
		n, ok := recordbatch.Len(rest)
		if !ok || n > len(rest) {
			l.t.Fatalf("appended bytes that are not whole batches: %x", b)
		}
		if base := recordbatch.BaseOffset(rest); base != want || base >= l.end {
			l.t.Fatalf("appended a batch at %d, want %d below %d", base, want, l.end)
		}
		want += int64(recordbatch.NumRecords(rest))
		rest = rest[n:]
	}
	return l.memLog.AppendBatches(b)
}

// FuzzFetchAnswer feeds arbitrary bytes, as another node's answer to a
// catch-up fetch, to a replica whose log ends at 6 and whose snapshot ends
// at 20. Whatever the answer, what it appends continues its log below 20,
// and it says it has caught up only once its log reaches 20.
func FuzzFetchAnswer(f *testing.F) {
	src := &memLog{} // batches of two records, offsets 0 to 30
	for src.next < 30 {
		src.AppendBatches(batch(2))
	}
	for _, from := range []int64{0, 6, 18} {
		b, err := src.ReadBatches(from, 1<<20)
		if err != nil {
			f.Fatal(err)
		}
		addDamaged(f, b)
	}
	b, _ := src.ReadBatches(6, 1<<20)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, answer []byte) {
		dst := &contiguousLog{t: t, end: 20}
		for range 3 {
			dst.memLog.AppendBatches(batch(2))
		}
		asked := 0
		fetch := func(_ context.Context, _ uint64, _ int64) ([]byte, error) {
			if asked++; asked > 1 {
				return nil, errors.New("node 1 is gone")
			}
			return answer, nil
		}
		p := New(dst, 3, []uint64{1, 2, 3}, fetch)
		if err := p.fetchFrom(context.Background(), 1, 20); err == nil && dst.next < 20 {
			t.Fatalf("caught up with the log ending at %d, below the snapshot's 20", dst.next)
		}
	})
}
