package replica

import (
	"encoding/json"
	"slices"
	"testing"
)

// A snapshot carries the log's producer state (Log.Producers), and a
// restore gives it to the log once the log ends at the snapshot's end,
// however it got there: cut back, emptied past retention (StartAt: the log
// then knows no producer, and wrote a retry the other replicas answered as
// a duplicate), or already there. A snapshot without one (taken before
// it was carried) leaves the log's own; one the log refuses fails the
// replica, its log cut back already.
func TestRestoreGivesTheProducerState(t *testing.T) {
	const state = `{"p":1}`
	for _, tc := range []struct {
		name      string
		start     int64  // the log's, holding batches of two up to 10
		snap      string // ending at 6 unless said
		wantSetAt []int64
		wantErr   bool
	}{
		{name: "cut back", snap: `{"index":3,"next":6,"node":1,"producers":` + state + `}`, wantSetAt: []int64{6}},
		{name: "past retention", start: 8, snap: `{"index":3,"next":6,"node":1,"producers":` + state + `}`, wantSetAt: []int64{6}},
		{name: "at the end", snap: `{"index":5,"next":10,"node":1,"producers":` + state + `}`, wantSetAt: []int64{10}},
		{name: "taken before it was carried", snap: `{"index":3,"next":6,"node":1}`},
		{name: "refused", snap: `{"index":3,"next":6,"node":1,"producers":"refused"}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := sourceLog(t, tc.start, 10)
			p := New(l, 1, []uint64{1, 2, 3}, nil)
			err := p.Restore([]byte(tc.snap))
			if (err != nil) != tc.wantErr || (p.failed != nil) != tc.wantErr {
				t.Fatalf("restore: %v, failed %v; want an error: %v", err, p.failed, tc.wantErr)
			}
			if !slices.Equal(l.setAt, tc.wantSetAt) || tc.wantSetAt != nil && string(l.producers) != state {
				t.Fatalf("producer state %s set at %v, want %s at %v", l.producers, l.setAt, state, tc.wantSetAt)
			}
		})
	}

	// Snapshot takes it from the log.
	l := sourceLog(t, 0, 4)
	l.producers = []byte(state)
	raw, err := New(l, 1, []uint64{1, 2, 3}, nil).Snapshot()
	var s snapshot
	if err != nil || json.Unmarshal(raw, &s) != nil || string(s.Producers) != state {
		t.Fatalf("snapshot %s %v, want producers %s", raw, err, state)
	}
}

// A replica catching up to a snapshot gives its log the snapshot's
// producer state once the fetched batches end at the snapshot's end, and
// before the entries applied meanwhile are appended: those are checked
// against it.
func TestCatchUpGivesTheProducerState(t *testing.T) {
	src := sourceLog(t, 0, 20)
	fetch, gate := gatedFetch(src)
	l := &memLog{}
	p := New(l, 3, []uint64{1, 2, 3}, fetch)
	if err := p.Restore([]byte(`{"index":9,"next":20,"node":1,"producers":[1]}`)); err != nil {
		t.Fatal(err)
	}
	if r := p.Apply(10, batch(2)).(Result); r.Err == nil {
		t.Fatalf("apply while catching up: %+v", r)
	}
	if l.setAt != nil {
		t.Fatalf("producer state set at %v before the catch-up ended", l.setAt)
	}
	close(gate)
	caughtUp(p)
	if p.failed != nil || !slices.Equal(l.setAt, []int64{20}) || string(l.producers) != "[1]" || l.next != 22 {
		t.Fatalf("caught up: failed %v, producer state %s set at %v, log at %d; want [1] at [20], log at 22", p.failed, l.producers, l.setAt, l.next)
	}
}
