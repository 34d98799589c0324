package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

var (
	groupsBucket  = []byte("groups")
	deletedBucket = []byte("deleted-groups") // group → big-endian seq of its last deletion
)

// offsetStore keeps every group's committed offsets, and the acknowledged
// offsets above them, in offsets.db: bucket "groups" → one bucket per group →
// key "<topic>\x00<partition as 4 bytes>" → storedOffset as JSON. It is a file
// of its own so that the hot ack path never waits behind a topic change's
// fsync of meta.db.
//
// Durability follows the broker's fsync policy, as produced messages do.
// Under FsyncAlways a write returns once offsets.db is synced. Under
// FsyncInterval and FsyncNever it returns once it is in the journal (in the
// OS: a process crash loses nothing), and the timer loop's sync checkpoints
// the journal into offsets.db every interval (a power loss loses at most the
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
// bring the partition or the group back.
type offsetStore struct {
	db     *bolt.DB
	policy commitlog.FsyncPolicy // immutable
	jr     *journal              // nil under FsyncAlways; immutable
	seq    atomic.Uint64         // last sequence number handed out; above every stored one
	ckMu   sync.Mutex            // serialises checkpoints (sync)

	mu      sync.Mutex
	queue   []*pendingWrite // guarded by mu: waiting for the next transaction
	running bool            // guarded by mu: a writer is committing
}

// pendingWrite is one caller's writes waiting in the queue; done receives
// the result of the transaction that carried them, unless lead first makes
// the caller the next committer.
type pendingWrite struct {
	ws   []offsetWrite
	done chan error
	lead chan struct{}
}

// storedOffset is one partition's persisted delivery state.
type storedOffset struct {
	Seq       uint64           `json:"seq"`
	Committed int64            `json:"committed"`
	Acked     []delivery.Range `json:"acked,omitempty"`
	Deleted   bool             `json:"deleted,omitempty"` // a tombstone
	// Born is the created_at of the topic the state is of (0: unknown), so
	// that offsets of a topic deleted and created again under its name
	// while the broker was down are recognised (syncTopics).
	Born int64 `json:"born,omitempty"`
}

// offsetWrite is one partition's state to persist (or delete, with del), or
// with delGroup the deletion of the whole group (tp and off unused).
type offsetWrite struct {
	group    string
	tp       delivery.TP
	off      storedOffset
	del      bool
	delGroup bool
}

func openOffsets(dir string, policy commitlog.FsyncPolicy) (*offsetStore, error) {
	db, err := bolt.Open(filepath.Join(dir, "offsets.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("broker: open offsets.db: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(groupsBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(deletedBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("broker: init offsets.db: %w", err)
	}
	s := &offsetStore{db: db, policy: policy}
	last, err := s.replay(dir)
	if err != nil {
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

// replay commits the journal files a previous run left into offsets.db, in
// order, and removes them. It returns the highest file number seen.
func (s *offsetStore) replay(dir string) (uint64, error) {
	files, last, err := journalFiles(dir)
	if err != nil || len(files) == 0 {
		return last, err
	}
	var all []offsetWrite
	for _, f := range files {
		ops, err := readJournal(f)
		if err != nil {
			return 0, fmt.Errorf("broker: replay offsets journal: %w", err)
		}
		all = append(all, ops...)
	}
	if err := s.commit(all); err != nil {
		return 0, err
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return 0, fmt.Errorf("broker: replay offsets journal: %w", err)
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

// next returns the sequence number for a snapshot taken now. Callers take it
// under the lock that guards the state they snapshot, so seq order is state
// order.
func (s *offsetStore) next() uint64 { return s.seq.Add(1) }

// load returns every group's stored partitions and raises seq above them.
func (s *offsetStore) load() (map[string]map[delivery.TP]storedOffset, error) {
	out := make(map[string]map[delivery.TP]storedOffset)
	var maxSeq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(deletedBucket).ForEach(func(_, v []byte) error {
			maxSeq = max(maxSeq, seqOf(v))
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(groupsBucket).ForEachBucket(func(name []byte) error {
			parts := make(map[delivery.TP]storedOffset)
			out[string(name)] = parts
			return tx.Bucket(groupsBucket).Bucket(name).ForEach(func(k, v []byte) error {
				tp, ok := parseOffsetKey(k)
				if !ok {
					return fmt.Errorf("group %q: bad key %q", name, k)
				}
				var so storedOffset
				if err := json.Unmarshal(v, &so); err != nil {
					return fmt.Errorf("group %q %s/%d: %w", name, tp.Topic, tp.Partition, err)
				}
				maxSeq = max(maxSeq, so.Seq)
				if !so.Deleted {
					parts[tp] = so
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("broker: read offsets.db: %w", err)
	}
	s.seq.Store(maxSeq)
	return out, nil
}

// write persists ws durably, skipping any that an already stored, newer
// write supersedes.
func (s *offsetStore) write(ws []offsetWrite) error {
	if len(ws) == 0 {
		return nil
	}
	pw := &pendingWrite{ws: ws, done: make(chan error, 1), lead: make(chan struct{}, 1)}
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
func (s *offsetStore) commitQueued() {
	s.mu.Lock()
	batch := s.queue
	s.queue = nil
	s.mu.Unlock()
	var all []offsetWrite
	for _, pw := range batch {
		all = append(all, pw.ws...)
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

func (s *offsetStore) commit(ws []offsetWrite) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		root, dead := tx.Bucket(groupsBucket), tx.Bucket(deletedBucket)
		for _, w := range ws {
			if seqOf(dead.Get([]byte(w.group))) > w.off.Seq {
				continue // the group was deleted after this write was taken
			}
			if w.delGroup {
				if err := root.DeleteBucket([]byte(w.group)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
					return err
				}
				if err := dead.Put([]byte(w.group), binary.BigEndian.AppendUint64(nil, w.off.Seq)); err != nil {
					return err
				}
				continue
			}
			gb, err := root.CreateBucketIfNotExists([]byte(w.group))
			if err != nil {
				return err
			}
			k := offsetKey(w.tp)
			if old := gb.Get(k); old != nil {
				var so storedOffset
				if json.Unmarshal(old, &so) == nil && so.Seq > w.off.Seq {
					continue
				}
			}
			so := w.off
			so.Deleted = w.del
			if so.Deleted {
				so.Committed, so.Acked = 0, nil
			}
			v, err := json.Marshal(so)
			if err != nil {
				return err
			}
			if err := gb.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker: write offsets: %w", err)
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

// sync checkpoints the journal into offsets.db: what it held is then
// durable, and its files are removed. The timer loop calls it every
// interval; without a journal it does nothing.
func (s *offsetStore) sync() error {
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
			err = errors.Join(err, fmt.Errorf("broker: remove checkpointed offsets journal: %w", rerr))
		}
	}
	return err
}

// deleteGroup forgets every offset of group, in order with the writes
// before and after it.
func (s *offsetStore) deleteGroup(group string) error {
	if err := s.write([]offsetWrite{{group: group, delGroup: true, off: storedOffset{Seq: s.next()}}}); err != nil {
		return fmt.Errorf("broker: delete offsets of group %q: %w", group, err)
	}
	return nil
}

// close checkpoints the journal (if any) and closes the files.
func (s *offsetStore) close() error {
	var err error
	if s.jr != nil {
		err = errors.Join(s.sync(), s.jr.close())
	}
	return errors.Join(err, s.db.Close())
}
