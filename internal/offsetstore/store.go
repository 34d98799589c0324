// Package offsetstore owns the durable delivery state of every consumer
// group: per group and partition, the committed offset, the acknowledged
// ranges above it and the created_at of the topic it is of. It keeps them in
// offsets.db (bbolt) and, under fsync=interval and never, in journal files
// beside it (offsets-<n>.journal), and makes them durable as the broker's
// fsync policy says, and the offsets retention's clocks of the groups
// (marks.go). It knows nothing of groups' members or of topics: the
// coordinator hands it snapshots, ordered by sequence numbers it takes from
// Next, and reads them back with Load when the broker starts.
package offsetstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

var (
	groupsBucket  = []byte("groups")
	deletedBucket = []byte("deleted-groups") // group → big-endian seq of its last deletion
)

// Store keeps every group's committed offsets, and the acknowledged
// offsets above them, in offsets.db: bucket "groups" → one bucket per group →
// key "<topic>\x00<partition as 4 bytes>" → the partition's Offset (see
// codec.go). It is a file of its own so that the hot ack path never waits
// behind a topic change's fsync of meta.db.
//
// Durability follows the broker's fsync policy, as produced messages do.
// Under FsyncAlways a write returns once offsets.db is synced. Under
// FsyncInterval and FsyncNever it returns once it is in the journal (in the
// OS: a process crash loses nothing), and Sync, called every interval,
// checkpoints the journal into offsets.db (a power loss loses at most the
// acks since, which are delivered again: at-least-once holds). offsets.db
// itself is always written with bolt's fsyncs, so it stays openable.
//
// Group commit: a writer that finds no transaction running commits at once
// (no added delay, unlike bolt's Batch with its MaxBatchDelay); writers
// arriving meanwhile queue, and the next of them commits the whole queue in
// one transaction, so concurrent acks of all groups share one fsync.
//
// Writes of one partition may race (two acks answered out of order); seq
// orders them: a write carrying a smaller seq than the stored one is dropped.
// A deletion leaves a tombstone carrying its seq (a partition's: its key
// marked deleted; a group's: its seq in bucket "deleted-groups"), so a
// snapshot taken before it that commits after it is dropped too and does not
// bring the partition or the group back; a group's deletion removes only
// the partitions written before it. So the stored state does not depend on
// the order writes commit in, only on their seqs.
type Store struct {
	db     *bolt.DB
	policy commitlog.FsyncPolicy // immutable
	jr     *journal              // nil under FsyncAlways; immutable
	seq    atomic.Uint64         // last sequence number handed out; above every stored one
	ckMu   sync.Mutex            // serialises checkpoints (Sync)

	mu      sync.Mutex
	queue   []*pendingWrite // guarded by mu: waiting for the next transaction
	running bool            // guarded by mu: a writer is committing
}

// pendingWrite is one caller's ops waiting in the queue; done receives
// the result of the transaction that carried them, unless lead first makes
// the caller the next committer.
type pendingWrite struct {
	ops  []op
	done chan error
	lead chan struct{}
}

// Offset is one partition's stored delivery state.
type Offset struct {
	// Seq orders the writes of one partition: Next's value when the
	// snapshot was taken.
	Seq       uint64
	Committed int64
	Acked     []delivery.Range // acknowledged above Committed
	// Born is the created_at of the topic the state is of (0: unknown), so
	// that offsets of a topic deleted and created again under its name
	// while the broker was down are recognised.
	Born int64
	// Metadata is what a Kafka client committed with Committed ("":
	// none).
	Metadata string `json:",omitempty"`
}

// Write is one partition's state to persist, or with Delete its deletion
// (of Offset only Seq counts then).
type Write struct {
	Group  string
	TP     delivery.TP
	Offset Offset
	Delete bool
}

// op is a Write, or with deleteGroup the deletion of the whole group (TP
// unused): what the journal and a transaction carry.
type op struct {
	Write
	deleteGroup bool
}

