package groupstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// seedCommands are one command of every kind, as a coordinator proposes
// them, each one that the fixture takes.
func seedCommands() []Command {
	gone := offsetstore.Write{Group: "g", TP: delivery.TP{Topic: "orders", Partition: 1}, Offset: offsetstore.Offset{Seq: 8}, Delete: true}
	kafka := offsetstore.Write{Group: "k", TP: tp0, Offset: offsetstore.Offset{Seq: 1, Committed: 12, Metadata: "app-state"}}
	return []Command{
		{Claim: &Claim{Epoch: 3}},
		{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{write(7, 70, delivery.Range{From: 72, To: 75}), gone}},
		{Group: "k", Epoch: 2, Offsets: []offsetstore.Write{kafka}},
		{Group: "h", Epoch: 2, Settings: &groupstate.Saved{Assignor: "sticky", OffsetReset: "earliest", Protocol: "consumer",
			Settings: groupstate.Settings{MaxRetries: -1, VisibilityTimeout: 30e9, MaxInFlight: 10}}},
		{Group: "g", Epoch: 2, Delete: new(uint64(9))},
		{Group: "k", Epoch: 2, Classic: &Classic{Members: []byte(`{"generation":5,"members":["m1"]}`)}},
		{Group: "k", Epoch: 2, Classic: &Classic{}},
		{Group: "g", Epoch: 3, Generations: new(int64(GenerationBlock + 7))},
	}
}

// fixtureLog is the log of the fixture's shard: a claim, a group with
// settings, stored and deleted partitions and a classic membership, and a
// deleted group.
func fixtureLog() [][]byte {
	cmds := []Command{
		{Claim: &Claim{Epoch: 2}},
		{Group: "g", Epoch: 2, Settings: &groupstate.Saved{Assignor: "range", Settings: groupstate.Settings{MaxRetries: 4}}},
		{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{write(3, 30, delivery.Range{From: 32, To: 40})}},
		{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{{Group: "g", TP: delivery.TP{Topic: "gone", Partition: 1}, Offset: offsetstore.Offset{Seq: 4}, Delete: true}}},
		{Group: "g", Epoch: 2, Classic: &Classic{Members: []byte(`{"generation":3}`)}},
		{Group: "old", Epoch: 2, Delete: new(uint64(5))},
	}
	log := make([][]byte, len(cmds))
	for i, c := range cmds {
		b, err := c.Encode()
		if err != nil {
			panic(err)
		}
		log[i] = b
	}
	return log
}

// fixture is a shard that applied fixtureLog, each command taken.
func fixture(tb testing.TB) *State {
	tb.Helper()
	s := New()
	for i, b := range fixtureLog() {
		if res := s.Apply(uint64(i+1), b); res != nil {
			tb.Fatalf("fixture entry %d: %v", i+1, res)
		}
	}
	return s
}

// answer is Apply's answer as an error, failing t if it is anything else.
func answer(t *testing.T, entry []byte, res any) error {
	t.Helper()
	if res == nil {
		return nil
	}
	err, ok := res.(error)
	if !ok || err == nil {
		t.Fatalf("entry %q answered %#v, want nil or an error", entry, res)
	}
	return err
}

// sameAnswer reports whether two answers are the same refusal (or both
// none): every replica must tell the proposer the same.
func sameAnswer(a, b error) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Error() == b.Error())
}

