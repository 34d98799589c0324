package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// FuzzOpenSegment writes arbitrary bytes as a group's newest WAL segment,
// beside one of the snapshot files real stores leave (or none), and opens
// the store as a node does at start, with a refData to read references
// through. Open must not panic or allocate more than the files' size
// warrants, and must do what the format's documents say of the bytes
// (modelOpen): fail with ErrCorrupt (or the failure of a Get), leaving the
// files as they were, or recover exactly the log the valid records
// describe, with a torn tail cut, into a store that reopens the same and
// takes appends. Each input is tried as it is and with its records' checksums
// made right, since random bytes seldom pass a CRC and the decoding of
// the records behind it must hold too.
func FuzzOpenSegment(f *testing.F) {
	scs := scenarios(f)
	for i, sc := range scs {
		for _, seg := range damaged(sc.seg) {
			f.Add(seg, uint8(i))
		}
	}
	for _, c := range craftedSegments(f) {
		f.Add(c.seg, c.snapOf)
	}
	f.Fuzz(func(t *testing.T, seg []byte, snapOf uint8) {
		snap := scs[int(snapOf)%len(scs)].snap
		checkOpen(t, snap, seg)
		checkOpen(t, snap, resealed(seg))
	})
}

// FuzzOpenSnapshot is FuzzOpenSegment for the snapshot file: arbitrary
// bytes as the snapshot beside one of the segments real stores leave.
// Resealed, the whole input is one record, so that the fuzzer explores
// snapshots that decode: their positions against the log's.
func FuzzOpenSnapshot(f *testing.F) {
	scs := scenarios(f)
	for i, sc := range scs {
		if sc.snap != nil {
			for _, snap := range damaged(sc.snap) {
				f.Add(snap, uint8(i))
			}
		}
	}
	for _, c := range craftedSnapshots(f) {
		f.Add(c.snap, c.segOf)
	}
	f.Fuzz(func(t *testing.T, snap []byte, segOf uint8) {
		seg := scs[int(segOf)%len(scs)].seg
		checkOpen(t, snap, seg)
		whole := bytes.Clone(snap)
		if len(whole) > headerLen {
			binary.LittleEndian.PutUint32(whole, uint32(len(whole)-headerLen))
			binary.LittleEndian.PutUint32(whole[4:], crc32.Checksum(whole[headerLen:], castagnoli))
		}
		checkOpen(t, whole, seg)
	})
}

// scenario is the files a real store left: its snapshot (nil: none) and
// its newest segment.
type scenario struct{ snap, seg []byte }

