package groupstore

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"pgregory.net/rapid"
)

var tp0 = delivery.TP{Topic: "orders", Partition: 0}

func write(seq uint64, committed int64, acked ...delivery.Range) offsetstore.Write {
	return offsetstore.Write{Group: "g", TP: tp0, Offset: offsetstore.Offset{Seq: seq, Committed: committed, Acked: acked, Born: 7}}
}

// apply encodes c and applies it at the next index, as the Raft host
// would, and returns the state machine's answer.
func apply(t *testing.T, s *State, c Command) error {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	next := s.applied + 1
	s.mu.Unlock()
	res := s.Apply(next, b)
	if res == nil {
		return nil
	}
	return res.(error)
}

func committed(t *testing.T, s *State, group string) (offsetstore.Offset, bool) {
	t.Helper()
	stored, _ := s.Groups()
	o, ok := stored[group][tp0]
	return o, ok
}

// A claim fences every write made under an older epoch, on every replica
// alike (the refusal is the state machine's), and an older claim is
// refused too; writes of the claiming epoch apply.
func TestClaimFencesOlderEpochs(t *testing.T) {
	s := New()
	if err := apply(t, s, Command{Claim: &Claim{Epoch: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, s, Command{Group: "g", Epoch: 3, Offsets: []offsetstore.Write{write(1, 10)}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, s, Command{Claim: &Claim{Epoch: 5}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Command{
		{Group: "g", Epoch: 3, Offsets: []offsetstore.Write{write(2, 20)}},
		{Group: "g", Epoch: 3, Settings: &groupstate.Saved{Assignor: "range"}},
		{Group: "g", Epoch: 4, Delete: new(uint64(9))},
		{Claim: &Claim{Epoch: 4}},
	} {
		if err := apply(t, s, c); !errors.Is(err, ErrFenced) {
			t.Fatalf("%+v after the claim of epoch 5: %v, want ErrFenced", c, err)
		}
	}
	if o, _ := committed(t, s, "g"); o.Committed != 10 || s.Claimed() != 5 {
		t.Fatalf("committed %d, claim %d; want 10 and 5", o.Committed, s.Claimed())
	}
	if err := apply(t, s, Command{Group: "g", Epoch: 5, Offsets: []offsetstore.Write{write(1, 30)}}); err != nil {
		t.Fatal(err)
	}
	if o, _ := committed(t, s, "g"); o.Committed != 30 {
		t.Fatalf("epoch 5's write (seq 1, below epoch 3's seq) not applied: %+v", o)
	}
}

// Writes of one partition are ordered by (epoch, seq), not by the order
// they commit in: racing writers of one coordinator cannot move a
// partition back.
func TestWritesOrderedByStamp(t *testing.T) {
	s := New()
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(5, 50, delivery.Range{From: 52, To: 53})}}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(4, 40)}}))
	o, ok := committed(t, s, "g")
	if !ok || o.Committed != 50 || !reflect.DeepEqual(o.Acked, []delivery.Range{{From: 52, To: 53}}) || o.Born != 7 {
		t.Fatalf("after seq 5 then 4: %+v", o)
	}
	// A partition's deletion keeps its stamp: an older write stays out.
	del := write(6, 0)
	del.Delete = true
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{del}}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(5, 55)}}))
	if o, ok := committed(t, s, "g"); ok {
		t.Fatalf("deleted partition came back: %+v", o)
	}
	stored, _ := s.Groups()
	if parts, ok := stored["g"]; !ok || len(parts) != 0 {
		t.Fatalf("a group whose partitions were all deleted: %v, %v; want an empty map", parts, ok)
	}
}