// FuzzApply applies arbitrary entries, newline-separated, to the fixture
// shard, as committed entries of its Raft group (proposed by whichever
// node coordinated): no entry may panic. Each answers nil or an error; an
// entry that does not decode is refused, a write under an epoch older
// than the last claim is ErrFenced, and a refused entry changes nothing
// but the applied index. The state after an entry is a function of the
// snapshot before it and the entry (every replica, restored from any
// snapshot, decides alike), the command an entry decodes to, encoded
// again, has the same effect, and the state after it survives its
// snapshot.
func FuzzApply(f *testing.F) {
	var all [][]byte
	for _, c := range seedCommands() {
		b, err := c.Encode()
		if err != nil {
			f.Fatal(err)
		}
		testkit.AddDamaged(f, b)
		all = append(all, b)
	}
	f.Add(bytes.Join(all, []byte("\n")))
	f.Add(bytes.Join(fixtureLog(), []byte("\n")))
	for _, c := range []Command{
		{},
		{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(9, 90)}}, // fenced
		{Claim: &Claim{Epoch: 1}}, // fenced
		{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{}},
	} {
		b, _ := c.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fixture(t)
		entries := bytes.Split(data, []byte("\n"))
		for _, entry := range entries[:min(len(entries), 64)] {
			index := s.applied + 1
			claim := s.Claimed()
			before := testkit.Snap(t, s)
			err := answer(t, entry, s.Apply(index, entry))
			if s.applied != index {
				t.Fatalf("entry %q: applied %d, want %d", entry, s.applied, index)
			}
			after := testkit.Snap(t, s)
			var c Command
			decodeErr := json.Unmarshal(entry, &c)
			switch {
			case decodeErr != nil && err == nil:
				t.Fatalf("entry %q does not decode (%v) but was applied", entry, decodeErr)
			case decodeErr == nil && (c.Claim != nil && c.Claim.Epoch < claim || c.Claim == nil && c.Epoch < claim) && !errors.Is(err, ErrFenced):
				t.Fatalf("entry %q under an epoch before the claim of %d answered %v, want ErrFenced", entry, claim, err)
			}
			if err != nil {
				unchanged := testkit.Restored(t, New, before)
				unchanged.applied = index
				if want := testkit.Snap(t, unchanged); !bytes.Equal(after, want) {
					t.Fatalf("refused entry %q (%v) changed the state:\n%s\nwant\n%s", entry, err, after, want)
				}
			}
			// A replica restored from the snapshot before decides alike.
			twin := testkit.Restored(t, New, before)
			if err2 := answer(t, entry, twin.Apply(index, entry)); !sameAnswer(err, err2) {
				t.Fatalf("entry %q answered %v here, %v on a restored replica", entry, err, err2)
			}
			if got := testkit.Snap(t, twin); !bytes.Equal(got, after) {
				t.Fatalf("entry %q on a restored replica:\n%s\nhere:\n%s", entry, got, after)
			}
			if decodeErr == nil {
				again, encErr := c.Encode()
				if encErr != nil {
					t.Fatalf("entry %q decoded to %+v, which does not encode: %v", entry, c, encErr)
				}
				twin := testkit.Restored(t, New, before)
				if err3 := answer(t, again, twin.Apply(index, again)); !sameAnswer(err, err3) {
					t.Fatalf("entry %q answered %v, encoded again as %s %v", entry, err, again, err3)
				}
				if got := testkit.Snap(t, twin); !bytes.Equal(got, after) {
					t.Fatalf("entry %q encoded again as %s:\n%s\nfirst:\n%s", entry, again, got, after)
				}
			}
			if got := testkit.Snap(t, testkit.Restored(t, New, after)); !bytes.Equal(got, after) {
				t.Fatalf("after entry %q the snapshot does not round-trip:\n%s\n%s", entry, after, got)
			}
		}
	})
}

// FuzzRestore restores arbitrary bytes as a snapshot over the fixture
// shard, as a replica does with a snapshot from its leader or its disk. A
// snapshot that does not restore leaves the shard as it was; one that
// restores encodes again to a snapshot that restores to the same, and the
// shard then serves the coordinator's reads and applies every kind of
// command without a panic.
func FuzzRestore(f *testing.F) {
	s := fixture(f)
	testkit.AddDamaged(f, testkit.Snap(f, s))
	for _, c := range seedCommands() {
		b, _ := c.Encode()
		s.Apply(s.applied+1, b)
		testkit.AddDamaged(f, testkit.Snap(f, s))
	}
	testkit.AddDamaged(f, testkit.Snap(f, New()))
	f.Add([]byte("null"))
	f.Add([]byte(`{"groups":null,"deleted":null}`))
	f.Add([]byte(`{"groups":{"g":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fixture(t)
		before := testkit.Snap(t, s)
		if err := s.Restore(data); err != nil {
			if got := testkit.Snap(t, s); !bytes.Equal(got, before) {
				t.Fatalf("failed restore (%v) changed the shard:\n%s\nwant\n%s", err, got, before)
			}
			return
		}
		after := testkit.Snap(t, s)
		if got := testkit.Snap(t, testkit.Restored(t, New, after)); !bytes.Equal(got, after) {
			t.Fatalf("restored shard does not round-trip:\n%s\n%s", after, got)
		}
		s.Groups()
		s.ClassicMembers()
		for _, c := range seedCommands() {
			b, _ := c.Encode()
			answer(t, b, s.Apply(s.applied+1, b))
		}
	})
}
