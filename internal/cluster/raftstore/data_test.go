package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// fileData is a Data over one append-only file of a vfs.Mem, as a
// partition's commitlog would be: records of index uint64 | length uint32 |
// data, a reference being the record's offset. It has its own synced and
// unsynced bytes, so a Crash of the Mem takes its unsynced tail apart from
// the WAL's. It declines an entry at random (rng nil: never), and checks
// the store's side of the contract: Puts in index order, never over data
// the store did not Cut.
type fileData struct {
	t    testing.TB
	fsys *vfs.Mem
	name string

	mu   sync.Mutex // Sync runs beside Put (FlushLater)
	f    vfs.File
	offs map[uint64]int64 // index → offset of the records in the file
	size int64
	rng  *rand.Rand
	// calls logs "put i", "decline i", "cut i", "get i", "sync" (and
	// "wal sync" from walSyncs, when the test wires it).
	calls *[]string
}

// openFileData opens the data file at name (creating it).
func openFileData(t testing.TB, fsys *vfs.Mem, name string, rng *rand.Rand) *fileData {
	t.Helper()
	d := &fileData{t: t, fsys: fsys, name: name, rng: rng, calls: new([]string)}
	d.reopen()
	return d
}

// reopen reads the file back, as after a crash, up to a torn record, and
// cuts that off.
func (d *fileData) reopen() {
	t, fsys, name := d.t, d.fsys, d.name
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		d.f.Close()
	}
	d.offs, d.size = map[uint64]int64{}, 0
	b, err := fsys.ReadFile(name)
	if errors.Is(err, vfs.ErrNotExist) {
		dir := vfs.Join(name, "..")
		if err := fsys.MkdirAll(dir); err != nil {
			t.Fatal(err)
		}
		if d.f, err = fsys.Create(name); err != nil {
			t.Fatal(err)
		}
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); ; {
		r := b[off:]
		if len(r) < 12 || uint64(len(r)) < 12+uint64(binary.LittleEndian.Uint32(r[8:])) {
			break // a torn record
		}
		d.offs[binary.LittleEndian.Uint64(r)] = off
		off += 12 + int64(binary.LittleEndian.Uint32(r[8:]))
		d.size = off
	}
	if err := fsys.Truncate(name, d.size); err != nil {
		t.Fatal(err)
	}
	if d.f, err = fsys.Append(name); err != nil {
		t.Fatal(err)
	}
}

func (d *fileData) log(format string, args ...any) {
	*d.calls = append(*d.calls, fmt.Sprintf(format, args...))
}

func (d *fileData) Put(e *pb.Entry) ([]byte, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := e.GetIndex()
	for held := range d.offs {
		if held >= i {
			d.t.Errorf("Put of entry %d over the data of entry %d, not cut", i, held)
		}
	}
	if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
		d.t.Errorf("Put of entry %d of type %v with %d bytes", i, e.GetType(), len(e.GetData()))
	}
	if d.rng != nil && d.rng.IntN(3) == 0 {
		d.log("decline %d", i)
		return nil, false, nil
	}
	d.log("put %d", i)
	rec := binary.LittleEndian.AppendUint64(nil, i)
	rec = binary.LittleEndian.AppendUint32(rec, uint32(len(e.GetData())))
	rec = append(rec, e.GetData()...)
	if _, err := d.f.Write(rec); err != nil {
		return nil, false, err
	}
	ref := binary.LittleEndian.AppendUint64(nil, uint64(d.size))
	d.offs[i] = d.size
	d.size += int64(len(rec))
	return ref, true, nil
}

func (d *fileData) Cut(index uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log("cut %d", index)
	to := d.size
	for i, off := range d.offs {
		if i >= index {
			to = min(to, off)
			delete(d.offs, i)
		}
	}
	d.size = to
	return d.fsys.Truncate(d.name, to)
}

func (d *fileData) Get(index uint64, ref []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log("get %d", index)
	if len(ref) != 8 {
		return nil, fmt.Errorf("reference of %d bytes", len(ref))
	}
	b, err := d.fsys.ReadFile(d.name)
	if err != nil {
		return nil, err
	}
	off := binary.LittleEndian.Uint64(ref)
	if off+12 > uint64(len(b)) || binary.LittleEndian.Uint64(b[off:]) != index {
		return nil, fmt.Errorf("entry %d at %d: %w", index, off, ErrDataMissing)
	}
	n := uint64(binary.LittleEndian.Uint32(b[off+8:]))
	if off+12+n > uint64(len(b)) {
		return nil, fmt.Errorf("entry %d at %d: %w", index, off, ErrDataMissing)
	}
	return b[off+12 : off+12+n], nil
}