// A group's deletion forgets its settings and what was written before it;
// a write taken before it that commits after it is dropped, one taken
// after it stays, and a group of the same name starts afresh.
func TestDeleteGroup(t *testing.T) {
	s := New()
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Settings: &groupstate.Saved{Assignor: "range"}}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(1, 10)}}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Delete: new(uint64(3))}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(2, 20)}}))
	stored, saved := s.Groups()
	if len(stored) != 0 || len(saved) != 0 {
		t.Fatalf("after the deletion: %v %v", stored, saved)
	}
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(4, 40)}}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 1, Settings: &groupstate.Saved{Assignor: "sticky"}}))
	stored, saved = s.Groups()
	if stored["g"][tp0].Committed != 40 || saved["g"].Assignor != "sticky" {
		t.Fatalf("recreated group: %v %v", stored, saved)
	}
	// A later epoch's write outranks the deletion whatever its seq.
	must(t, apply(t, s, Command{Group: "h", Epoch: 1, Delete: new(uint64(100))}))
	must(t, apply(t, s, Command{Group: "h", Epoch: 2, Offsets: []offsetstore.Write{{Group: "h", TP: tp0, Offset: offsetstore.Offset{Seq: 1, Committed: 5}}}}))
	if stored, _ := s.Groups(); stored["h"][tp0].Committed != 5 {
		t.Fatalf("epoch 2's write after epoch 1's deletion: %v", stored["h"])
	}
}

// A snapshot restores the same state (groups, settings, tombstones, the
// claim) into a fresh replica, which then applies later entries as the
// original does; nil restores the empty state.
func TestSnapshotRestore(t *testing.T) {
	s := New()
	must(t, apply(t, s, Command{Claim: &Claim{Epoch: 2}}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 2, Settings: &groupstate.Saved{Assignor: "range", Settings: groupstate.Settings{MaxRetries: 4}}}))
	kept := write(3, 30, delivery.Range{From: 32, To: 40})
	kept.Offset.Metadata = "app-state" // a Kafka commit's
	must(t, apply(t, s, Command{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{kept}}))
	del := offsetstore.Write{Group: "g", TP: delivery.TP{Topic: "gone", Partition: 1}, Offset: offsetstore.Offset{Seq: 4}, Delete: true}
	must(t, apply(t, s, Command{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{del}}))
	must(t, apply(t, s, Command{Group: "old", Epoch: 2, Delete: new(uint64(5))}))
	r := restoredCopy(t, s)
	s1, v1 := s.Groups()
	s2, v2 := r.Groups()
	if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(v1, v2) || r.Claimed() != 2 || !reflect.DeepEqual(r.deleted, s.deleted) {
		t.Fatalf("restored %v %v claim %d, want %v %v claim 2", s2, v2, r.Claimed(), s1, v1)
	}
	if f, c := r.Generations(); f != 0 || c != GenerationBlock {
		t.Fatalf("restored generations %d..%d, want 0..%d", f, c, GenerationBlock)
	}
	if got := s2["g"][tp0]; !reflect.DeepEqual(got, kept.Offset) {
		t.Fatalf("restored %+v, want %+v as written", got, kept.Offset)
	}
	// The deleted partition's tombstone survived: an older write stays out.
	old := del
	old.Delete, old.Offset.Seq = false, 1
	for _, st := range []*State{s, r} {
		must(t, apply(t, st, Command{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{old}}))
		must(t, apply(t, st, Command{Group: "old", Epoch: 2, Offsets: []offsetstore.Write{{Group: "old", TP: tp0, Offset: offsetstore.Offset{Seq: 2}}}}))
		if err := apply(t, st, Command{Group: "g", Epoch: 1, Offsets: []offsetstore.Write{write(9, 90)}}); !errors.Is(err, ErrFenced) {
			t.Fatalf("epoch 1 after the claim of 2: %v", err)
		}
	}
	s1, _ = s.Groups()
	s2, _ = r.Groups()
	if !reflect.DeepEqual(s1, s2) || len(s1["g"]) != 1 || len(s1["old"]) != 0 {
		t.Fatalf("after the same entries: %v, %v", s1, s2)
	}
	if err := r.Restore(nil); err != nil {
		t.Fatal(err)
	}
	if f, c := r.Generations(); f != 0 || c != 0 {
		t.Fatalf("Restore(nil): generations %d..%d", f, c)
	}
	if st, sv := r.Groups(); len(st) != 0 || len(sv) != 0 || r.Claimed() != 0 {
		t.Fatalf("Restore(nil): %v %v %d", st, sv, r.Claimed())
	}
}

