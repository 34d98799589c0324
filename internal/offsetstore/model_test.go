package offsetstore

import (
	"cmp"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

var modelSeed = flag.Uint64("offsetstore.seed", 0, "seed of TestStoreModel (0: from the clock)")

// entry is what the model holds of one stored partition: its last write,
// or with deleted its tombstone.
type entry struct {
	off     Offset
	deleted bool
}

// storeModel is the in-memory reference TestStoreModel checks Store
// against: the rules of the store's doc, applied in commit order.
type storeModel struct {
	parts map[string]map[delivery.TP]entry // group → partition → last write
	dead  map[string]uint64                // group → seq of its last deletion
}

func newStoreModel() *storeModel {
	return &storeModel{parts: map[string]map[delivery.TP]entry{}, dead: map[string]uint64{}}
}

func (m *storeModel) clone() *storeModel {
	c := newStoreModel()
	for g, ps := range m.parts {
		c.parts[g] = maps.Clone(ps)
	}
	c.dead = maps.Clone(m.dead)
	return c
}

// apply commits one op: a write taken before its group's deletion, or
// before the partition's stored write, is dropped; a group's deletion
// drops what was written before it only.
func (m *storeModel) apply(o op) {
	seq := o.Offset.Seq
	if m.dead[o.Group] > seq {
		return
	}
	if o.deleteGroup {
		for tp, e := range m.parts[o.Group] {
			if e.off.Seq < seq {
				delete(m.parts[o.Group], tp)
			}
		}
		if len(m.parts[o.Group]) == 0 {
			delete(m.parts, o.Group)
		}
		m.dead[o.Group] = seq
		return
	}
	if e, ok := m.parts[o.Group][o.TP]; ok && e.off.Seq > seq {
		return
	}
	if m.parts[o.Group] == nil {
		m.parts[o.Group] = map[delivery.TP]entry{}
	}
	e := entry{off: o.Offset, deleted: o.Delete}
	if o.Delete {
		e.off = Offset{Seq: seq}
	}
	m.parts[o.Group][o.TP] = e
}

// loaded is what Load must return: every group with a stored partition
// (live or a tombstone), with its live partitions.
func (m *storeModel) loaded() map[string]map[delivery.TP]Offset {
	out := map[string]map[delivery.TP]Offset{}
	for g, ps := range m.parts {
		out[g] = map[delivery.TP]Offset{}
		for tp, e := range ps {
			if !e.deleted {
				out[g][tp] = e.off
			}
		}
	}
	return out
}

// maxSeq is the highest seq stored: Next must continue above it.
func (m *storeModel) maxSeq() uint64 {
	var n uint64
	for _, ps := range m.parts {
		for _, e := range ps {
			n = max(n, e.off.Seq)
		}
	}
	for _, s := range m.dead {
		n = max(n, s)
	}
	return n
}

// storeRun is one random run against one store directory.
type storeRun struct {
	t      *testing.T
	rng    *rand.Rand
	seed   uint64
	policy commitlog.FsyncPolicy
	dir    string
	s      *Store
	// durable is the state that must survive anything: offsets.db as of
	// the last checkpoint. frames are the writes acknowledged since, one
	// journal frame per call, in order; under FsyncAlways there are none.
	durable *storeModel
	frames  [][]op
	// pending are snapshots taken (with a seq) but not yet written: racing
	// acks, written in any order later.
	pending []op
	seq     uint64 // the last seq Next handed out, as the model counts
	steps   []string
}

func (r *storeRun) fatalf(format string, args ...any) {
	r.t.Helper()
	tail := r.steps[max(0, len(r.steps)-15):]
	r.t.Fatalf("seed %d (rerun: go test -run TestStoreModel/%s ./internal/offsetstore/ -offsetstore.seed=%d)\nlast steps:\n  %s\n%s",
		r.seed, r.policy, r.seed, joinLines(tail), fmt.Sprintf(format, args...))
}

func joinLines(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += "\n  "
		}
		out += s
	}
	return out
}