// Open opens (creating it if need be) the store in dir, replaying any
// journal a previous run left, and under FsyncInterval and FsyncNever
// starts a new journal file.
func Open(dir string, policy commitlog.FsyncPolicy) (*Store, error) {
	db, err := bolt.Open(filepath.Join(dir, "offsets.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("offsetstore: open offsets.db: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(groupsBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(deletedBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("offsetstore: init offsets.db: %w", err)
	}
	s := &Store{db: db, policy: policy}
	last, err := s.replay(dir)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.forgetTombstones(); err != nil {
		db.Close()
		return nil, err
	}
	if policy != commitlog.FsyncAlways {
		if s.jr, err = openJournal(dir, last); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

// forgetTombstones forgets the deleted groups' tombstones (bucket
// "deleted-groups") once the journal is replayed: a tombstone only keeps
// a write taken before its deletion from bringing the group back, and no
// write of a previous run is left to arrive. Kept, every group ever
// deleted (now by offsets retention too: random group names, made and
// left by the thousand) grew offsets.db for good. The groups' own
// partitions and marks carry their seqs, which Load and Marks raise Next
// above.
func (s *Store) forgetTombstones() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(deletedBucket).Stats().KeyN == 0 {
			return nil
		}
		if err := tx.DeleteBucket(deletedBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucket(deletedBucket)
		return err
	})
	if err != nil {
		return fmt.Errorf("offsetstore: forget deleted groups: %w", err)
	}
	return nil
}

// replay commits the journal files a previous run left into offsets.db, in
// order, and removes them. It returns the highest file number seen.
func (s *Store) replay(dir string) (uint64, error) {
	files, last, err := journalFiles(dir)
	if err != nil || len(files) == 0 {
		return last, err
	}
	var all []op
	for _, f := range files {
		ops, err := readJournal(f)
		if err != nil {
			return 0, fmt.Errorf("offsetstore: replay journal: %w", err)
		}
		all = append(all, ops...)
	}
	if err := s.commit(all); err != nil {
		return 0, err
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return 0, fmt.Errorf("offsetstore: replay journal: %w", err)
		}
	}
	return last, nil
}

func offsetKey(tp delivery.TP) []byte {
	k := make([]byte, 0, len(tp.Topic)+5)
	k = append(k, tp.Topic...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(tp.Partition))
}

func parseOffsetKey(k []byte) (delivery.TP, bool) {
	if len(k) < 5 || k[len(k)-5] != 0 {
		return delivery.TP{}, false
	}
	return delivery.TP{Topic: string(k[:len(k)-5]), Partition: int32(binary.BigEndian.Uint32(k[len(k)-4:]))}, true
}

// Next returns the sequence number for a snapshot taken now. Callers take
// it under the lock that guards the state they snapshot, so seq order is
// state order.
func (s *Store) Next() uint64 { return s.seq.Add(1) }

// Journaled reports whether writes go to the journal (FsyncInterval and
// FsyncNever), so that Sync has checkpoints to make.
func (s *Store) Journaled() bool { return s.jr != nil }

// Load returns every group's stored partitions (a group deleted has none;
// one whose partitions were all deleted maps to an empty map) and raises
// Next above every stored seq. It reads offsets.db: under a journal, what
// the last Sync checkpointed.
func (s *Store) Load() (map[string]map[delivery.TP]Offset, error) {
	out := make(map[string]map[delivery.TP]Offset)
	var maxSeq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(deletedBucket).ForEach(func(_, v []byte) error {
			maxSeq = max(maxSeq, seqOf(v))
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(groupsBucket).ForEachBucket(func(name []byte) error {
			parts := make(map[delivery.TP]Offset)
			out[string(name)] = parts
			return tx.Bucket(groupsBucket).Bucket(name).ForEach(func(k, v []byte) error {
				tp, ok := parseOffsetKey(k)
				if !ok {
					return fmt.Errorf("group %q: bad key %q", name, k)
				}
				off, deleted, err := decodeValue(v)
				if err != nil {
					return fmt.Errorf("group %q %s/%d: %w", name, tp.Topic, tp.Partition, err)
				}
				maxSeq = max(maxSeq, off.Seq)
				if !deleted {
					parts[tp] = off
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("offsetstore: read offsets.db: %w", err)
	}
	for cur := s.seq.Load(); cur < maxSeq && !s.seq.CompareAndSwap(cur, maxSeq); cur = s.seq.Load() {
	}
	return out, nil
}

// Write persists ws durably, as the fsync policy says, skipping any that an
// already stored, newer write supersedes.
func (s *Store) Write(ws []Write) error {
	if len(ws) == 0 {
		return nil
	}
	ops := make([]op, len(ws))
	for i, w := range ws {
		ops[i] = op{Write: w}
	}
	return s.write(ops)
}

// DeleteGroup forgets every offset of group, in order with the writes
// before and after it.
func (s *Store) DeleteGroup(group string) error {
	if err := s.write([]op{{Write: Write{Group: group, Offset: Offset{Seq: s.Next()}}, deleteGroup: true}}); err != nil {
		return fmt.Errorf("offsetstore: delete offsets of group %q: %w", group, err)
	}
	return nil
}

func (s *Store) write(ops []op) error {
	pw := &pendingWrite{ops: ops, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, pw)
	if s.running {
		s.mu.Unlock()
		select {
		case err := <-pw.done:
			return err
		case <-pw.lead:
		}
	} else {
		s.running = true
		s.mu.Unlock()
	}
	s.commitQueued()
	return <-pw.done
}

// commitQueued commits the whole queue in one transaction, then hands the
// committer's role to the first writer queued meanwhile (so no caller
// commits for others forever), or ends it. Only the committer runs it.
func (s *Store) commitQueued() {
	s.mu.Lock()
	batch := s.queue
	s.queue = nil
	s.mu.Unlock()
	var all []op
	for _, pw := range batch {
		all = append(all, pw.ops...)
	}
	var err error
	if s.jr != nil {
		err = s.jr.append(all)
	} else {
		err = s.commit(all)
	}
	for _, pw := range batch {
		pw.done <- err
	}
	s.mu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].lead <- struct{}{}
	} else {
		s.running = false
	}
	s.mu.Unlock()
}

func (s *Store) commit(ops []op) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		root, dead := tx.Bucket(groupsBucket), tx.Bucket(deletedBucket)
		for _, o := range ops {
			if seqOf(dead.Get([]byte(o.Group))) > o.Offset.Seq {
				continue // the group was deleted after this write was taken
			}
			if o.deleteGroup {
				if err := deleteOlder(root, o.Group, o.Offset.Seq); err != nil {
					return err
				}
				if err := deleteMarkOlder(tx, o.Group, o.Offset.Seq); err != nil {
					return err
				}
				if err := dead.Put([]byte(o.Group), binary.BigEndian.AppendUint64(nil, o.Offset.Seq)); err != nil {
					return err
				}
				continue
			}
			gb, err := root.CreateBucketIfNotExists([]byte(o.Group))
			if err != nil {
				return err
			}
			k := offsetKey(o.TP)
			if old := gb.Get(k); old != nil {
				if so, _, err := decodeValue(old); err == nil && so.Seq > o.Offset.Seq {
					continue
				}
			}
			off := o.Offset
			if o.Delete {
				off = Offset{Seq: off.Seq}
			}
			if err := gb.Put(k, encodeValue(off, o.Delete)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("offsetstore: write offsets: %w", err)
	}
	return nil
}

// deleteOlder deletes the partitions of group written before seq, and the
// group's bucket if none is left. One written after (by a snapshot taken
// after the deletion's, which committed first) stays, as it would against a
// partition's deletion: a smaller seq never overwrites a larger one.
func deleteOlder(root *bolt.Bucket, group string, seq uint64) error {
	gb := root.Bucket([]byte(group))
	if gb == nil {
		return nil
	}
	var older [][]byte
	kept := 0
	if err := gb.ForEach(func(k, v []byte) error {
		// An undecodable value has no seq to keep it by.
		if off, _, err := decodeValue(v); err != nil || off.Seq < seq {
			older = append(older, k)
		} else {
			kept++
		}
		return nil
	}); err != nil {
		return err
	}
	if kept == 0 {
		return root.DeleteBucket([]byte(group))
	}
	for _, k := range older {
		if err := gb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// seqOf decodes a deletion's seq from bucket "deleted-groups"; 0 for none.
func seqOf(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Sync checkpoints the journal into offsets.db: what it held is then
// durable, and its files are removed. The broker calls it every fsync
// interval; without a journal it does nothing.
func (s *Store) Sync() error {
	if s.jr == nil {
		return nil
	}
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	ops, files, err := s.jr.take()
	if err != nil || len(ops) == 0 && len(files) == 0 {
		return err
	}
	if err := s.commit(ops); err != nil {
		s.jr.giveBack(ops, files)
		return err
	}
	for _, f := range files {
		if rerr := os.Remove(f); rerr != nil {
			err = errors.Join(err, fmt.Errorf("offsetstore: remove checkpointed journal: %w", rerr))
		}
	}
	return err
}

// Close checkpoints the journal (if any) and closes the files.
func (s *Store) Close() error {
	var err error
	if s.jr != nil {
		err = errors.Join(s.Sync(), s.jr.close())
	}
	return errors.Join(err, s.db.Close())
}