// Each new claim starts its groups at the generation ceiling its
// predecessors reached (floor) and reserves a block past it; a raise of
// the ceiling, fenced like any write, only raises it; a claim tried again
// under its epoch moves nothing (its coordinator may have started on the
// first); the ceiling survives a snapshot.
func TestGenerations(t *testing.T) {
	const b = GenerationBlock
	raise := func(epoch uint64, upTo int64) Command {
		return Command{Group: "g", Epoch: epoch, Generations: new(upTo)}
	}
	s := New()
	for _, step := range []struct {
		cmd         Command
		err         error // errors.Is; errBad: any other error
		floor, ceil int64
	}{
		{Command{Claim: &Claim{Epoch: 2}}, nil, 0, b},
		{raise(2, b+500), nil, 0, b + 500},
		{raise(2, b+200), nil, 0, b + 500},                  // never lowered
		{Command{Claim: &Claim{Epoch: 2}}, nil, 0, b + 500}, // the same claim again
		{raise(1, 5*b), ErrFenced, 0, b + 500},
		{Command{Claim: &Claim{Epoch: 5}}, nil, b + 500, 2*b + 500},
		{raise(2, 5*b), ErrFenced, b + 500, 2*b + 500}, // the deposed coordinator's
		{raise(5, MaxGeneration+1), errBad, b + 500, 2*b + 500},
		{raise(5, MaxGeneration), nil, b + 500, MaxGeneration},
		{Command{Claim: &Claim{Epoch: 6}}, nil, MaxGeneration, MaxGeneration},
	} {
		err := apply(t, s, step.cmd)
		switch {
		case step.err == errBad && (err == nil || errors.Is(err, ErrFenced)),
			step.err != errBad && !errors.Is(err, step.err):
			t.Fatalf("%+v: %v, want %v", step.cmd, err, step.err)
		}
		if f, c := s.Generations(); f != step.floor || c != step.ceil {
			t.Fatalf("after %+v: generations %d..%d, want %d..%d", step.cmd, f, c, step.floor, step.ceil)
		}
		r := New()
		must(t, r.Restore(testkit.Snap(t, s)))
		if f, c := r.Generations(); f != step.floor || c != step.ceil {
			t.Fatalf("restored after %+v: generations %d..%d, want %d..%d", step.cmd, f, c, step.floor, step.ceil)
		}
	}
}

// errBad stands, in TestGenerations, for a refusal other than ErrFenced.
var errBad = errors.New("refused")

// A snapshot written before generations were kept (no floor, no ceiling:
// this one is the fixture's, as that version wrote it) restores its
// groups, with generations 0..0 until the next claim, which reserves the
// first block.
func TestRestoreSnapshotWithoutGenerations(t *testing.T) {
	old := []byte(`{"applied":6,"claim":2,"groups":{"g":{"settings":{"Assignor":"range","OffsetReset":"","Protocol":"","MaxRetries":4,"VisibilityTimeout":0,"MaxInFlight":0},"parts":[{"tp":{"Topic":"gone","Partition":1},"stamp":{"e":2,"s":4},"committed":0,"deleted":true},{"tp":{"Topic":"orders","Partition":0},"stamp":{"e":2,"s":3},"committed":30,"acked":[{"From":32,"To":40}],"born":7}],"classic":"eyJnZW5lcmF0aW9uIjozfQ=="}},"deleted":{"old":{"e":2,"s":5}}}`)
	s := New()
	must(t, s.Restore(old))
	want := fixture(t)
	s1, v1 := s.Groups()
	s2, v2 := want.Groups()
	if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(v1, v2) || !reflect.DeepEqual(s.ClassicMembers(), want.ClassicMembers()) || s.Claimed() != 2 {
		t.Fatalf("restored %v %v claim %d, want %v %v claim 2", s1, v1, s.Claimed(), s2, v2)
	}
	if f, c := s.Generations(); f != 0 || c != 0 {
		t.Fatalf("generations %d..%d, want 0..0", f, c)
	}
	must(t, apply(t, s, Command{Claim: &Claim{Epoch: 3}}))
	if f, c := s.Generations(); f != 0 || c != GenerationBlock {
		t.Fatalf("after the next claim: generations %d..%d, want 0..%d", f, c, GenerationBlock)
	}
}