// current is what the store holds for a reader after recovery: the durable
// state and the first n frames since.
func (r *storeRun) current(n int) *storeModel {
	m := r.durable.clone()
	for _, f := range r.frames[:n] {
		for _, o := range f {
			m.apply(o)
		}
	}
	return m
}

func (r *storeRun) open() {
	s, err := Open(r.dir, r.policy)
	if err != nil {
		r.fatalf("open: %v", err)
	}
	r.s = s
}

// check compares Load with want. Load leaves the last seq handed out at
// least at the highest stored; right after a reopen, exactly there.
func (r *storeRun) check(want *storeModel, what string, reopened bool) {
	r.t.Helper()
	got, err := r.s.Load()
	if err != nil {
		r.fatalf("%s: load: %v", what, err)
	}
	if diff := gocmp.Diff(want.loaded(), got, cmpopts.EquateEmpty()); diff != "" {
		r.fatalf("%s: Load (-model +store):\n%s", what, diff)
	}
	if last, stored := r.s.seq.Load(), want.maxSeq(); last < stored || reopened && last != stored {
		r.fatalf("%s: last seq %d, the highest stored %d", what, last, stored)
	}
}

// reopened checks a store opened after a close or a crash against the
// durable state and the first n frames, which are now durable too.
func (r *storeRun) reopened(n int, what string) {
	r.t.Helper()
	r.open()
	r.durable = r.current(n)
	r.durable.dead = map[string]uint64{} // Open forgets the tombstones (forgetTombstones)
	r.frames = nil
	r.pending = nil // their process is gone
	r.check(r.durable, what, true)
	r.seq = r.durable.maxSeq()
}

// crash leaves the files as a killed process would: no checkpoint, no
// close of the journal.
func (r *storeRun) crash() {
	if r.s.jr != nil {
		r.s.jr.f.Close()
	}
	r.s.db.Close()
}

var (
	modelGroups = []string{"g0", "g1", "g2"}
	modelTPs    = []delivery.TP{{Topic: "a", Partition: 0}, {Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}}
)

func (r *storeRun) snapshot() op {
	r.seq = r.s.Next()
	return randomOp(r.rng, r.seq)
}

// randomOp is a snapshot taken with seq: mostly a partition's state, else
// its deletion or its group's.
func randomOp(rng *rand.Rand, seq uint64) op {
	o := op{Write: Write{Group: modelGroups[rng.IntN(len(modelGroups))], TP: modelTPs[rng.IntN(len(modelTPs))],
		Offset: Offset{Seq: seq}}}
	switch rng.IntN(12) {
	case 0, 1:
		o.Delete = true
		return o
	case 2: // a group's deletion racing the writes: DeleteGroup's op, its seq taken now
		o.TP, o.deleteGroup = delivery.TP{}, true
		return o
	}
	o.Offset.Committed = rng.Int64N(1000)
	from := o.Offset.Committed + 1
	for range rng.IntN(3) {
		from += rng.Int64N(5) + 1
		to := from + rng.Int64N(4)
		o.Offset.Acked = append(o.Offset.Acked, delivery.Range{From: from, To: to})
		from = to + 1
	}
	if rng.IntN(2) == 0 {
		o.Offset.Born = 1700000000000 + rng.Int64N(3)
	}
	if rng.IntN(3) == 0 {
		o.Offset.Metadata = strconv.FormatUint(seq, 10) // a Kafka commit's
	}
	return o
}

// acknowledged records a call the store answered: under FsyncAlways it is
// in offsets.db, under a journal in the next frame.
func (r *storeRun) acknowledged(ops []op) {
	if r.s.jr == nil {
		for _, o := range ops {
			r.durable.apply(o)
		}
		return
	}
	r.frames = append(r.frames, ops)
}

// frameEnds returns the end offset of every whole frame of a journal file.
func frameEnds(b []byte) []int {
	var ends []int
	for pos := 0; len(b)-pos >= journalFrameHeader; {
		n := int(binary.BigEndian.Uint32(b[pos:]))
		if n > len(b)-pos-journalFrameHeader {
			break
		}
		pos += journalFrameHeader + n
		ends = append(ends, pos)
	}
	return ends
}

