package offsetstore

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The offsets retention's clocks (see coordinator's groupexpiry.go): per
// group, when it was last in use, and when the coordinator last swept
// the groups, so that a restart can tell how long the broker was down.
// Written rarely (a group's at most every so often while in use), so
// straight into offsets.db, synced, never through the journal.
var (
	activeBucket = []byte("group-active") // group → big-endian seq, unix ms
	aliveBucket  = []byte("alive")        // aliveKey → big-endian unix ms
	aliveKey     = []byte("at")
)

// Mark is when group was last in use (At, unix ms), taken at Seq (Next,
// under the group's lock): a deletion of the group with a later seq
// forgets it, and one with an earlier seq does not.
type Mark struct {
	Group string
	Seq   uint64
	At    int64
}

// SaveMarks stores alive (unix ms; 0 leaves it) and marks, synced, in one
// transaction. A mark older than the group's last deletion, or than the
// mark stored, is dropped.
func (s *Store) SaveMarks(alive int64, marks []Mark) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if alive != 0 {
			b, err := tx.CreateBucketIfNotExists(aliveBucket)
			if err != nil {
				return err
			}
			if err := b.Put(aliveKey, binary.BigEndian.AppendUint64(nil, uint64(alive))); err != nil {
				return err
			}
		}
		if len(marks) == 0 {
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(activeBucket)
		if err != nil {
			return err
		}
		dead := tx.Bucket(deletedBucket)
		for _, m := range marks {
			if seqOf(dead.Get([]byte(m.Group))) > m.Seq {
				continue // deleted after the mark was taken
			}
			if seq, _, ok := decodeMark(b.Get([]byte(m.Group))); ok && seq > m.Seq {
				continue
			}
			v := binary.BigEndian.AppendUint64(nil, m.Seq)
			if err := b.Put([]byte(m.Group), binary.BigEndian.AppendUint64(v, uint64(m.At))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("offsetstore: save the groups' retention clocks: %w", err)
	}
	return nil
}

// Marks returns what SaveMarks stored: alive (0: never) and each group's
// mark (unix ms), and raises Next above every mark's seq.
func (s *Store) Marks() (alive int64, active map[string]int64, err error) {
	active = map[string]int64{}
	var maxSeq uint64
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(aliveBucket); b != nil {
			if v := b.Get(aliveKey); len(v) == 8 {
				alive = int64(binary.BigEndian.Uint64(v))
			}
		}
		b := tx.Bucket(activeBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if seq, at, ok := decodeMark(v); ok {
				active[string(k)] = at
				maxSeq = max(maxSeq, seq)
			}
			return nil
		})
	})
	if err != nil {
		return 0, nil, fmt.Errorf("offsetstore: read the groups' retention clocks: %w", err)
	}
	for cur := s.seq.Load(); cur < maxSeq && !s.seq.CompareAndSwap(cur, maxSeq); cur = s.seq.Load() {
	}
	return alive, active, nil
}

// deleteMarkOlder forgets group's mark if it was taken before seq (its
// deletion's). Called in the deletion's transaction.
func deleteMarkOlder(tx *bolt.Tx, group string, seq uint64) error {
	b := tx.Bucket(activeBucket)
	if b == nil {
		return nil
	}
	if mseq, _, ok := decodeMark(b.Get([]byte(group))); ok && mseq >= seq {
		return nil
	}
	return b.Delete([]byte(group))
}

func decodeMark(v []byte) (seq uint64, at int64, ok bool) {
	if len(v) != 16 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(v[:8]), int64(binary.BigEndian.Uint64(v[8:])), true
}