// A group's classic membership is replaced whole, fenced like any write,
// kept by snapshots, and forgotten when emptied (a group with nothing
// else stored goes with it) or when the group is deleted.
func TestClassicMembers(t *testing.T) {
	s := New()
	classic := func(group string, epoch uint64, members string) Command {
		return Command{Group: group, Epoch: epoch, Classic: &Classic{Members: []byte(members)}}
	}
	must(t, apply(t, s, Command{Claim: &Claim{Epoch: 2}}))
	must(t, apply(t, s, classic("g", 2, `{"generation":3}`)))
	must(t, apply(t, s, classic("g", 2, `{"generation":4}`)))
	must(t, apply(t, s, classic("h", 2, `{"generation":1}`)))
	must(t, apply(t, s, Command{Group: "h", Epoch: 2, Offsets: []offsetstore.Write{write(1, 10)}}))
	if err := apply(t, s, classic("g", 1, `{"generation":9}`)); !errors.Is(err, ErrFenced) {
		t.Fatalf("an older epoch's membership: %v, want ErrFenced", err)
	}
	want := map[string][]byte{"g": []byte(`{"generation":4}`), "h": []byte(`{"generation":1}`)}
	if got := s.ClassicMembers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("classic members %q, want %q", got, want)
	}
	r := restoredCopy(t, s)
	if got := r.ClassicMembers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored from a snapshot: %q, want %q", got, want)
	}
	for _, st := range []*State{s, r} {
		must(t, apply(t, st, classic("g", 2, "")))                                   // the group emptied
		must(t, apply(t, st, Command{Group: "h", Epoch: 2, Delete: new(uint64(5))})) // deleted
		if got := st.ClassicMembers(); len(got) != 0 || len(st.groups) != 0 {
			t.Fatalf("after emptying g and deleting h: members %q, groups %v", got, st.groups)
		}
	}
}

// A malformed or empty entry changes nothing and is refused.
func TestBadEntries(t *testing.T) {
	s := New()
	if res := s.Apply(1, []byte("{")); res == nil {
		t.Fatal("malformed entry accepted")
	}
	if err := apply(t, s, Command{Group: "g"}); err == nil {
		t.Fatal("empty command accepted")
	}
	if st, sv := s.Groups(); len(st) != 0 || len(sv) != 0 {
		t.Fatalf("%v %v", st, sv)
	}
	// An empty list is no list, as Encode writes it: the entry is what
	// is beside it (a fuzzed entry found it ignored).
	if res := s.Apply(3, []byte(`{"group":"g","offsets":[]}`)); res == nil {
		t.Fatal(`"offsets":[] alone accepted`)
	}
	if res := s.Apply(4, []byte(`{"group":"g","offsets":[],"settings":{"Assignor":"range"}}`)); res != nil {
		t.Fatal(res)
	}
	if _, sv := s.Groups(); sv["g"].Assignor != "range" {
		t.Fatalf(`settings beside "offsets":[]: %v`, sv)
	}
}