// scenarios builds stores through the API on a Mem and reads their files
// back, so that the seeds follow the format wherever it goes. The fuzz
// inputs index them: their order is part of the seed corpus.
func scenarios(tb testing.TB) []scenario {
	overwrite := func(s *Store) error {
		if err := s.Bootstrap(voters3()); err != nil {
			return err
		}
		if err := s.Save(hardState(2, 1, 2), []*pb.Entry{ent(2, 2, "a"), ent(3, 2, "b"), ent(4, 2, "c")}); err != nil {
			return err
		}
		return s.Save(hardState(3, 0, 3), []*pb.Entry{ent(4, 3, "d"), ent(5, 3, "e")})
	}
	builds := []func(s *Store) error{
		func(s *Store) error { return nil }, // opened and closed: a reset record alone
		func(s *Store) error { // never bootstrapped, no snapshot
			return s.Save(hardState(1, 1, 2), []*pb.Entry{ent(1, 1, "a"), ent(2, 1, "b"), ent(3, 1, "c")})
		},
		overwrite, // the bootstrap snapshot at 1, a suffix overwritten
		func(s *Store) error { // a snapshot inside the segment's log
			if err := overwrite(s); err != nil {
				return err
			}
			return s.CreateSnapshot(3, voters3(), []byte("sm@3"), 1)
		},
		func(s *Store) error { // a snapshot that rotated the segment
			if err := overwrite(s); err != nil {
				return err
			}
			s.SetRotateBytes(0)
			return s.CreateSnapshot(4, voters3(), []byte("sm@4"), 1)
		},
		func(s *Store) error { // a leader's snapshot past the log
			if err := s.Bootstrap(voters3()); err != nil {
				return err
			}
			if err := s.Save(hardState(1, 1, 1), []*pb.Entry{ent(2, 1, "a")}); err != nil {
				return err
			}
			err := s.ApplySnapshot(&pb.Snapshot{Data: []byte("leader@10"), Metadata: &pb.SnapshotMetadata{
				Index: new(uint64(10)), Term: new(uint64(4)), ConfState: voters3(),
			}})
			if err != nil {
				return err
			}
			return s.Save(hardState(4, 0, 10), nil)
		},
		func(s *Store) error { // at the end of the index space
			if err := s.Bootstrap(voters3()); err != nil {
				return err
			}
			err := s.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
				Index: new(uint64(math.MaxUint64 - 1)), Term: new(uint64(7)), ConfState: voters3(),
			}})
			if err != nil {
				return err
			}
			return s.Save(hardState(7, 0, math.MaxUint64), []*pb.Entry{ent(math.MaxUint64, 7, "z")})
		},
	}
	// The same with a refData: its references are written as such.
	dataBuilds := []func(s *Store) error{
		overwrite, // entries at odd indexes external
		func(s *Store) error { // references rewritten by a rotation
			if err := overwrite(s); err != nil {
				return err
			}
			s.SetRotateBytes(0)
			return s.CreateSnapshot(4, voters3(), []byte("sm@4"), 2)
		},
		func(s *Store) error { // data lost below the commit index
			if err := s.Bootstrap(voters3()); err != nil {
				return err
			}
			return s.Save(hardState(1, 1, 5), []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "b"), ent(4, 1, "c"), ent(5, 1, "missing e")})
		},
		func(s *Store) error { // a Get that fails
			if err := s.Bootstrap(voters3()); err != nil {
				return err
			}
			return s.Save(hardState(1, 1, 1), []*pb.Entry{ent(2, 1, "a"), ent(3, 1, "fail")})
		},
	}
	var scs []scenario
	for i, build := range append(builds, dataBuilds...) {
		fsys := vfs.NewMem()
		var data Data
		if i >= len(builds) {
			data = refData{}
		}
		s, err := OpenData(fsys, "/g", data)
		if err != nil {
			tb.Fatal(err)
		}
		if err := build(s); err != nil {
			tb.Fatal(err)
		}
		s.Close()
		var sc scenario
		if sc.seg, err = fsys.ReadFile(vfs.Join("/g", segName(s.segSeq))); err != nil {
			tb.Fatal(err)
		}
		sc.snap, err = fsys.ReadFile(vfs.Join("/g", snapName))
		if err != nil && !errors.Is(err, vfs.ErrNotExist) {
			tb.Fatal(err)
		}
		scs = append(scs, sc)
	}
	return scs
}

// Indexes into scenarios.
const (
	noSnapshot  = 0
	snapshotAt1 = 2 // term 1
	segmentAt3  = 4 // reset to (3, 2), entries 4 and 5 of term 3
	// A snapshot at MaxUint64-1, and the entry after it.
	endOfIndexes = 6
)

// damaged returns b and what a crash or a bad disk makes of it: cut short
// inside its last record, its first and its second's header; a byte flipped
// in its first record and in its last; the second record's length claiming
// 4 GiB, or one byte more than maxRecord; a stray byte after its end.
func damaged(b []byte) [][]byte {
	flip := func(i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x10
		return c
	}
	out := [][]byte{b, b[:len(b)-1], b[:5], flip(headerLen + 1), flip(len(b) - 1), append(bytes.Clone(b), 0)}
	if recs, _ := frames(b); len(recs) > 1 {
		second := headerLen + 1 + len(recs[0].payload)
		for _, n := range []uint32{math.MaxUint32, maxRecord + 1} {
			c := bytes.Clone(b)
			binary.LittleEndian.PutUint32(c[second:], n)
			out = append(out, c)
		}
		out = append(out, b[:second+3])
	}
	return out
}