func (d *fileData) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log("sync")
	return d.f.Sync()
}

// takeCalls returns the calls logged since the last takeCalls.
func (d *fileData) takeCalls() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := strings.Join(*d.calls, ", ")
	*d.calls = (*d.calls)[:0]
	return c
}

// walSyncs is an FS whose files log "wal sync" in d's call log: where
// the store syncs its WAL against where it syncs its data.
type walSyncs struct {
	vfs.FS
	d *fileData
}

type loggedFile struct {
	vfs.File
	d    *fileData
	name string
}

func (w walSyncs) Create(name string) (vfs.File, error) {
	f, err := w.FS.Create(name)
	return loggedFile{f, w.d, name}, err
}

func (f loggedFile) Sync() error {
	if strings.Contains(f.name, segPrefix) { // not the snapshot file
		f.d.mu.Lock()
		f.d.log("wal sync")
		f.d.mu.Unlock()
	}
	return f.File.Sync()
}

// dataStore opens a store of group "/g" whose data d keeps in "/d/log" of
// the same Mem, and bootstraps it with three voters.
func dataStore(t *testing.T) (*vfs.Mem, *fileData, *Store) {
	t.Helper()
	fsys := vfs.NewMem()
	d := openFileData(t, fsys, "/d/log", nil)
	s, err := OpenData(fsys, "/g", d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bootstrap(voters3()); err != nil {
		t.Fatal(err)
	}
	d.takeCalls()
	return fsys, d, s
}

// declining makes d decline the entries whose data starts with "inline".
type declining struct{ *fileData }

func (d declining) Put(e *pb.Entry) ([]byte, bool, error) {
	if bytes.HasPrefix(e.GetData(), []byte("inline")) {
		d.mu.Lock()
		d.log("decline %d", e.GetIndex())
		d.mu.Unlock()
		return nil, false, nil
	}
	return d.fileData.Put(e)
}

// TestDataCut: the owner is told to drop its data exactly when the log
// loses an external entry — a Save overwriting a suffix that holds one,
// before the new entries are Put; a leader's snapshot discarding a log
// that runs past it; and, at Open, whatever lies past the recovered log
// — and the log reads back whole after a reopen.
func TestDataCut(t *testing.T) {
	type save struct {
		ents    []*pb.Entry
		snap    uint64 // >0: ApplySnapshot at this index, term 5, instead
		compact uint64 // >0: CreateSnapshot at this index, keeping none, instead
	}
	cases := []struct {
		name  string
		saves []save
		calls string // of the last step
		ents  string // after a reopen
	}{
		{"append", []save{{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b")}}},
			"put 2, put 3", "2/1/a 3/1/b "},
		{"overwrite of external entries", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b"), ent(4, 1, "c")}},
			{ents: []*pb.Entry{ent(3, 2, "B"), ent(4, 2, "C")}},
		}, "cut 3, put 3, put 4", "2/1/a 3/2/B 4/2/C "},
		{"overwrite of inline entries after an external one", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "inline b"), ent(4, 1, "inline c")}},
			{ents: []*pb.Entry{ent(3, 2, "B")}},
		}, "put 3", "2/1/a 3/2/B "},
		{"overwrite reaching an external entry past inline ones", []save{
			{ents: []*pb.Entry{ent(2, 1, "inline a"), ent(3, 1, "inline b"), ent(4, 1, "c")}},
			{ents: []*pb.Entry{ent(2, 2, "inline A")}},
		}, "cut 2, decline 2", "2/2/inline A "},
		{"overwrite with empty entries and no data", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b")}},
			{ents: []*pb.Entry{ent(3, 2, "")}},
		}, "cut 3", "2/1/a 3/2/ "},
		{"entries the snapshot covers", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b")}},
			{compact: 3},
			{ents: []*pb.Entry{ent(3, 1, "b"), ent(4, 1, "d")}},
		}, "put 4", "4/1/d "},
		{"only entries the snapshot covers", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b"), ent(4, 1, "c")}},
			{compact: 3},
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b")}},
		}, "", "4/1/c "},
		{"a leader's snapshot past the log", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b")}},
			{snap: 9},
		}, "", ""},
		{"a leader's snapshot inside the log", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b"), ent(4, 1, "inline c")}},
			{snap: 2},
		}, "cut 3", ""},
		{"a leader's snapshot before inline entries", []save{
			{ents: []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "inline b")}},
			{snap: 2},
		}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			d := openFileData(t, fsys, "/d/log", nil)
			s, err := OpenData(fsys, "/g", declining{d})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Bootstrap(voters3()); err != nil {
				t.Fatal(err)
			}
			for _, sv := range c.saves {
				d.takeCalls()
				switch {
				case sv.snap > 0:
					err = s.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(sv.snap), Term: new(uint64(5)), ConfState: voters3()}})
				case sv.compact > 0:
					err = s.CreateSnapshot(sv.compact, voters3(), nil, 0)
				default:
					err = s.Save(hardState(2, 0, 1), sv.ents)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := d.takeCalls(); got != c.calls {
				t.Errorf("calls %q, want %q", got, c.calls)
			}
			want := stateOf(t, s)
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			s = reopenAfterPowerLoss(t, fsys, s)
			defer s.Close()
			if got := stateOf(t, s); got != want || got.ents != c.ents {
				t.Fatalf("reopened %+v, want %+v with entries %q", got, want, c.ents)
			}
		})
	}
}