// ShardOf spreads groups over every shard and never changes (it is part
// of the on-disk format).
func TestShardOf(t *testing.T) {
	seen := map[int]int{}
	for i := range 1000 {
		seen[ShardOf("group-"+string(rune('a'+i%26))+string(rune('0'+i/26%10))+string(rune('A'+i/260)))]++
	}
	if len(seen) != Shards {
		t.Fatalf("1000 groups over %d shards: %v", Shards, seen)
	}
	for g, want := range map[string]int{"orders": 4, "billing-consumers": 0, "": 5} {
		if got := ShardOf(g); got != want {
			t.Fatalf("ShardOf(%q) = %d, want %d", g, got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Coordinators handing out a group's generations through the shard, as
// the coordinator does, never hand out one that a coordinator of an
// earlier claim handed out, or could still: each starts at the floor of
// its claim, hands out up to its ceiling, and raises the ceiling (a
// Generations write under its epoch) before it goes past it. Claims come
// in order with retries and stale ones among them; a deposed coordinator
// goes on handing out (it does not know), its raises refused; replicas
// restored from a snapshot at any point decide alike.
func TestGenerationsNeverReused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := New()
		apply := func(c Command) error {
			b, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if res := s.Apply(s.applied+1, b); res != nil {
				return res.(error)
			}
			return nil
		}
		coords := map[uint64]*genCoord{} // by epoch: every coordinator that claimed
		var epoch uint64                 // the newest claim's
		handed := map[int64]uint64{}     // generation → the epoch that handed it out
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0: // a claim: a new epoch, the same again, or a stale one
				e := epoch + 1
				switch rapid.IntRange(0, 3).Draw(t, "claim") {
				case 0:
					e = epoch
				case 1:
					e = rapid.Uint64Range(0, epoch).Draw(t, "stale")
				}
				err := apply(Command{Claim: &Claim{Epoch: e}})
				if (e < epoch) != errors.Is(err, ErrFenced) {
					t.Fatalf("claim %d after %d: %v", e, epoch, err)
				}
				if e > epoch || coords[e] == nil && err == nil {
					floor, ceiling := s.Generations()
					coords[e] = &genCoord{last: floor, ceiling: ceiling}
					epoch = e
				}
			case 1, 2: // some coordinator, the newest or a deposed one, hands out the next
				if len(coords) == 0 {
					continue
				}
				e := rapid.SampledFrom(slices.Sorted(maps.Keys(coords))).Draw(t, "coordinator")
				c := coords[e]
				gen := c.last + 1
				if gen > c.ceiling {
					upTo := gen + rapid.Int64Range(0, 3*GenerationBlock).Draw(t, "block")
					if err := apply(Command{Group: "g", Epoch: e, Generations: &upTo}); err != nil {
						if e == epoch || !errors.Is(err, ErrFenced) {
							t.Fatalf("raise to %d under epoch %d (newest %d): %v", upTo, e, epoch, err)
						}
						continue // deposed: it answers the error, not the generation
					}
					c.ceiling = upTo
				}
				if by, ok := handed[gen]; ok {
					t.Fatalf("generation %d handed out under epoch %d, and before under %d", gen, e, by)
				}
				handed[gen], c.last = e, gen
			case 3: // a replica restored from a snapshot takes over
				s = restoredCopy(t, s)
			}
		}
	})
}

// genCoord is a coordinator of TestGenerationsNeverReused: the last
// generation it handed out and the ceiling it knows.
type genCoord struct{ last, ceiling int64 }

