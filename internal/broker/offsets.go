package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

var groupsBucket = []byte("groups")

// offsetStore keeps every group's committed offsets, and the acknowledged
// offsets above them, in offsets.db: bucket "groups" → one bucket per group →
// key "<topic>\x00<partition as 4 bytes>" → storedOffset as JSON. It is a file
// of its own so that the hot ack path never waits behind a topic change's
// fsync of meta.db.
//
// Durability follows the broker's fsync policy, as produced messages do: a
// write returns once it is in the file, and under FsyncAlways once it is
// synced too. Under FsyncInterval the timer loop calls sync every interval
// (a process crash loses nothing; a power loss up to one interval of acks,
// which are then delivered again: at-least-once holds); under FsyncNever only
// the OS writes it back. close syncs unless the policy is never.
//
// Group commit: a writer that finds no transaction running commits at once
// (no added delay, unlike bolt's Batch with its MaxBatchDelay); writers
// arriving meanwhile queue, and the next of them commits the whole queue in
// one transaction, so concurrent acks of all groups share one fsync.
//
// Writes of one partition may race (two acks answered out of order); seq
// orders them: a write carrying a smaller seq than the stored one is dropped.
type offsetStore struct {
	db     *bolt.DB
	policy commitlog.FsyncPolicy // immutable
	seq    atomic.Uint64         // last sequence number handed out; above every stored one
	dirty  atomic.Bool           // FsyncInterval: committed since the last sync

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
}

// offsetWrite is one partition's state to persist (or delete, with del).
type offsetWrite struct {
	group string
	tp    delivery.TP
	off   storedOffset
	del   bool
}

func openOffsets(dir string, policy commitlog.FsyncPolicy) (*offsetStore, error) {
	// Without NoSync every transaction costs bolt two fsyncs; the policy
	// decides who syncs instead.
	opts := &bolt.Options{Timeout: time.Second, NoSync: policy != commitlog.FsyncAlways}
	db, err := bolt.Open(filepath.Join(dir, "offsets.db"), 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("broker: open offsets.db: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(groupsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("broker: init offsets.db: %w", err)
	}
	return &offsetStore{db: db, policy: policy}, nil
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
				parts[tp] = so
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
	err := s.commit(all)
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
		root := tx.Bucket(groupsBucket)
		for _, w := range ws {
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
			if w.del {
				if err := gb.Delete(k); err != nil {
					return err
				}
				continue
			}
			v, err := json.Marshal(w.off)
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
	if s.policy == commitlog.FsyncInterval {
		s.dirty.Store(true)
	}
	return nil
}

// sync makes every committed write durable if any came since the last
// sync. The flusher calls it under FsyncInterval.
func (s *offsetStore) sync() error {
	if !s.dirty.Swap(false) {
		return nil
	}
	if err := s.db.Sync(); err != nil {
		s.dirty.Store(true)
		return fmt.Errorf("broker: sync offsets.db: %w", err)
	}
	return nil
}

// deleteGroup forgets every offset of group.
func (s *offsetStore) deleteGroup(group string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(groupsBucket).DeleteBucket([]byte(group))
		if err == bolt.ErrBucketNotFound {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("broker: delete offsets of group %q: %w", group, err)
	}
	return nil
}

// close syncs what the policy promised to sync and closes the file.
func (s *offsetStore) close() error {
	var err error
	if s.policy == commitlog.FsyncInterval {
		err = s.sync()
	}
	return errors.Join(err, s.db.Close())
}
