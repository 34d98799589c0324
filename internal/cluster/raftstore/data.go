package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Data keeps the data of a group's normal entries outside the WAL: a
// partition's commitlog, so that a record batch is written once. The WAL
// then holds, for such an entry, its index, term and type and a reference
// to the data (an "external" entry); everything else (hard state,
// snapshots' positions, empty entries, configuration changes, and the
// entries the owner declines) stays in the WAL whole. Raft still reads
// every entry whole from memory: Open reads the data back through Get.
//
// The store calls Put, Cut and Get from the goroutine that owns it, and
// Sync either from there or, for the sync FlushLater returns, from
// another goroutine while the owner goes on with Saves (and so with Puts
// and Cuts): Sync must be safe to call concurrently with them, and make
// durable at least everything Put before it was called.
//
// Every WAL sync is preceded by a Sync of what was Put before it, so every
// reference the store counts as durable has durable data. (The sync that
// FlushLater returns may also carry to disk references written while it
// runs, whose data its Sync may have missed; the store never counted them
// as durable, and Open takes them for a torn tail if their data is lost.)
//
// What the owner must guarantee:
//   - Durability: after Sync returns, everything Put before it was called
//     survives a crash.
//   - Get returns exactly the bytes Put for the entry of that index whose
//     reference is ref, or an error wrapping ErrDataMissing if it does not
//     have them (its unsynced tail lost in a crash, or cut). Other bytes
//     are caught (the WAL keeps their length and CRC-32C) and taken as
//     missing, but the owner should not rely on that: a reference should
//     name its entry's index, so that data put again at the same place
//     after a Cut is not taken for the older entry's.
//   - Cut(i) drops the data of every entry from index i on; later Puts
//     start again at i. Its effect need not be durable before the next
//     Sync returns: Open takes data that is missing for a torn tail.
//   - Neither Put's entry nor the slice Get returns is changed
//     afterwards: the store keeps both (Raft sends entries from memory).
//
// The owner may drop the data of entries at or below the index of a
// snapshot the store has taken or applied (CreateSnapshot or
// ApplySnapshot returned) whenever it likes: Open reads only what follows
// the snapshot, and the entries kept behind it are read from memory.
type Data interface {
	// Put is called by Save for each EntryNormal entry with non-empty
	// data (but those the snapshot covers, which the log drops, and data
	// past 4 GiB), in index order, before anything of that Save is
	// written to the WAL. It stores the entry's data and returns a
	// reference to it (small and opaque to the store, e.g. an offset
	// range; the store keeps the slice, so the owner must not change it
	// afterwards; at most a few hundred bytes, as rotation rewrites it), or
	// ok=false to have the WAL keep the data itself: the owner may decline
	// any entry, e.g. while its log cannot take it yet. An error fails the
	// Save, as a WAL write error does.
	Put(e *pb.Entry) (ref []byte, ok bool, err error)
	// Cut drops the stored data of every entry from index on. The store
	// calls it when its log loses entries from index on of which at least
	// one is external: Save's entries overwriting a suffix (before the
	// new entries are Put), and ApplySnapshot discarding a log that runs
	// past the snapshot (Cut(snapshot's index+1), before anything is
	// written). OpenData calls it once, always, before it writes
	// anything, with the index after the recovered log's last external
	// entry (or after the snapshot, if it has none): the owner then
	// holds no data that the log does not refer to — data whose WAL
	// record a crash took (the log may still hold an older, inline entry
	// of that index), or that Open dropped as a torn tail.
	Cut(index uint64) error
	// Get returns the data of entry index stored at ref. OpenData calls
	// it, in index order, for each external entry of the log it recovers
	// (those after the snapshot). An error wrapping ErrDataMissing says
	// the owner lost the data (an unsynced tail): OpenData then drops
	// that entry and every later one as a torn tail of the WAL; any other
	// error fails OpenData.
	Get(index uint64, ref []byte) ([]byte, error)
	// Sync makes everything Put so far durable. The store calls it before
	// it syncs the WAL (Sync, Flush, the sync FlushLater returns, a
	// rotation), and only when something was Put since it last did.
	Sync() error
}

