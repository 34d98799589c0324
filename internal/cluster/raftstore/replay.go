package raftstore

import (
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// replayed is the log as the WAL segments describe it.
type replayed struct {
	baseIndex, baseTerm uint64      // the log holds entries after this position
	ents                []*pb.Entry // contiguous from baseIndex+1
	// ext[k] says where the data of ents[k] is if it is external (its
	// Data is then nil until Open gets it); nil while no entry is.
	ext     []extRef
	hs      *pb.HardState
	lastSeq uint64 // highest segment number seen
}

// after returns the position in ents of the entries that follow the
// snapshot (index, term), or -1. If the replayed log does not pass through
// that position, it diverged from the snapshot's history and none of it is
// kept: Raft will fetch the rest.
func (r *replayed) after(index, term uint64) int {
	switch {
	case index == r.baseIndex && term == r.baseTerm:
		return 0
	case index > r.baseIndex && index <= r.baseIndex+uint64(len(r.ents)):
		if e := r.ents[index-r.baseIndex-1]; e.GetTerm() == term {
			return int(index - r.baseIndex)
		}
	}
	return -1
}

// add puts e (of ref x) at its index, replacing the entries from there on.
func (r *replayed) add(e *pb.Entry, x extRef) error {
	i := e.GetIndex()
	if i <= r.baseIndex {
		return nil // behind the reset point: superseded
	}
	// i-1 against the log's end (i > baseIndex: it cannot wrap), as
	// the end+1 wraps to 0 once the log reaches the last index there is.
	if i-1 > r.baseIndex+uint64(len(r.ents)) {
		return fmt.Errorf("entry %d after a log ending at %d", i, r.baseIndex+uint64(len(r.ents)))
	}
	k := i - r.baseIndex - 1
	r.ents = append(r.ents[:k], e)
	if x.ext && r.ext == nil {
		r.ext = make([]extRef, k, len(r.ents))
	}
	if r.ext != nil {
		r.ext = append(r.ext[:k], x)
	}
	return nil
}

func (r *replayed) apply(kind recordKind, payload []byte) error {
	switch kind {
	case kindEntry:
		e := new(pb.Entry)
		if err := proto.Unmarshal(payload, e); err != nil {
			return err
		}
		return r.add(e, extRef{})
	case kindEntryRef:
		e, x, err := decodeRef(payload)
		if err != nil {
			return err
		}
		return r.add(e, x)
	case kindHardState:
		hs := new(pb.HardState)
		if err := proto.Unmarshal(payload, hs); err != nil {
			return err
		}
		r.hs = hs
	case kindReset:
		m := new(pb.SnapshotMetadata)
		if err := proto.Unmarshal(payload, m); err != nil {
			return err
		}
		r.baseIndex, r.baseTerm, r.ents, r.ext = m.GetIndex(), m.GetTerm(), nil, nil
	default:
		return fmt.Errorf("unknown record kind %d", kind)
	}
	return nil
}

// replay reads the newest segment, which supersedes the others: rotation
// makes a segment's name appear only once its whole content (a reset record
// and the full log) is durable. A torn record ends the replay — the tail of
// the segment was being appended when the process stopped. Older segments
// and temporary files are left for Open's rotation to remove.
func replay(fsys vfs.FS, dir string) (*replayed, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	r := &replayed{}
	for _, n := range names {
		if seq, ok := parseSegName(n); ok && seq > r.lastSeq {
			r.lastSeq = seq
		}
	}
	if r.lastSeq == 0 {
		return r, nil
	}
	name := vfs.Join(dir, segName(r.lastSeq))
	b, err := fsys.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	if len(b) == 0 {
		// Rotation names a segment only once its reset record is durable,
		// so an empty one lost its content, and with it the hard state: a
		// vote forgotten could be given twice in a term.
		return nil, fmt.Errorf("%w: %s is empty", ErrCorrupt, name)
	}
	for off := 0; off < len(b); {
		kind, payload, n, err := readRecord(b[off:])
		if errors.Is(err, errTorn) {
			if off == 0 {
				return nil, fmt.Errorf("%w: %s: first record", ErrCorrupt, name)
			}
			break
		}
		if off == 0 && kind != kindReset {
			return nil, fmt.Errorf("%w: %s does not start with a reset record", ErrCorrupt, name)
		}
		if err := r.apply(kind, payload); err != nil {
			return nil, fmt.Errorf("%w: %s at %d: %v", ErrCorrupt, name, off, err)
		}
		off += n
	}
	return r, nil
}

func readSnap(fsys vfs.FS, dir string) (*pb.Snapshot, error) {
	b, err := fsys.ReadFile(vfs.Join(dir, snapName))
	if errors.Is(err, vfs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	_, payload, n, err := readRecord(b)
	if err != nil || n != len(b) {
		// Written to a temporary file and renamed only after fsync: a bad
		// snapshot file is damage, not a torn write.
		return nil, fmt.Errorf("%w: snapshot file", ErrCorrupt)
	}
	snap := new(pb.Snapshot)
	if err := proto.Unmarshal(payload, snap); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
	}
	return snap, nil
}

// ReadSnapshot reads the latest snapshot in dir without opening the store,
// so it writes nothing and needs no Data: for a tool or a test looking at a
// stopped node's disk. A missing snapshot is raft's empty one.
func ReadSnapshot(fsys vfs.FS, dir string) (*pb.Snapshot, error) { return readSnap(fsys, dir) }