// The offsets retention's clocks: a group's mark applies only to a group
// stored, the latest taken wins (whatever it says: -1 is "had members"),
// is forgotten by its deletion and not brought back by a mark taken
// before it; the coordinator's alive only rises, is fenced like any
// write, and both survive a snapshot.
func TestClocks(t *testing.T) {
	s := New()
	must(t, apply(t, s, Command{Claim: &Claim{Epoch: 2}}))
	must(t, apply(t, s, Command{Group: "g", Epoch: 2, Offsets: []offsetstore.Write{write(1, 10)}}))
	must(t, apply(t, s, Command{Group: "d", Epoch: 2, Offsets: []offsetstore.Write{{Group: "d", TP: tp0, Offset: offsetstore.Offset{Seq: 2}}}}))
	for _, c := range []Command{
		{Group: "g", Epoch: 2, Active: &Active{Seq: 3, At: 300}},
		{Group: "g", Epoch: 2, Active: &Active{Seq: 2, At: 400}}, // taken before: stays 300
		{Group: "m", Epoch: 2, Offsets: []offsetstore.Write{{Group: "m", TP: tp0, Offset: offsetstore.Offset{Seq: 1}}}},
		{Group: "m", Epoch: 2, Active: &Active{Seq: 3, At: 300}},
		{Group: "m", Epoch: 2, Active: &Active{Seq: 4, At: -1}}, // members since
		{Group: "none", Epoch: 2, Active: &Active{Seq: 5, At: 500}},
		{Group: "d", Epoch: 2, Active: &Active{Seq: 6, At: 600}},
		{Group: "d", Epoch: 2, Delete: new(uint64(8))},
		{Group: "d", Epoch: 2, Active: &Active{Seq: 7, At: 700}}, // taken before the deletion
		{Group: "g", Epoch: 2, Alive: new(int64(1000))},
		{Group: "g", Epoch: 2, Alive: new(int64(900))},
	} {
		must(t, apply(t, s, c))
	}
	if err := apply(t, s, Command{Group: "g", Epoch: 1, Alive: new(int64(2000))}); !errors.Is(err, ErrFenced) {
		t.Fatalf("alive of a deposed coordinator: %v, want ErrFenced", err)
	}
	r := restoredCopy(t, s)
	for _, st := range []*State{s, r} {
		alive, active := st.Clocks()
		if want := map[string]int64{"g": 300, "m": -1}; alive != 1000 || !maps.Equal(active, want) {
			t.Fatalf("clocks: alive %d, %v; want 1000, %v", alive, active, want)
		}
	}
}

// A new claim forgets the deleted groups' tombstones: every write they
// kept out is of an older epoch, fenced by the claim anyway; kept, every
// group ever deleted stayed in the shard's memory and snapshots.
func TestClaimForgetsTombstones(t *testing.T) {
	s := New()
	must(t, apply(t, s, Command{Claim: &Claim{Epoch: 1}}))
	for i := range 50 {
		g := fmt.Sprintf("run-%d", i)
		must(t, apply(t, s, Command{Group: g, Epoch: 1, Offsets: []offsetstore.Write{{Group: g, TP: tp0, Offset: offsetstore.Offset{Seq: 1, Committed: 1}}}}))
		must(t, apply(t, s, Command{Group: g, Epoch: 1, Delete: new(uint64(2))}))
	}
	must(t, apply(t, s, Command{Claim: &Claim{Epoch: 2}}))
	r := restoredCopy(t, s)
	for _, st := range []*State{s, r} {
		if len(st.deleted) != 0 {
			t.Fatalf("%d tombstones after a new claim, want none", len(st.deleted))
		}
		// A write taken before a deletion, late, stays out: fenced.
		late := Command{Group: "run-0", Epoch: 1, Offsets: []offsetstore.Write{{Group: "run-0", TP: tp0, Offset: offsetstore.Offset{Seq: 1, Committed: 9}}}}
		if err := apply(t, st, late); !errors.Is(err, ErrFenced) {
			t.Fatalf("a late write of epoch 1 after the claim of 2: %v, want ErrFenced", err)
		}
		if stored, _ := st.Groups(); len(stored) != 0 {
			t.Fatalf("groups after the claim: %v", stored)
		}
	}
}

// restoredCopy is a state restored from s's snapshot, as a replica that
// takes over from it.
func restoredCopy(t interface {
	Helper()
	Fatal(...any)
}, s *State) *State {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	return r
}