// record is one encoded record of payload m.
func record(tb testing.TB, kind recordKind, m proto.Message) []byte {
	b, err := appendProto(nil, kind, m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func resetTo(index, term uint64) *pb.SnapshotMetadata {
	return &pb.SnapshotMetadata{Index: new(index), Term: new(term)}
}

// craftedSegments are well-formed records that no store writes in that
// order, one for each way the log they describe can be impossible, and a
// few that are odd but valid; each with the scenario whose snapshot sits
// beside it.
func craftedSegments(tb testing.TB) []struct {
	seg    []byte
	snapOf uint8
} {
	rec := func(kind recordKind, m proto.Message) []byte { return record(tb, kind, m) }
	cat := func(recs ...[]byte) []byte { return bytes.Join(recs, nil) }
	undecodable := bytes.Clone(rec(kindEntry, ent(2, 1, "x")))
	undecodable[headerLen+1] = 0xff // a field tag with no end
	binary.LittleEndian.PutUint32(undecodable[4:], crc32.Checksum(undecodable[headerLen:], castagnoli))
	zero := rec(kindReset, resetTo(0, 0))
	return []struct {
		seg    []byte
		snapOf uint8
	}{
		{cat(zero, rec(kindEntry, ent(1, 1, "a")), rec(kindEntry, ent(3, 1, "c"))), noSnapshot},         // a gap
		{cat(zero, rec(kindEntry, ent(1, 1, "a")), rec(kindHardState, hardState(1, 0, 2))), noSnapshot}, // commits past the log
		{rec(kindEntry, ent(1, 1, "a")), noSnapshot},                                                    // no reset first
		{cat(zero, rec(7, ent(1, 1, "a"))), noSnapshot},                                                 // an unknown kind
		{cat(zero, undecodable), noSnapshot},
		{cat(rec(kindReset, resetTo(5, 2)), rec(kindEntry, ent(6, 2, "f"))), noSnapshot}, // a log after 5, no snapshot
		{cat(zero, rec(kindEntry, ent(1, 1, "a"))), segmentAt3},                          // the snapshot at 4 is past the log
		// The last entry there is, overwritten.
		{cat(rec(kindReset, resetTo(math.MaxUint64-1, 7)), rec(kindEntry, ent(math.MaxUint64, 7, "z")),
			rec(kindEntry, ent(math.MaxUint64, 8, "z2"))), endOfIndexes},
		// Entries behind a reset are superseded, and a second reset
		// starts the log again.
		{cat(rec(kindReset, resetTo(1, 1)), rec(kindEntry, ent(1, 1, "old")), rec(kindEntry, ent(2, 1, "b")),
			rec(kindReset, resetTo(1, 1)), rec(kindEntry, ent(2, 2, "b2")), rec(kindHardState, hardState(2, 0, 0))), snapshotAt1},
		// A log whose term at the snapshot's index is not the snapshot's
		// diverged from it: none of it is kept.
		{cat(zero, rec(kindEntry, ent(1, 5, "a")), rec(kindEntry, ent(2, 5, "b"))), snapshotAt1},
		// The length of the first record claims 4 GiB.
		{append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, byte(kindReset)}, make([]byte, 64)...), noSnapshot},
		{nil, noSnapshot}, // an empty segment
		// References: mixed with inline entries, overwriting them and
		// overwritten; a torn tail where the data is missing (committed:
		// the commit is lowered) or is not what was put; corrupt ones.
		{cat(zero, rec(kindEntry, ent(1, 1, "a")), refRec(2, 1, "b", 0), rec(kindEntry, ent(2, 2, "B")),
			refRec(3, 2, "c", 0), refRec(3, 3, "C", 0), rec(kindHardState, hardState(3, 0, 3))), noSnapshot},
		{cat(zero, refRec(1, 1, "a", 0), refRec(2, 1, "missing b", 0), refRec(3, 1, "c", 0), rec(kindHardState, hardState(1, 0, 3))), noSnapshot},
		{cat(zero, refRec(1, 1, "a", 0), refRec(2, 1, "b", 1), rec(kindHardState, hardState(1, 0, 1))), noSnapshot},
		{cat(zero, refRec(1, 1, "a", 0), refRec(2, 1, "fail", 0)), noSnapshot},
		// A reference behind the snapshot: not read.
		{cat(rec(kindReset, resetTo(1, 1)), refRec(1, 1, "fail", 0), refRec(2, 1, "b", 0)), snapshotAt1},
		// A reference record too short for its header.
		{cat(zero, rawRec(kindEntryRef, []byte{1, 0, 0})), noSnapshot},
		// A reference whose entry does not decode.
		{cat(zero, rawRec(kindEntryRef, append(make([]byte, refHeaderLen), 0xff))), noSnapshot},
		// A reference to no data.
		{cat(zero, rawRec(kindEntryRef, append(make([]byte, refHeaderLen), record(tb, kindEntry, ent(1, 1, ""))[headerLen+1:]...))), noSnapshot},
		// A reference to the data of a configuration change.
		{cat(zero, refRecOf(&pb.Entry{Index: new(uint64(1)), Term: new(uint64(1)), Type: pb.EntryConfChange.Enum(), Data: []byte("cc")}, 0)), noSnapshot},
	}
}

