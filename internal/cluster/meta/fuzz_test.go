package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// ordersID is the fixture's topic.
var ordersID = TopicID{0x0d, 0x0e}

// seedCommands are one command of every kind, as the node proposes them,
// each one that the fixture takes.
func seedCommands() []Command {
	return []Command{
		{RegisterNode: &RegisterNode{ID: 4, Addr: "127.0.0.1:9004", HTTPAddr: "127.0.0.1:8004", KafkaAddr: "127.0.0.1:9094", Boot: 44}},
		{CreateTopic: &CreateTopic{Name: "events", ID: TopicID{7}, Partitions: 3, ReplicationFactor: 2, Settings: json.RawMessage(`{"retention_ms":60000}`)}},
		{AddPartitions: &AddPartitions{Name: "orders", ID: ordersID, Count: 5}},
		{AlterTopic: &AlterTopic{Name: "orders", ID: ordersID, Settings: json.RawMessage(`{"segment_bytes":1048576,"fsync":"never"}`)}},
		{ReportLeaders: &ReportLeaders{Node: 2, Reports: []LeaderReport{{Group: 1, Term: 3, Seq: 1, ISR: []uint64{2, 3}}, {Group: 2, Term: 1, Seq: 4, ISR: []uint64{2}}}}},
		{Rejoin: &Rejoin{ID: 3, Boot: 33}},
		{ReserveProducerIDs: &ReserveProducerIDs{Node: 1, Count: 1000}},
		{ReportLeaders: &ReportLeaders{Node: 1, Reports: []LeaderReport{{Group: PartitionGroups + 2, Term: 2, Seq: 1, ISR: []uint64{1, 2}}}}},
		{SetReplays: &SetReplays{Name: "orders", ID: ordersID, Replays: json.RawMessage(`{"born":1,"replayed":{"0":[[0,4]]}}`)}},
		{DeleteTopic: &DeleteTopic{Name: "orders", ID: ordersID}},
	}
}

// fixtureLog is the log of the fixture's state: three nodes (one
// rejoined), a topic with settings and reported leaders, a block of
// producer IDs.
func fixtureLog() [][]byte {
	cmds := []Command{
		{RegisterNode: &RegisterNode{ID: 1, Addr: "127.0.0.1:9001", HTTPAddr: "127.0.0.1:8001", Boot: 11}},
		{RegisterNode: &RegisterNode{ID: 2, Addr: "127.0.0.1:9002", Boot: 22}},
		{RegisterNode: &RegisterNode{ID: 3, Addr: "127.0.0.1:9003", KafkaAddr: "127.0.0.1:9093", Boot: 31}},
		{Rejoin: &Rejoin{ID: 2, Boot: 23}},
		{CreateTopic: &CreateTopic{Name: "orders", ID: ordersID, Partitions: 3, ReplicationFactor: 3, Settings: json.RawMessage(`{"retention_ms":1000}`)}},
		{ReportLeaders: &ReportLeaders{Node: 1, Reports: []LeaderReport{{Group: 1, Term: 2, Seq: 1, ISR: []uint64{1, 2, 3}}}}},
		{ReserveProducerIDs: &ReserveProducerIDs{Node: 3, Count: 10}},
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

// fixture is a store that applied fixtureLog, each command taken.
func fixture(tb testing.TB) *Store {
	tb.Helper()
	s := New()
	for i, b := range fixtureLog() {
		if r := s.Apply(uint64(i+1), b).(Result); r.Err != nil {
			tb.Fatalf("fixture entry %d: %v", i+1, r.Err)
		}
	}
	return s
}

// sameResult compares Results by value, errors by message and settings
// by their encoding (a snapshot encodes them compacted).
var sameResult = cmp.Options{
	cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) && (a == nil || a.Error() == b.Error()) }),
	cmp.Comparer(func(a, b json.RawMessage) bool {
		x, _ := json.Marshal(a)
		y, _ := json.Marshal(b)
		return bytes.Equal(x, y)
	}),
}