// TestDataSyncedBeforeWAL: wherever the store syncs its WAL it syncs the
// data first, and only if something was Put since it last did: a
// durable reference must not point to data a crash can lose.
func TestDataSyncedBeforeWAL(t *testing.T) {
	fsys := vfs.NewMem()
	d := openFileData(t, fsys, "/d/log", nil)
	s, err := OpenData(walSyncs{fsys, d}, "/g", d)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if err := s.Bootstrap(voters3()); err != nil {
		t.Fatal(err)
	}
	d.takeCalls()
	next := uint64(2)
	put := func() {
		if err := s.Save(nil, []*pb.Entry{ent(next, 1, fmt.Sprint("e", next))}); err != nil {
			t.Fatal(err)
		}
		next++
	}
	steps := []struct {
		name  string
		do    func() error
		calls string
	}{
		{"Sync of an entry", func() error { put(); return s.Sync() }, "put 2, sync, wal sync"},
		{"Sync of a vote alone", func() error {
			if err := s.Save(hardState(2, 3, 1), nil); err != nil {
				return err
			}
			return s.Sync()
		}, "wal sync"},
		{"Flush", func() error { s.SetLazy(true); put(); return s.Flush() }, "put 3, sync, wal sync"},
		{"FlushLater's sync", func() error { put(); return s.FlushLater()() }, "put 4, sync, wal sync"},
		{"a snapshot below the rotation size", func() error { put(); return s.CreateSnapshot(3, voters3(), nil, 1) }, "put 5, sync, wal sync"},
		{"a rotating snapshot", func() error {
			put()
			s.SetRotateBytes(0)
			return s.CreateSnapshot(4, voters3(), nil, 1)
		}, "put 6, sync, wal sync"},
		{"a rotating snapshot with nothing put", func() error { return s.CreateSnapshot(5, voters3(), nil, 1) }, "wal sync"},
		{"Open", func() error {
			put()
			s.Close()
			s, err = OpenData(walSyncs{fsys, d}, "/g", d)
			return err
		}, "put 7, get 6, get 7, cut 8, sync, wal sync"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := d.takeCalls(); got != st.calls {
			t.Errorf("%s: calls %q, want %q", st.name, got, st.calls)
		}
	}
}

// TestDataRotationWritesReferences: a rotation writes an external entry
// again as its reference, never its data, and the reopened store reads
// it back whole.
func TestDataRotationWritesReferences(t *testing.T) {
	fsys, _, s := dataStore(t)
	data := strings.Repeat("x", 1000)
	if err := s.Save(hardState(1, 0, 3), []*pb.Entry{ent(2, 1, data), ent(3, 1, data+"y"), ent(4, 1, data+"z")}); err != nil {
		t.Fatal(err)
	}
	s.SetRotateBytes(0)
	if err := s.CreateSnapshot(3, voters3(), []byte("sm@3"), 1); err != nil {
		t.Fatal(err)
	}
	want := stateOf(t, s)
	seg, err := fsys.ReadFile(s.segPath())
	if err != nil {
		t.Fatal(err)
	}
	recs, end := frames(seg)
	var kinds []recordKind
	for _, r := range recs {
		kinds = append(kinds, r.kind)
	}
	if end != len(seg) || fmt.Sprint(kinds) != fmt.Sprint([]recordKind{kindReset, kindEntryRef, kindEntryRef, kindHardState}) || bytes.Contains(seg, []byte(data)) {
		t.Fatalf("rotated segment of %d bytes holds records %v", len(seg), kinds)
	}
	s = reopenAfterPowerLoss(t, fsys, s)
	defer s.Close()
	if got := stateOf(t, s); got != want {
		t.Fatalf("reopened %+v, want %+v", got, want)
	}
}

// TestDataMissing: Open takes an entry whose data the owner lost (its
// unsynced tail), or whose data is not what was Put, for a torn tail of
// the WAL: that entry and every later one are dropped, a hard state
// committing them has its commit lowered to the log's end, and the owner
// is told to drop what it holds past it. Any other error of Get fails
// Open; so does a reference when Open has no Data.
func TestDataMissing(t *testing.T) {
	build := func(t *testing.T) (*vfs.Mem, *fileData) {
		fsys, d, s := dataStore(t)
		// Entries 2-3 synced; 4-6 and the commit of 6 written.
		if err := s.Save(hardState(1, 0, 1), []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(hardState(1, 0, 6), []*pb.Entry{ent(4, 1, "c"), ent(5, 1, "d"), ent(6, 1, "e")}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return fsys, d
	}
	cases := []struct {
		name    string
		damage  func(fsys *vfs.Mem, d *fileData)
		ents    string
		commit  uint64
		openErr error
	}{
		{"the data intact", func(*vfs.Mem, *fileData) {}, "2/1/a 3/1/b 4/1/c 5/1/d 6/1/e ", 6, nil},
		{"the data's unsynced tail lost", func(fsys *vfs.Mem, d *fileData) {
			n, _ := fsys.Size("/d/log")
			if err := fsys.Truncate("/d/log", int64(n-3)); err != nil { // inside entry 6's
				t.Fatal(err)
			}
		}, "2/1/a 3/1/b 4/1/c 5/1/d ", 5, nil},
		{"other bytes than were Put", func(fsys *vfs.Mem, d *fileData) {
			b, _ := fsys.ReadFile("/d/log")
			b[len(b)-1] ^= 1 // entry 6's last byte
			writeFile(t, fsys, "/d/log", b)
		}, "2/1/a 3/1/b 4/1/c 5/1/d ", 5, nil},
		{"every unsynced byte lost", func(fsys *vfs.Mem, d *fileData) {
			if err := fsys.Truncate("/d/log", int64(d.offs[4])); err != nil {
				t.Fatal(err)
			}
		}, "2/1/a 3/1/b ", 3, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys, d := build(t)
			c.damage(fsys, d)
			d = openFileData(t, fsys, "/d/log", nil)
			s, err := OpenData(fsys, "/g", d)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := stateOf(t, s)
			if got.ents != c.ents || got.commit != c.commit {
				t.Fatalf("recovered %+v, want entries %q committed to %d", got, c.ents, c.commit)
			}
			if want := fmt.Sprintf("cut %d", got.last+1); !strings.Contains(d.takeCalls(), want) {
				t.Errorf("Open did not %s", want)
			}
		})
	}
	t.Run("a failing Get", func(t *testing.T) {
		fsys, _ := build(t)
		s, err := OpenData(fsys, "/g", failingGet{})
		if err == nil || errors.Is(err, ErrCorrupt) || !errors.Is(err, errNoSpace) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open with a failing Get: %v", err)
		}
	})
	t.Run("no Data", func(t *testing.T) {
		fsys, _ := build(t)
		s, err := Open(fsys, "/g")
		if !errors.Is(err, ErrCorrupt) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open without a Data of a WAL with references: %v", err)
		}
	})
}

// failingGet is a Data whose Get fails.
type failingGet struct{ Data }

func (failingGet) Get(uint64, []byte) ([]byte, error) { return nil, errNoSpace }