// rawRec is a record of kind holding payload.
func rawRec(kind recordKind, payload []byte) []byte {
	b := append(make([]byte, headerLen+1), payload...)
	return sealRecord(b, 0, kind)
}

// refRec is the record of an external entry whose reference is its data
// (refData's), with skew added to its data's checksum.
func refRec(index, term uint64, data string, skew uint32) []byte {
	return refRecOf(ent(index, term, data), skew)
}

func refRecOf(e *pb.Entry, skew uint32) []byte {
	x := extRef{ref: e.GetData(), size: uint32(len(e.GetData())), sum: crc32.Checksum(e.GetData(), castagnoli) + skew, ext: true}
	b, err := appendRef(nil, e, x)
	if err != nil {
		panic(err)
	}
	return b
}

// refData is the fuzz targets' Data: a reference is the data itself, so
// that any bytes read back. It declines entries at even indexes; a
// reference starting "missing" reports its data missing, one starting
// "fail" fails.
type refData struct{}

var errDataFails = errors.New("the data's disk fails")

func (refData) Put(e *pb.Entry) ([]byte, bool, error) {
	if e.GetIndex()%2 == 0 {
		return nil, false, nil
	}
	return bytes.Clone(e.GetData()), true, nil
}

func (refData) Cut(uint64) error { return nil }
func (refData) Sync() error      { return nil }

func (refData) Get(_ uint64, ref []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(ref, []byte("missing")):
		return nil, ErrDataMissing
	case bytes.HasPrefix(ref, []byte("fail")):
		return nil, errDataFails
	}
	return ref, nil
}

// craftedSnapshots are well-formed snapshot files at odd positions against
// the segment beside them.
func craftedSnapshots(tb testing.TB) []struct {
	snap  []byte
	segOf uint8
} {
	snap := func(index, term uint64, data string) []byte {
		return record(tb, kindEntry, &pb.Snapshot{Data: []byte(data), Metadata: &pb.SnapshotMetadata{
			Index: new(index), Term: new(term), ConfState: voters3(),
		}})
	}
	return []struct {
		snap  []byte
		segOf uint8
	}{
		{snap(0, 0, "at zero"), noSnapshot},     // index 0: as good as none
		{snap(1, 1, "at 1"), segmentAt3},        // older than the log's base
		{snap(20, 5, "past"), snapshotAt1},      // past the log: none of it kept
		{snap(4, 2, "wrong term"), snapshotAt1}, // inside the log, on another history
		{snap(5, 3, "at the end"), snapshotAt1}, // its commit raised to the snapshot
		{nil, snapshotAt1},                      // an empty file
		{snap(math.MaxUint64, 9, "the last index there is"), endOfIndexes},
	}
}