// FuzzApply applies arbitrary entries, newline-separated, to the fixture,
// as committed entries of the metadata group (proposed by any node): no
// entry may panic. Each answers a Result; one that does not decode is
// ErrInvalid, and a refused one changes nothing but the applied index.
// The state after an entry is a function of the snapshot before it and
// the entry (every replica, restored from any snapshot, decides alike),
// the command an entry decodes to, encoded again, has the same effect,
// and the state after it survives its snapshot.
func FuzzApply(f *testing.F) {
	cmds := seedCommands()
	var all [][]byte
	for _, c := range cmds {
		b, err := c.Encode()
		if err != nil {
			f.Fatal(err)
		}
		testkit.AddDamaged(f, b)
		all = append(all, b)
	}
	f.Add(bytes.Join(all, []byte("\n")))
	f.Add(bytes.Join(fixtureLog(), []byte("\n")))
	empty, _ := Command{}.Encode()
	f.Add(empty)
	// Null settings, then an alter of them (it panicked).
	f.Add([]byte(`{"create_topic":{"name":"n","id":[1],"partitions":1,"replication_factor":1,"settings":null}}` + "\n" +
		`{"alter_topic":{"name":"n","settings":{"fsync":"never"}}}`))
	// Counts past their bounds, refused before anything is allocated.
	for _, c := range []Command{
		{CreateTopic: &CreateTopic{Name: "big", ID: TopicID{2}, Partitions: maxPartitions + 1, ReplicationFactor: 3}},
		{AddPartitions: &AddPartitions{Name: "orders", Count: maxPartitions + 1}},
		{ReserveProducerIDs: &ReserveProducerIDs{Node: 1, Count: maxProducerIDBlock + 1}},
	} {
		b, _ := c.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fixture(t)
		entries := bytes.Split(data, []byte("\n"))
		for _, entry := range entries[:min(len(entries), 64)] {
			index := s.Applied() + 1
			before := testkit.Snap(t, s)
			if len(before) > 64<<10 {
				// Thousands of partitions: each check below would
				// cost milliseconds; the entry that made them was
				// checked.
				return
			}
			r, ok := s.Apply(index, entry).(Result)
			if !ok {
				t.Fatalf("entry %q: Apply answered no Result", entry)
			}
			if s.Applied() != index {
				t.Fatalf("entry %q: applied %d, want %d", entry, s.Applied(), index)
			}
			after := testkit.Snap(t, s)
			var c Command
			decodeErr := json.Unmarshal(entry, &c)
			if decodeErr != nil && !errors.Is(r.Err, ErrInvalid) {
				t.Fatalf("entry %q does not decode (%v) but answered %v", entry, decodeErr, r.Err)
			}
			if r.Err != nil {
				unchanged := testkit.Restored(t, New, before)
				unchanged.d.Applied = index
				if want := testkit.Snap(t, unchanged); !bytes.Equal(after, want) {
					t.Fatalf("refused entry %q (%v) changed the state:\n%s\nwant\n%s", entry, r.Err, after, want)
				}
			}
			// A replica restored from the snapshot before decides alike.
			twin := testkit.Restored(t, New, before)
			r2 := twin.Apply(index, entry).(Result)
			if diff := cmp.Diff(r, r2, sameResult); diff != "" {
				t.Fatalf("entry %q on a restored replica answered differently (-here +there):\n%s", entry, diff)
			}
			if got := testkit.Snap(t, twin); !bytes.Equal(got, after) {
				t.Fatalf("entry %q on a restored replica:\n%s\nhere:\n%s", entry, got, after)
			}
			if decodeErr == nil {
				again, err := c.Encode()
				if err != nil {
					t.Fatalf("entry %q decoded to %+v, which does not encode: %v", entry, c, err)
				}
				twin := testkit.Restored(t, New, before)
				r3 := twin.Apply(index, again).(Result)
				if diff := cmp.Diff(r, r3, sameResult); diff != "" {
					t.Fatalf("entry %q encoded again as %s answered differently (-first +again):\n%s", entry, again, diff)
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

// FuzzRestore restores arbitrary bytes as a snapshot over the fixture, as
// a node does with a snapshot from its leader or its disk. A snapshot
// that does not restore leaves the state as it was; one that restores
// encodes again to a snapshot that restores to the same, and the store
// then serves reads and applies every kind of command without a panic.
func FuzzRestore(f *testing.F) {
	s := fixture(f)
	b := testkit.Snap(f, s)
	testkit.AddDamaged(f, b)
	for _, c := range seedCommands() {
		e, _ := c.Encode()
		s.Apply(s.Applied()+1, e)
		testkit.AddDamaged(f, testkit.Snap(f, s))
	}
	testkit.AddDamaged(f, testkit.Snap(f, New()))
	f.Add([]byte("null"))
	// The fixture's snapshot with a value no commands make (which
	// panicked the readers or the next placement), and one of the wrong
	// type late in it (which restored half a state).
	for _, r := range [][2]string{
		{`"nodes":{`, `"nodes":null,"x":{`},
		{`"1":{"id":1,`, `"1":null,"x":{"id":1,`},
		{`"orders":{`, `"orders":null,"x":{`},
		{`"2":{"gen":1`, `"2":null,"x":{"gen":1`},
		{`"next_slot":3`, `"next_slot":-1`},
		{`"replication_factor":3`, `"replication_factor":-1`},
		{`"next_producer_id":10`, `"next_producer_id":"10"`},
		{`"next_group":4`, `"next_group":3`},
		{`"next_group":4`, `"next_group":0`},
		{`"next_producer_id":10`, `"next_producer_id":-1`},
	} {
		v := bytes.Replace(b, []byte(r[0]), []byte(r[1]), 1)
		if bytes.Equal(v, b) {
			f.Fatalf("%s is not in the fixture's snapshot %s", r[0], b)
		}
		f.Add(v)
	}
	// Counters near their ends, which the next commands wrapped (or, for
	// the slot, drove negative and panicked on).
	for _, r := range [][2]string{
		{`"next_group":4`, `"next_group":18446744073709551614`},
		{`"next_slot":3`, `"next_slot":9223372036854775806`},
		{`"next_producer_id":10`, `"next_producer_id":9223372036854775000`},
		{`"boot":11,"incarnation":1`, `"boot":11,"incarnation":18446744073709551615`},
		{`"gen":1,"boot":23`, `"gen":18446744073709551615,"boot":23`},
	} {
		f.Add(bytes.Replace(b, []byte(r[0]), []byte(r[1]), 1))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fixture(t)
		before := testkit.Snap(t, s)
		if err := s.Restore(data); err != nil {
			if got := testkit.Snap(t, s); !bytes.Equal(got, before) {
				t.Fatalf("failed restore (%v) changed the state:\n%s\nwant\n%s", err, got, before)
			}
			return
		}
		after := testkit.Snap(t, s)
		if got := testkit.Snap(t, testkit.Restored(t, New, after)); !bytes.Equal(got, after) {
			t.Fatalf("restored state does not round-trip:\n%s\n%s", after, got)
		}
		s.Nodes()
		for _, tp := range s.Topics() {
			s.Topic(tp.Name)
		}
		for _, n := range s.Nodes() {
			s.Generation(n.ID)
		}
		// Every command, and a restart of nodes 1 and 2, keeps the state
		// one commands make, hands out no ID in use, and no incarnation
		// or generation of 0.
		cmds := append(seedCommands(), Command{RegisterNode: &RegisterNode{ID: 1, Addr: "127.0.0.1:9001", Boot: 12}},
			Command{Rejoin: &Rejoin{ID: 2, Boot: 24}})
		for _, c := range cmds {
			e, _ := c.Encode()
			r := s.Apply(s.Applied()+1, e).(Result)
			if err := s.d.check(); err != nil {
				t.Fatalf("after %s (%v): %v", e, r.Err, err)
			}
			switch {
			case r.Node != nil && r.Node.Incarnation == 0,
				r.ProducerIDs != nil && r.ProducerIDs.First < 0,
				c.Rejoin != nil && r.Err == nil && s.Generation(c.Rejoin.ID).Gen == 0:
				t.Fatalf("%s answered %+v", e, r)
			}
		}
	})
}