// ErrDataMissing is wrapped by the error a Data's Get returns when it does
// not have an entry's data.
var ErrDataMissing = errors.New("raftstore: entry data missing")

// extRef is where an external entry's data is, and what it must be.
type extRef struct {
	ref  []byte // Put's reference
	size uint32 // length of the data
	sum  uint32 // CRC-32C of the data
	ext  bool   // false: the WAL holds the entry whole
}

// A kindEntryRef record's payload is
//
//	size uint32 | sum uint32 | raftpb.Entry with the reference as its Data
//
// size and sum are the data's length and CRC-32C: Open takes data that
// does not match them for missing.
const refHeaderLen = 8

// appendRef appends the record of external entry e.
func appendRef(dst []byte, e *pb.Entry, x extRef) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, headerLen+1)...)
	dst = binary.LittleEndian.AppendUint32(dst, x.size)
	dst = binary.LittleEndian.AppendUint32(dst, x.sum)
	m := &pb.Entry{Index: e.Index, Term: e.Term, Type: e.Type, Data: x.ref}
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil {
		return dst[:start], fmt.Errorf("raftstore: encode: %w", err)
	}
	return sealRecord(dst, start, kindEntryRef), nil
}

// refRecordSize is the size of the record appendRef writes for e.
func refRecordSize(e *pb.Entry, x extRef) int {
	return headerLen + 1 + refHeaderLen + proto.Size(&pb.Entry{Index: e.Index, Term: e.Term, Type: e.Type, Data: x.ref})
}

// decodeRef decodes a kindEntryRef payload into its entry (without data)
// and reference.
func decodeRef(payload []byte) (*pb.Entry, extRef, error) {
	if len(payload) < refHeaderLen {
		return nil, extRef{}, errors.New("short reference record")
	}
	// Fields unknown to us are dropped, as appendRef writes none: a
	// reference rewritten by a rotation reads back the same.
	e := new(pb.Entry)
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(payload[refHeaderLen:], e); err != nil {
		return nil, extRef{}, err
	}
	x := extRef{ref: e.Data, size: binary.LittleEndian.Uint32(payload), sum: binary.LittleEndian.Uint32(payload[4:]), ext: true}
	if x.ref == nil {
		x.ref = []byte{} // empty, and not nil: an empty reference is one
	}
	e.Data = nil
	if e.GetType() != pb.EntryNormal {
		return nil, extRef{}, fmt.Errorf("reference to the data of entry %d of type %v", e.GetIndex(), e.GetType())
	}
	if x.size == 0 {
		return nil, extRef{}, fmt.Errorf("reference to no data for entry %d", e.GetIndex())
	}
	return e, x, nil
}

// matches reports whether data is what x was made of.
func (x extRef) matches(data []byte) bool {
	return uint64(len(data)) == uint64(x.size) && crc32.Checksum(data, castagnoli) == x.sum
}

// putData hands ents' data to the store's Data and returns their
// references (nil if the owner took none). It first cuts the owner's data
// from the first entry on if ents overwrite an external entry.
func (s *Store) putData(ents []*pb.Entry) ([]extRef, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	first := ents[0].GetIndex()
	if s.hasExtFrom(first) {
		if err := s.data.Cut(first); err != nil {
			return nil, fmt.Errorf("raftstore: cut data from %d: %w", first, err)
		}
		s.truncExt(first)
	}
	var refs []extRef
	for i, e := range ents {
		if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 || uint64(len(e.GetData())) > math.MaxUint32 {
			continue // the record's size field is 32 bits
		}
		ref, ok, err := s.data.Put(e)
		if err != nil {
			return nil, fmt.Errorf("raftstore: put data of entry %d: %w", e.GetIndex(), err)
		}
		if !ok {
			continue
		}
		if refs == nil {
			refs = make([]extRef, len(ents))
		}
		if ref == nil {
			ref = []byte{}
		}
		refs[i] = extRef{ref: ref, size: uint32(len(e.GetData())), sum: crc32.Checksum(e.GetData(), castagnoli), ext: true}
		s.dataPending = true
	}
	return refs, nil
}