// tear crashes, then damages the journal's current file at a random byte
// as a power loss may (its tail cut, or a byte garbled), and returns how
// many of the frames since the last checkpoint must survive: those wholly
// before the damage.
func (r *storeRun) tear() (int, string) {
	path := r.s.jr.f.Name()
	r.crash()
	b, err := os.ReadFile(path)
	if err != nil {
		r.fatalf("read journal: %v", err)
	}
	ends := frameEnds(b)
	if len(ends) != len(r.frames) {
		r.fatalf("journal %s has %d frames, the model %d", filepath.Base(path), len(ends), len(r.frames))
	}
	if len(b) == 0 {
		return 0, "nothing to tear"
	}
	at := r.rng.IntN(len(b))
	how := fmt.Sprintf("cut at byte %d of %d", at, len(b))
	if r.rng.IntN(2) == 0 {
		b = b[:at]
	} else {
		b[at] ^= byte(1 + r.rng.IntN(255))
		how = fmt.Sprintf("byte %d of %d garbled", at, len(b))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		r.fatalf("tear journal: %v", err)
	}
	kept := 0
	for _, e := range ends {
		if e <= at {
			kept++
		}
	}
	return kept, how
}

// write writes ops through Write, or as DeleteGroup would if one deletes
// a group.
func (r *storeRun) write(ops []op) error {
	ws := make([]Write, len(ops))
	for i, o := range ops {
		if o.deleteGroup {
			return r.s.write(ops)
		}
		ws[i] = o.Write
	}
	return r.s.Write(ws)
}

func (r *storeRun) step() {
	switch k := r.rng.IntN(100); {
	case k < 30: // take a snapshot, to write later
		r.pending = append(r.pending, r.snapshot())
		r.steps = append(r.steps, fmt.Sprintf("snapshot %+v", r.pending[len(r.pending)-1]))
	case k < 60: // write 1–3 snapshots taken, in any order: racing acks
		if len(r.pending) == 0 {
			r.pending = append(r.pending, r.snapshot())
		}
		r.rng.Shuffle(len(r.pending), func(i, j int) { r.pending[i], r.pending[j] = r.pending[j], r.pending[i] })
		n := 1 + r.rng.IntN(min(3, len(r.pending)))
		ops := slices.Clone(r.pending[:n])
		r.pending = r.pending[n:]
		r.steps = append(r.steps, fmt.Sprintf("write %+v", ops))
		if err := r.write(ops); err != nil {
			r.fatalf("write: %v", err)
		}
		r.acknowledged(ops)
	case k < 66: // delete a group
		g := modelGroups[r.rng.IntN(len(modelGroups))]
		r.steps = append(r.steps, "delete group "+g)
		if err := r.s.DeleteGroup(g); err != nil {
			r.fatalf("delete group: %v", err)
		}
		r.seq++
		r.acknowledged([]op{{Write: Write{Group: g, Offset: Offset{Seq: r.seq}}, deleteGroup: true}})
	case k < 74: // the timer loop's checkpoint
		r.steps = append(r.steps, "sync")
		if err := r.s.Sync(); err != nil {
			r.fatalf("sync: %v", err)
		}
		r.durable, r.frames = r.current(len(r.frames)), nil
	case k < 82: // a reader: offsets.db holds the durable state only
		r.steps = append(r.steps, "load")
		r.check(r.durable, "load", false)
	case k < 88: // graceful restart
		r.steps = append(r.steps, "close+reopen")
		if err := r.s.Close(); err != nil {
			r.fatalf("close: %v", err)
		}
		r.reopened(len(r.frames), "after close")
	case k < 94 || r.s.jr == nil: // process crash: what the OS holds survives
		r.steps = append(r.steps, "crash+reopen")
		r.crash()
		r.reopened(len(r.frames), "after a crash")
	default: // power loss: the journal's tail is torn
		kept, how := r.tear()
		r.steps = append(r.steps, fmt.Sprintf("torn journal (%s): %d of %d frames kept", how, kept, len(r.frames)))
		r.reopened(kept, "after a torn journal")
	}
}

