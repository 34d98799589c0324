package coordinator

import (
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// writtenOffset is a partition's committed offset as written (see
// cgroup.written).
type writtenOffset struct {
	seq       uint64 // the write's; 0: restored or adopted
	committed int64
	metadata  string // a Kafka client's, written with committed
	deleted   bool   // the write forgot the partition's state
}

// wroteLocked records ws, offset writes that ended written, in
// cg.written, unless a newer write of the same partition ended written
// before. A deletion is kept only while another write of its partition
// is in progress or kept unwritten, which it must outrank when it ends
// (the last of them ending written drops it); else the partition is
// dropped from written, which forgets a deleted topic's partitions. The
// caller holds cg.mu, and has ended ws and the writes they superseded
// (writesEndedLocked). A failed write of the same partition kept
// unwritten that w outranks is superseded (supersededLocked): dropped, it
// is neither written again nor counted failed by the reads.
func (cg *cgroup) wroteLocked(ws ...offsetstore.Write) {
	if cg.written == nil {
		cg.written = make(map[delivery.TP]writtenOffset, len(ws))
	}
	for _, w := range ws {
		if u, ok := cg.unwritten[w.TP]; ok && u.Offset.Seq < w.Offset.Seq {
			delete(cg.unwritten, w.TP)
		}
		if old, ok := cg.written[w.TP]; ok && old.seq > w.Offset.Seq {
			// A deletion kept for w, an older write ending after it, goes
			// with the last of those.
			if old.deleted && !cg.writingOtherLocked(offsetstore.Write{TP: w.TP, Offset: offsetstore.Offset{Seq: old.seq}}) {
				delete(cg.written, w.TP)
			}
			continue
		}
		if w.Delete && !cg.writingOtherLocked(w) {
			delete(cg.written, w.TP)
			continue
		}
		cg.written[w.TP] = writtenOffset{seq: w.Offset.Seq, committed: w.Offset.Committed, metadata: w.Offset.Metadata, deleted: w.Delete}
	}
}

// supersededLocked reports whether a write of tp newer than the one
// numbered seq has ended written: the older one, in progress or failed,
// no longer counts. The store keeps a partition's newest write whatever
// order its writes end in, and a write carries its partition's whole
// state, so the older write can change nothing written; the newer one
// made durable what the older one would have, and more. The caller holds
// cg.mu.
func (cg *cgroup) supersededLocked(tp delivery.TP, seq uint64) bool {
	w, ok := cg.written[tp]
	return ok && w.seq > seq
}

// writingOtherLocked reports whether a write of w's partition other than
// w is in progress or kept unwritten. The caller holds cg.mu.
func (cg *cgroup) writingOtherLocked(w offsetstore.Write) bool {
	if u, ok := cg.unwritten[w.TP]; ok && u.Offset.Seq != w.Offset.Seq {
		return true
	}
	for _, tp := range cg.writing {
		if tp == w.TP {
			return true
		}
	}
	return false
}

// writtenView reads cg's committed offsets as written, without waiting
// for the writes in progress: the offset in memory where no write of its
// partition is in progress or kept unwritten, else the last written (see
// cgroup.written). Descriptions, stats and lag read it: an ack or commit
// whose write has not ended (and may fail) shows only once it has, and
// no committed offset shown goes back for a write that failed, a restart
// or another coordinator. Taken under cg.mu; valid while it is held.
type writtenView struct {
	cg      *cgroup
	pending map[delivery.TP]bool // nil: none
}

// writtenViewLocked is cg's writtenView. The caller holds cg.mu.
func (cg *cgroup) writtenViewLocked() writtenView {
	v := writtenView{cg: cg}
	if len(cg.writing) == 0 && len(cg.unwritten) == 0 {
		return v
	}
	v.pending = make(map[delivery.TP]bool, len(cg.writing)+len(cg.unwritten))
	for _, tp := range cg.writing {
		v.pending[tp] = true
	}
	for tp := range cg.unwritten {
		v.pending[tp] = true
	}
	return v
}

// committed returns tp's committed offset as written; ok is false where
// none is (the group has no state on tp, or its deletion is written).
func (v writtenView) committed(tp delivery.TP) (offset int64, ok bool) {
	if !v.pending[tp] {
		return v.cg.a.Committed(tp)
	}
	w, ok := v.cg.written[tp]
	if !ok || w.deleted {
		return 0, false
	}
	return w.committed, true
}

// metadata returns the metadata a Kafka client committed with tp's
// committed offset as written (committed); "" where none was.
func (v writtenView) metadata(tp delivery.TP) string {
	if !v.pending[tp] {
		return v.cg.a.Metadata(tp)
	}
	return v.cg.written[tp].metadata
}

// partitions returns the partitions with a committed offset written whose
// state the group has forgotten since (a deletion in progress or
// unwritten), which the group's own list (Partitions) no longer names.
func (v writtenView) partitions() []delivery.TP {
	var out []delivery.TP
	for tp := range v.pending {
		if _, ok := v.committed(tp); ok && !v.cg.a.Has(tp) {
			out = append(out, tp)
		}
	}
	return out
}

// commits returns the committed offsets of v, never nil, and the metadata
// Kafka clients committed with them (only partitions that have some).
func (v writtenView) commits() (Offsets, CommitMetadata) {
	out, meta := Offsets{}, CommitMetadata{}
	for _, tp := range append(v.cg.a.Partitions(), v.partitions()...) {
		off, ok := v.committed(tp)
		if !ok {
			continue
		}
		if out[tp.Topic] == nil {
			out[tp.Topic] = make(map[int32]int64)
		}
		out[tp.Topic][tp.Partition] = off
		if text := v.metadata(tp); text != "" {
			if meta[tp.Topic] == nil {
				meta[tp.Topic] = make(map[int32]string)
			}
			meta[tp.Topic][tp.Partition] = text
		}
	}
	return out, meta
}