// readData fills in the data of ents' external entries (ext, parallel to
// ents; nil: none is) from s.data, and returns ents up to the first whose
// data is missing.
func (s *Store) readData(ents []*pb.Entry, ext []extRef) ([]*pb.Entry, error) {
	for k, x := range ext {
		if !x.ext {
			continue
		}
		e := ents[k]
		if s.data == nil {
			return nil, fmt.Errorf("%w: the data of entry %d is outside the WAL, and Open was given no Data", ErrCorrupt, e.GetIndex())
		}
		b, err := s.data.Get(e.GetIndex(), x.ref)
		if err != nil && !errors.Is(err, ErrDataMissing) {
			return nil, fmt.Errorf("raftstore: get data of entry %d: %w", e.GetIndex(), err)
		}
		if err != nil || !x.matches(b) {
			// Lost with the owner's unsynced tail, or cut by an
			// overwrite whose records a crash took (or not the bytes
			// Put): an entry the store never counted durable, or one
			// it had replaced; so are the entries after it (see Data).
			return ents[:k], nil
		}
		e.Data = b
	}
	return ents, nil
}

// cutUnreferenced has the owner drop whatever the recovered log (after a
// snapshot at snapIndex) does not refer to: data Put whose WAL record a
// crash took (the log may hold an older, inline entry of that index), or
// that Open dropped as torn. All of it lies after the log's last external
// entry.
func (s *Store) cutUnreferenced(snapIndex uint64) error {
	if s.data == nil {
		return nil
	}
	from := snapIndex + 1
	for k := len(s.ext) - 1; k >= 0; k-- {
		if s.ext[k].ext {
			from = s.extFirst + uint64(k) + 1
			if from == 0 {
				return nil // the last index there is: nothing after it
			}
			break
		}
	}
	if err := s.data.Cut(from); err != nil {
		return fmt.Errorf("raftstore: cut data from %d: %w", from, err)
	}
	return nil
}

// The store's refs of the in-memory log: ext[k] is of entry extFirst+k;
// entries past the slice's end are inline. Only a store with a Data keeps
// them.

// hasExtFrom reports whether an external entry at or after index i is in
// memory.
func (s *Store) hasExtFrom(i uint64) bool {
	k := uint64(0)
	if i > s.extFirst {
		k = i - s.extFirst
	}
	for ; k < uint64(len(s.ext)); k++ {
		if s.ext[k].ext {
			return true
		}
	}
	return false
}

// truncExt forgets the refs from index i on.
func (s *Store) truncExt(i uint64) {
	switch {
	case i <= s.extFirst:
		s.ext = s.ext[:0]
	case i-s.extFirst < uint64(len(s.ext)):
		s.ext = s.ext[:i-s.extFirst]
	}
}

// appendExt records the refs of ents (refs nil: all inline), which were
// just appended to memory, overwriting from their first index on.
func (s *Store) appendExt(ents []*pb.Entry, refs []extRef) {
	if len(ents) == 0 {
		return
	}
	first := ents[0].GetIndex()
	s.truncExt(first)
	if refs == nil {
		return
	}
	if len(s.ext) == 0 {
		s.extFirst = first
	}
	if end := s.extFirst + uint64(len(s.ext)); first > end {
		// Inline entries between: the slice is dense.
		s.ext = append(s.ext, make([]extRef, first-end)...)
	}
	s.ext = append(s.ext, refs...)
}

// trimExt forgets the refs of entries no longer in memory (compacted).
func (s *Store) trimExt() {
	first, _ := s.FirstIndex()
	if first <= s.extFirst {
		return
	}
	if k := first - s.extFirst; k < uint64(len(s.ext)) {
		s.ext = s.ext[k:]
	} else {
		s.ext = s.ext[:0]
	}
	s.extFirst = first
}

// extAt returns the ref of entry i (inline if none).
func (s *Store) extAt(i uint64) extRef {
	if i >= s.extFirst && i-s.extFirst < uint64(len(s.ext)) {
		return s.ext[i-s.extFirst]
	}
	return extRef{}
}