// TestStoreModel runs random sequences of writes (seqs taken in one order
// and written in another), partition and group deletions, checkpoints,
// loads, closes, crashes and torn journals against a Store under each fsync
// policy, and after every reopen and load compares it with storeModel. So:
// nothing acknowledged is lost (under FsyncAlways, nor by a torn journal
// before the damage), nothing deleted comes back, and a smaller seq never
// overwrites a larger. The seed is printed on failure; pass it back with
// -offsetstore.seed.
func TestStoreModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	runs, steps := 3, 120
	if testing.Short() {
		runs = 2
	}
	for _, policy := range []commitlog.FsyncPolicy{commitlog.FsyncAlways, commitlog.FsyncInterval, commitlog.FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			for i := range runs {
				seed := seed + uint64(i)
				r := &storeRun{t: t, rng: rand.New(rand.NewPCG(seed, seed)), seed: seed, policy: policy,
					dir: t.TempDir(), durable: newStoreModel()}
				r.open()
				r.check(r.durable, "empty", true)
				for range steps {
					r.step()
				}
				if err := r.s.Close(); err != nil {
					r.fatalf("close: %v", err)
				}
				r.reopened(len(r.frames), "at the end")
				if err := r.s.Close(); err != nil {
					r.fatalf("close: %v", err)
				}
				if *modelSeed != 0 {
					return
				}
			}
		})
	}
}

// The seq rule makes the stored state independent of commit order: a
// partition holds its largest-seq write unless its group's deletion has a
// larger seq. TestStoreConcurrentModel has writers race (group commit, the
// journal's frames, checkpoints) and checks the store, after a close or a
// crash, against storeModel applying every acknowledged op in seq order.
func TestStoreConcurrentModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	for _, policy := range []commitlog.FsyncPolicy{commitlog.FsyncAlways, commitlog.FsyncInterval, commitlog.FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("seed %d (rerun: go test -run TestStoreConcurrentModel/%s ./internal/offsetstore/ -offsetstore.seed=%d): %s",
					seed, policy, seed, fmt.Sprintf(format, args...))
			}
			dir := t.TempDir()
			s, err := Open(dir, policy)
			if err != nil {
				fail("open: %v", err)
			}
			var mu sync.Mutex
			var acked []op // guarded by mu
			var wg sync.WaitGroup
			for w := range 4 {
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				wg.Go(func() {
					var pending []op
					for range 100 {
						o := randomOp(rng, s.Next())
						// More groups than the sequential test: fewer writes
						// per partition, so a lost one is seldom overwritten.
						o.Group += strconv.Itoa(rng.IntN(4))
						pending = append(pending, o)
						if rng.IntN(2) == 0 {
							continue // taken now, written later
						}
						rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
						if err := s.write(pending); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked = append(acked, pending...)
						mu.Unlock()
						pending = nil
						if rng.IntN(8) == 0 {
							if err := s.Sync(); err != nil {
								t.Error(err)
								return
							}
						}
					}
					if len(pending) > 0 {
						if err := s.write(pending); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked = append(acked, pending...)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				fail("a write failed")
			}
			how := "close"
			if rand.New(rand.NewPCG(seed, 99)).IntN(2) == 0 {
				how = "crash"
				if s.jr != nil {
					s.jr.f.Close()
				}
				s.db.Close()
			} else if err := s.Close(); err != nil {
				fail("close: %v", err)
			}
			if s, err = Open(dir, policy); err != nil {
				fail("reopen: %v", err)
			}
			defer s.Close()
			slices.SortFunc(acked, func(a, b op) int { return cmp.Compare(a.Offset.Seq, b.Offset.Seq) })
			m := newStoreModel()
			for _, o := range acked {
				m.apply(o)
			}
			m.dead = map[string]uint64{} // Open forgot the tombstones (forgetTombstones)
			got, err := s.Load()
			if err != nil {
				fail("load: %v", err)
			}
			if diff := gocmp.Diff(m.loaded(), got, cmpopts.EquateEmpty()); diff != "" {
				fail("after a %s, Load (-model +store):\n%s", how, diff)
			}
			if last := s.seq.Load(); last != m.maxSeq() {
				fail("after a %s, last seq %d, the highest stored %d", how, last, m.maxSeq())
			}
		})
	}
}