// frame is a record as readRecord accepts it.
type frame struct {
	kind    recordKind
	payload []byte
}

// frames reads b's records by the format record.go documents, up to the
// first that is short, too long or fails its CRC, which it returns the
// offset of.
func frames(b []byte) (recs []frame, end int) {
	for {
		r := b[end:]
		if len(r) < headerLen+1 {
			return recs, end
		}
		n := binary.LittleEndian.Uint32(r)
		if n < 1 || n > maxRecord || uint64(len(r)) < headerLen+uint64(n) ||
			crc32.Checksum(r[headerLen:headerLen+n], castagnoli) != binary.LittleEndian.Uint32(r[4:]) {
			return recs, end
		}
		recs = append(recs, frame{recordKind(r[headerLen]), r[headerLen+1 : headerLen+n]})
		end += headerLen + int(n)
	}
}

// resealed is b with the CRC of each record whose length fits made right.
func resealed(b []byte) []byte {
	b = bytes.Clone(b)
	for r := b; len(r) > headerLen; {
		n := binary.LittleEndian.Uint32(r)
		if n < 1 || n > maxRecord || uint64(len(r)) < headerLen+uint64(n) {
			break
		}
		binary.LittleEndian.PutUint32(r[4:], crc32.Checksum(r[headerLen:headerLen+n], castagnoli))
		r = r[headerLen+n:]
	}
	return b
}

// recovered is a store's state as Raft reads it at start. The hard state
// is its values: a record of one with none set (or only fields unknown to
// us) is as good as none, and rotation writes none.
type recovered struct {
	Snap               *pb.Snapshot // nil: none (index 0)
	Ents               []*pb.Entry  // after the snapshot
	Term, Vote, Commit uint64
}

func (r recovered) equal(o recovered) bool {
	return proto.Equal(r.Snap, o.Snap) && slices.EqualFunc(r.Ents, o.Ents, func(a, b *pb.Entry) bool { return proto.Equal(a, b) }) &&
		r.Term == o.Term && r.Vote == o.Vote && r.Commit == o.Commit
}

