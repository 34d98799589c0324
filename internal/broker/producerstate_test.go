package broker

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// TestProducersAfterStartAt: a replica whose log was emptied at a
// snapshot's end (StartAt: its retention deleted past it) and given the
// snapshot's producer state decides the entries after it as a replica
// that never restarted: a retry of a batch written before the snapshot
// is a duplicate, a gap and an old epoch are refused, all voided alike
// (their offsets taken, nothing read). Before, it knew no producer and
// wrote all three, shifting its offsets.
func TestProducersAfterStartAt(t *testing.T) {
	var logs [2]*ReplicaLog // 0 runs on; 1 restarts past retention
	for i := range logs {
		_, logs[i] = replicaLogOf(t)
	}
	apply := func(e []byte) (bases [2][]int64, errs [2]error) {
		for i, rl := range logs {
			bases[i], errs[i] = rl.ApplyEntry(e, -1)
		}
		return bases, errs
	}
	for _, f := range []Frame{idemFrame(0, 7, 0, 0, 2), idemFrame(0, 7, 0, 2, 3), idemFrame(0, 9, 1, 0, 1)} {
		if _, errs := apply(f.Batch); errors.Join(errs[:]...) != nil {
			t.Fatal(errs)
		}
	}
	state, err := logs[1].Producers()
	if err != nil {
		t.Fatal(err)
	}
	next := logs[1].NextOffset()
	if err := logs[1].StartAt(next); err != nil {
		t.Fatal(err)
	}
	if err := logs[1].SetProducers(state); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		batch   Frame
		base    int64 // want: the batch's first offset
		wantErr error // or this refusal
	}{
		{"retry of the last batch", idemFrame(0, 7, 0, 2, 3), 2, nil},
		{"retry of the first batch", idemFrame(0, 7, 0, 0, 2), 0, nil},
		{"gap", idemFrame(0, 7, 0, 9, 1), 0, api.ErrOutOfOrderSequence},
		{"old epoch", idemFrame(0, 9, 0, 1, 1), 0, api.ErrInvalidProducerEpoch},
		{"next batch", idemFrame(0, 7, 0, 5, 1), next + 3 + 2 + 1 + 1, nil}, // after the voided ones
	} {
		t.Run(tc.name, func(t *testing.T) {
			bases, errs := apply(tc.batch.Batch)
			for i := range logs {
				switch {
				case tc.wantErr != nil && !errors.Is(errs[i], tc.wantErr):
					t.Errorf("replica %d: %v %v, want %v", i, bases[i], errs[i], tc.wantErr)
				case tc.wantErr == nil && (errs[i] != nil || len(bases[i]) != 1 || bases[i][0] != tc.base):
					t.Errorf("replica %d: %v %v, want base %d", i, bases[i], errs[i], tc.base)
				}
			}
			if n0, n1 := logs[0].NextOffset(), logs[1].NextOffset(); n0 != n1 {
				t.Errorf("next offsets %d and %d: the replicas diverged", n0, n1)
			}
		})
	}
}

// TestProducerStateRoundTrip: a state encoded and installed answers every
// check as the original does, within the horizon it was encoded at, and
// encodes to the same bytes; producers no check looks at are left out.
func TestProducerStateRoundTrip(t *testing.T) {
	const hz = 100
	type sent struct {
		epoch       int16
		first, last int32
		base        int64
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		ids  map[int64][]sent
		want int // producers kept
	}{
		{"none", nil, 0},
		{"one batch", map[int64][]sent{1: {{0, 0, 4, 100}}}, 1},
		{"several producers and epochs", map[int64][]sent{
			1: {{0, 0, 4, 100}, {0, 5, 5, 110}},
			2: {{3, 0, 0, 101}, {4, 0, 1, 102}, {4, 2, 2, 120}},
			3: {{0, 0, 0, 90}, {0, 1, 1, 130}}, // one batch below the horizon
		}, 3},
		{"wrapped ring", map[int64][]sent{
			5: {{2, 0, 0, 100}, {2, 1, 1, 101}, {2, 2, 2, 102}, {2, 3, 3, 103}, {2, 4, 4, 104}, {2, 5, 5, 105}, {2, 6, 9, 106}},
		}, 1},
		{"sequence wraps", map[int64][]sent{6: {{0, 2147483640, 2147483647, 100}, {0, 0, 3, 108}}}, 1},
		{"forgotten", map[int64][]sent{
			7: {{0, 0, 0, 10}, {0, 1, 1, 99}}, // last batch below the horizon
			8: nil,                            // looked at by a leader, never written
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var orig partProducers
			for id, batches := range tc.ids {
				s := orig.state(id)
				for _, b := range batches {
					s.appended(b.epoch, b.first, b.last, b.base, now)
				}
			}
			data, err := orig.encode(hz)
			if err != nil {
				t.Fatal(err)
			}
			var got partProducers
			if err := got.install(data); err != nil {
				t.Fatal(err)
			}
			if len(got.ids) != tc.want {
				t.Errorf("%d producers installed, want %d: %s", len(got.ids), tc.want, data)
			}
			if again, _ := got.encode(hz); !bytes.Equal(again, data) {
				t.Errorf("encoded again:\n%s\nwant\n%s", again, data)
			}
			// Every batch sent, its neighbours, and the next, in every
			// epoch seen and the next.
			for id, batches := range tc.ids {
				for _, b := range append(batches, sent{}) {
					for _, epoch := range []int16{b.epoch - 1, b.epoch, b.epoch + 1} {
						for _, d := range []int32{-1, 0, 1} {
							probe := fmt.Sprintf("producer %d epoch %d batch %d-%d", id, epoch, b.first+d, b.last+d)
							a1, a2, a3 := orig.state(id).check(epoch, b.first+d, b.last+d, hz)
							g1, g2, g3 := got.state(id).check(epoch, b.first+d, b.last+d, hz)
							if a1 != g1 || a2 != g2 || (a3 == nil) != (g3 == nil) || a3 != nil && a3.Error() != g3.Error() {
								t.Errorf("%s: installed %v %d %v, original %v %d %v", probe, g1, g2, g3, a1, a2, a3)
							}
						}
					}
				}
			}
		})
	}
}

// TestProducerStateRefused: a state that does not decode installs nothing.
func TestProducerStateRefused(t *testing.T) {
	for _, data := range []string{`{`, `[{"id":1,"epoch":0,"next_seq":1,"batches":[]}]`,
		`[{"id":1,"batches":[[0,0,1],[1,1,2],[2,2,3],[3,3,4],[4,4,5],[5,5,6]]}]`,
		`[{"id":1,"batches":[[0,0,1]]},{"id":1,"batches":[[0,0,1]]}]`} {
		var pp partProducers
		pp.state(3).appended(0, 0, 0, 0, time.Now())
		if err := pp.install([]byte(data)); err == nil || len(pp.ids) != 1 || pp.loaded {
			t.Errorf("%s: %v, %d producers, loaded %v", data, err, len(pp.ids), pp.loaded)
		}
	}
}