func recoveredOf(t *testing.T, s *Store) recovered {
	t.Helper()
	var r recovered
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetIndex() > 0 {
		r.Snap = snap
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != snap.GetMetadata().GetIndex()+1 {
		t.Fatalf("first index %d after a snapshot at %d", first, snap.GetMetadata().GetIndex())
	}
	if last >= first {
		if r.Ents, err = s.Entries(first, last+1, math.MaxUint64); err != nil {
			t.Fatal(err)
		}
	}
	hs, _, _ := s.InitialState()
	r.Term, r.Vote, r.Commit = hs.GetTerm(), hs.GetVote(), hs.GetCommit()
	return r
}

// modelOpen is what OpenData with a refData must make of a snapshot file
// (nil: none) and a newest segment, by the documents of record.go,
// replay.go, data.go and OpenData: the recovered state, or why it fails
// and the error it fails with (ErrCorrupt, or a Get's). It keeps the log
// as a map and its end, where replay keeps a slice.
func modelOpen(snapFile, seg []byte) (recovered, string, error) {
	var r recovered
	corrupt := func(why string) (recovered, string, error) { return r, why, ErrCorrupt }
	var snapIndex, snapTerm uint64
	if snapFile != nil {
		recs, end := frames(snapFile)
		if len(recs) != 1 || end != len(snapFile) {
			return corrupt("a snapshot file that is not one whole record")
		}
		snap := new(pb.Snapshot)
		if proto.Unmarshal(recs[0].payload, snap) != nil {
			return corrupt("an undecodable snapshot")
		}
		// Index 0 is raft's empty snapshot: as good as none.
		if snapIndex = snap.GetMetadata().GetIndex(); snapIndex > 0 {
			snapTerm = snap.GetMetadata().GetTerm()
			r.Snap = pb.EnsureSnapshot(snap) // as raft.MemoryStorage keeps it
		}
	}
	recs, _ := frames(seg) // a torn tail is cut
	if len(recs) == 0 || recs[0].kind != kindReset {
		return corrupt("a segment that does not start with a reset record")
	}
	var base, baseTerm, last uint64
	log := map[uint64]*pb.Entry{}
	refs := map[uint64]extRef{} // of the external entries of log
	var hs *pb.HardState
	for _, rec := range recs {
		switch rec.kind {
		case kindReset:
			m := new(pb.SnapshotMetadata)
			if proto.Unmarshal(rec.payload, m) != nil {
				return corrupt("an undecodable reset record")
			}
			base, baseTerm, last = m.GetIndex(), m.GetTerm(), m.GetIndex()
			clear(log)
			clear(refs)
		case kindEntry, kindEntryRef:
			e := new(pb.Entry)
			var x extRef
			if rec.kind == kindEntry {
				if proto.Unmarshal(rec.payload, e) != nil {
					return corrupt("an undecodable entry")
				}
			} else {
				// size | sum | the entry, its reference as its data
				if len(rec.payload) < 8 {
					return corrupt("a short reference record")
				}
				// Unknown fields dropped: only index, term, type and
				// reference are written again.
				if (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rec.payload[8:], e) != nil {
					return corrupt("an undecodable reference")
				}
				if e.GetType() != pb.EntryNormal {
					return corrupt("a reference to the data of an entry that has none")
				}
				x = extRef{ref: bytes.Clone(e.GetData()), size: binary.LittleEndian.Uint32(rec.payload), sum: binary.LittleEndian.Uint32(rec.payload[4:]), ext: true}
				if x.size == 0 {
					return corrupt("a reference to no data")
				}
				e.Data = nil
			}
			switch i := e.GetIndex(); {
			case i <= base: // superseded by the reset
			case i-1 > last:
				return corrupt("a gap in the log")
			default:
				log[i], last = e, i // and the entries after i are gone
				refs[i] = x
			}
		case kindHardState:
			hs = new(pb.HardState)
			if proto.Unmarshal(rec.payload, hs) != nil {
				return corrupt("an undecodable hard state")
			}
		default:
			return corrupt("a record of an unknown kind")
		}
	}
	switch {
	case snapIndex > 0 && snapIndex < base:
		return corrupt("a snapshot older than the log's base")
	case snapIndex == 0 && base > 0:
		return corrupt("a log after a snapshot that is not there")
	case snapIndex == math.MaxUint64:
		return corrupt("a snapshot with no room for an entry after it")
	}
	// The log is kept from the snapshot on only if it passes through the
	// snapshot's position.
	from := snapIndex
	switch {
	case snapIndex == base && snapTerm == baseTerm:
	case snapIndex > base && snapIndex <= last && log[snapIndex].GetTerm() == snapTerm:
	default:
		last = snapIndex
	}
	walLast := last
	for i := from; i < last; {
		i++
		e := log[i]
		if x := refs[i]; x.ext {
			data, err := refData{}.Get(i, x.ref)
			if errors.Is(err, errDataFails) {
				return r, "a Get that fails", errDataFails
			}
			// Missing, or not the data of the reference: a torn tail.
			if err != nil || len(data) != int(x.size) || crc32.Checksum(data, castagnoli) != x.sum {
				last = i - 1
				break
			}
			e.Data = data
		}
		r.Ents = append(r.Ents, e)
	}
	if hs != nil {
		// The snapshot's index is committed by definition.
		r.Term, r.Vote, r.Commit = hs.GetTerm(), hs.GetVote(), max(hs.GetCommit(), snapIndex)
		if r.Commit > walLast {
			return corrupt("a hard state that commits past the log")
		}
		// Committing entries lost with their data: lowered.
		r.Commit = min(r.Commit, last)
	}
	return corrupt("")
}

// checkOpen puts snap (nil: none) and seg in a group's directory, beside a
// superseded segment and a rotation's leftover, and checks what Open makes
// of them against modelOpen.
func checkOpen(t *testing.T, snap, seg []byte) {
	const dir = "/g"
	fsys := vfs.NewMem()
	segPath := vfs.Join(dir, segName(2))
	writeFile(t, fsys, vfs.Join(dir, segName(1)), []byte("a segment that wal-2 supersedes"))
	writeFile(t, fsys, segPath+tmpSuffix, []byte("a rotation that did not finish"))
	writeFile(t, fsys, segPath, seg)
	if snap != nil {
		writeFile(t, fsys, vfs.Join(dir, snapName), snap)
	}
	want, corrupt, wantErr := modelOpen(snap, seg)

	before := heapAllocs()
	s, err := OpenData(fsys, dir, refData{})
	// What Open allocates follows from the files' size, never from a
	// length the bytes claim.
	if alloc, limit := heapAllocs()-before, 4<<20+64*uint64(len(snap)+len(seg)); alloc > limit {
		t.Errorf("Open of %d bytes allocated %d, more than %d", len(snap)+len(seg), alloc, limit)
	}
	if corrupt != "" {
		if err == nil {
			got := recoveredOf(t, s)
			s.Close()
			t.Fatalf("Open of %s succeeded: %v", corrupt, got)
		}
		if !errors.Is(err, wantErr) {
			t.Fatalf("Open of %s: %v, want %v", corrupt, err, wantErr)
		}
		// The damaged files are the evidence: Open leaves them alone.
		if b, _ := fsys.ReadFile(segPath); !bytes.Equal(b, seg) {
			t.Fatalf("a failed Open changed the segment")
		}
		if b, err := fsys.ReadFile(vfs.Join(dir, snapName)); snap != nil && (err != nil || !bytes.Equal(b, snap)) {
			t.Fatalf("a failed Open changed the snapshot file (%v)", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Open: %v; want %v", err, want)
	}
	diff := func(s *Store) string {
		got := recoveredOf(t, s)
		if want.equal(got) { // cmp with protocmp took half of each input's time
			return ""
		}
		return cmp.Diff(want, got, protocmp.Transform())
	}
	if d := diff(s); d != "" {
		s.Close()
		t.Fatalf("Open recovered (-want +got):\n%s", d)
	}
	// Open wrote the log it recovered to a new segment and removed what
	// that supersedes.
	files := []string{vfs.Join(dir, segName(3))}
	if snap != nil {
		files = append([]string{vfs.Join(dir, snapName)}, files...)
	}
	if got := fsys.Files(dir + "/"); !cmp.Equal(got, files) {
		t.Errorf("files after Open %q, want %q", got, files)
	}
	s.Close()
	if s, err = OpenData(fsys, dir, refData{}); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if d := diff(s); d != "" {
		s.Close()
		t.Fatalf("reopened (-want +got):\n%s", d)
	}
	// The store takes an append after its recovered log.
	last, _ := s.LastIndex()
	if last == math.MaxUint64 {
		s.Close()
		return
	}
	term, _ := s.Term(last)
	term = max(term, want.Term)
	next := ent(last+1, term, "after recovery")
	if err := s.Save(hardState(term, 0, max(want.Commit, want.Snap.GetMetadata().GetIndex())), []*pb.Entry{next}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s = reopenAfterPowerLoss(t, fsys, s)
	defer s.Close()
	if end, _ := s.LastIndex(); end != last+1 {
		t.Fatalf("the log ends at %d after an append at %d and a reopen", end, last+1)
	}
	if got, err := s.Entries(last+1, last+2, math.MaxUint64); err != nil || len(got) != 1 || !proto.Equal(got[0], next) {
		t.Fatalf("entry %d appended after recovery reads back as %v, %v", last+1, got, err)
	}
}

// writeFile makes a durable file of b.
func writeFile(t *testing.T, fsys *vfs.Mem, name string, b []byte) {
	t.Helper()
	dir := filepath.Dir(name)
	if err := fsys.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

// heapAllocs is the bytes allocated so far, counted as the spans in use
// fill (hence checkOpen's slack); unlike runtime.ReadMemStats it does not
// stop the world, which took a third of each input's time.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
