package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// dlqReplayedBucket holds, in meta.db, which offsets of each DLQ were
// replayed, keyed by the DLQ's name (a dlqReplayed in JSON).
var dlqReplayedBucket = []byte("dlq-replayed")

// dlqReplayed is what a DLQ has replayed: per DLQ partition, sorted
// disjoint [from, to) offset ranges. Born is the DLQ's created_at, so that
// a DLQ purged or deleted and created again starts with nothing replayed.
type dlqReplayed struct {
	Born     int64                `json:"born"`
	Replayed map[int32][][2]int64 `json:"replayed,omitempty"`
	// Claim is the replay under way of a cluster's DLQ (dlqcluster.go);
	// nil on a single broker's.
	Claim *replayClaim `json:"claim,omitempty"`
}

func (d *dlqReplayed) has(p int32, off int64) bool {
	for _, r := range d.Replayed[p] {
		if off >= r[0] && off < r[1] {
			return true
		}
	}
	return false
}

// add records off, merging it with the ranges it touches.
func (d *dlqReplayed) add(p int32, off int64) {
	if d.has(p, off) {
		return
	}
	if d.Replayed == nil {
		d.Replayed = make(map[int32][][2]int64)
	}
	rs := append(d.Replayed[p], [2]int64{off, off + 1})
	for i := len(rs) - 1; i > 0 && rs[i][0] < rs[i-1][0]; i-- {
		rs[i], rs[i-1] = rs[i-1], rs[i]
	}
	merged := rs[:1]
	for _, r := range rs[1:] {
		if last := &merged[len(merged)-1]; r[0] <= last[1] {
			last[1] = max(last[1], r[1])
		} else {
			merged = append(merged, r)
		}
	}
	d.Replayed[p] = merged
}

func loadReplayed(tx *bolt.Tx, dlq *topic) (dlqReplayed, error) {
	d := dlqReplayed{Born: dlq.cfg.CreatedAt}
	bk := tx.Bucket(dlqReplayedBucket)
	if bk == nil {
		return d, nil
	}
	v := bk.Get([]byte(dlq.cfg.Name))
	if v == nil {
		return d, nil
	}
	var stored dlqReplayed
	if err := json.Unmarshal(v, &stored); err != nil {
		return d, fmt.Errorf("broker: replay state of %s: %w", dlq.cfg.Name, err)
	}
	if stored.Born != dlq.cfg.CreatedAt {
		return d, nil // of an earlier DLQ of that name
	}
	return stored, nil
}

func saveReplayed(tx *bolt.Tx, name string, d dlqReplayed) error {
	bk, err := tx.CreateBucketIfNotExists(dlqReplayedBucket)
	if err != nil {
		return err
	}
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return bk.Put([]byte(name), v)
}

// ReplayParams says which dead letters ReplayDLQ publishes again, and
// where to. It goes through the DLQ partitions offset by offset from
// Offset: by default back to their original topic and partition for the
// group that dead-lettered them only; with ToTopic for every group of the
// topic; with Target to another topic. Each dead letter is replayed once
// (Again: anyway), and one replayed MaxReplays times already is left in
// the DLQ. Group, Reason, Since, Until, Partition and EndOffset filter;
// zero values filter nothing. DryRun changes nothing.
type ReplayParams struct {
	Target     string
	ToTopic    bool
	Offset     int64  // first DLQ offset, in every DLQ partition
	EndOffset  int64  // 0: none; else stop before this DLQ offset
	Partition  *int32 // only this DLQ partition
	Max        int    // messages; 0: 1000
	Group      string
	Reason     string    // api.DLQReasonRejected or api.DLQReasonMaxRetries
	Since      time.Time // died at or after
	Until      time.Time // died before
	Again      bool
	MaxReplays int // 0: api.DefaultMaxReplays
	DryRun     bool
}

// ReplayResult reports a replay (with DryRun: what it would do).
// NextOffset is the DLQ offset to continue from; Skipped counts dead
// letters replayed before, Poison those replayed MaxReplays times.
type ReplayResult struct {
	Replayed   int
	NextOffset int64
	DryRun     bool
	Skipped    int
	Poison     int
	Messages   []DeadLetter // replayed (or that would be)
}

// DeadLetter is one message of a DLQ as its disposition headers describe
// it. Partition and Offset are its place in the DLQ.
type DeadLetter struct {
	Partition         int32
	Offset            int64
	OriginalTopic     string
	OriginalPartition int32
	OriginalOffset    int64
	Group             string
	Reason            string
	DiedAt            time.Time // zero: unknown
	Replays           int       // before this one
}

// ReplayDLQ publishes dead messages of topic's DLQ (api.DLQName) again; see
// ReplayParams for where to, which, and how often. What it replays
// is recorded in meta.db in the same transaction that bolt holds for the
// whole replay, so replays of one broker run one at a time and a second
// replay does not repeat the first. A crash between a publish and that
// commit replays those messages again (at least once; their replay count
// still bounds them). A DLQ of a cluster is replayed as replayInCluster
// says. Errors: TOPIC_NOT_FOUND (no DLQ or no target), INVALID_ARGUMENT.
func (b *Broker) ReplayDLQ(topic string, req ReplayParams) (ReplayResult, error) {
	switch {
	case req.Max < 0 || req.Offset < 0 || req.EndOffset < 0 || req.MaxReplays < 0:
		return ReplayResult{}, api.ErrInvalidArgument.Withf("a replay's offsets and counts must not be negative")
	case req.Target != "" && req.ToTopic:
		return ReplayResult{}, api.ErrInvalidArgument.Withf("a replay goes to another topic or to every group of its own, not both")
	case req.Target == api.DLQName(topic):
		// It appended its dead letters to itself, without their DLQ
		// headers: messages no replay could tell apart or place again.
		return ReplayResult{}, api.ErrInvalidArgument.Withf("a DLQ cannot be replayed into itself (%s)", req.Target)
	case req.Reason != "" && req.Reason != api.DLQReasonRejected && req.Reason != api.DLQReasonMaxRetries:
		// Another reason matched no dead letter: the replay answered
		// that there was nothing to replay.
		return ReplayResult{}, api.ErrInvalidArgument.Withf("no dead letter has reason %q; the reasons are in details.allowed", req.Reason).
			WithDetail("allowed", []string{api.DLQReasonRejected, api.DLQReasonMaxRetries})
	}
	maxMsgs := req.Max
	if maxMsgs == 0 {
		maxMsgs = 1000
	}
	maxReplays := req.MaxReplays
	if maxReplays == 0 {
		maxReplays = api.DefaultMaxReplays
	}
	target := req.Target
	if target == "" {
		target = topic
	}
	dlq, err := b.lookup(api.DLQName(topic))
	if err != nil {
		return ReplayResult{}, err
	}
	dest, err := b.lookup(target)
	if err != nil {
		return ReplayResult{}, err
	}
	if req.Partition != nil {
		if _, err := dlq.partition(*req.Partition); err != nil {
			return ReplayResult{}, err
		}
	}
	forGroup := req.Target == "" && !req.ToTopic
	resp := ReplayResult{NextOffset: req.Offset, DryRun: req.DryRun, Messages: []DeadLetter{}}
	r := replay{b: b, req: &req, dlq: dlq, target: target, home: target == topic, forGroup: forGroup,
		partitions: int32(len(dest.parts)), maxMsgs: maxMsgs, maxReplays: maxReplays, resp: &resp}
	if c, ok := b.repl.(ClusterDLQ); ok && b.replicated(dlq) {
		return resp, b.replayInCluster(c, &r)
	}
	err = b.meta.db.Update(func(tx *bolt.Tx) error {
		done, err := loadReplayed(tx, dlq)
		if err != nil {
			return err
		}
		r.done = &done
		err = r.run()
		if !req.DryRun && resp.Replayed > 0 {
			// Also after a failed publish: what was published is recorded.
			err = errors.Join(err, saveReplayed(tx, dlq.cfg.Name, done))
		}
		return err
	})
	return resp, err
}

// replay is one ReplayDLQ in progress.
type replay struct {
	b                   *Broker
	req                 *ReplayParams
	dlq                 *topic
	target              string
	home, forGroup      bool  // back to its own topic; for its group only
	partitions          int32 // of the target
	maxMsgs, maxReplays int
	done                *dlqReplayed
	via                 appendFunc // writes to a replicated target (nil: Publish's)
	// published, if set, runs after each layer published and added to
	// done; its error ends the replay (a cluster's claim lost: see
	// clusterReplay.renew).
	published func() error
	resp      *ReplayResult
}

// run goes through the DLQ offset by offset, every partition at each
// offset (a layer), and stops before the layer that would pass maxMsgs.
func (r *replay) run() error {
	req := r.req
	for off := req.Offset; req.EndOffset == 0 || off < req.EndOffset; off++ {
		var (
			layer []Message
			dls   []DeadLetter
			seen  bool // a partition holds off: this layer is gone through
		)
		for _, p := range r.dlq.parts {
			if req.Partition != nil && p.id != *req.Partition || off < p.log.EarliestOffset() || off >= p.log.HighWatermark() {
				continue
			}
			seen = true
			recs, err := p.log.Read(off, 1, 1)
			if err != nil {
				return r.b.logError(err, r.dlq, p.id)
			}
			for i := range recs {
				rec := &recs[i]
				if rec.Offset != off {
					continue
				}
				dl := deadLetterOf(p.id, rec)
				switch {
				case !replayMatches(req, dl):
				case !req.Again && r.done.has(p.id, off):
					r.resp.Skipped++
				case dl.Replays >= r.maxReplays:
					r.resp.Poison++
				default:
					layer = append(layer, replayed(rec, dl, r.home, r.forGroup, r.partitions))
					dls = append(dls, dl)
				}
			}
		}
		if len(layer) == 0 && !r.b.anyAbove(r.dlq, off) {
			// The last layer: what it held was skipped, poison or filtered
			// out, and is done all the same.
			if seen {
				r.resp.NextOffset = off + 1
			}
			return nil
		}
		if r.resp.Replayed > 0 && r.resp.Replayed+len(layer) > r.maxMsgs {
			return nil
		}
		if len(layer) > 0 && !req.DryRun {
			if _, err := r.b.publish(r.target, layer, r.via); err != nil {
				return err
			}
			for _, dl := range dls {
				r.done.add(dl.Partition, dl.Offset)
			}
		}
		r.resp.Replayed += len(layer)
		r.resp.Messages = append(r.resp.Messages, dls...)
		r.resp.NextOffset = off + 1
		if len(layer) > 0 && !req.DryRun && r.published != nil {
			if err := r.published(); err != nil {
				return err
			}
		}
		if r.resp.Replayed >= r.maxMsgs {
			return nil
		}
	}
	return nil
}

// replayMatches reports whether dl passes req's filters.
func replayMatches(req *ReplayParams, dl DeadLetter) bool {
	switch {
	case req.Group != "" && dl.Group != req.Group,
		req.Reason != "" && dl.Reason != req.Reason,
		!req.Since.IsZero() && dl.DiedAt.Before(req.Since),
		!req.Until.IsZero() && !dl.DiedAt.Before(req.Until):
		return false
	}
	return true
}

// deadLetterOf reads the disposition headers of a DLQ record. A dead
// letter written before died-at was recorded counts its original
// timestamp as its death.
func deadLetterOf(partition int32, r *commitlog.Record) DeadLetter {
	at := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
	dl := DeadLetter{Partition: partition, Offset: r.Offset, DiedAt: at(r.Timestamp)}
	num := func(v []byte) int64 { n, _ := strconv.ParseInt(string(v), 10, 64); return n }
	for _, h := range r.Headers {
		switch h.Key {
		case api.DLQHeaderOriginalTopic:
			dl.OriginalTopic = string(h.Value)
		case api.DLQHeaderOriginalPartition:
			dl.OriginalPartition = int32(num(h.Value))
		case api.DLQHeaderOriginalOffset:
			dl.OriginalOffset = num(h.Value)
		case api.DLQHeaderGroup:
			dl.Group = string(h.Value)
		case api.DLQHeaderReason:
			dl.Reason = string(h.Value)
		case api.DLQHeaderDiedAt:
			dl.DiedAt = at(num(h.Value))
		case api.ReplayHeaderCount:
			dl.Replays = int(num(h.Value))
		}
	}
	return dl
}

// anyAbove reports whether some partition of t holds offsets above off.
func (b *Broker) anyAbove(t *topic, off int64) bool {
	for _, p := range t.parts {
		if p.log.HighWatermark() > off+1 {
			return true
		}
	}
	return false
}

// replayed is r as a message to publish again: the disposition headers
// dropped, its replay count one up, for its group only if forGroup, and,
// when it returns to its own topic, on its original partition.
func replayed(r *commitlog.Record, dl DeadLetter, home, forGroup bool, partitions int32) Message {
	m := Message{Key: r.Key, Value: r.Value, Partition: AnyPartition, Timestamp: r.Timestamp, Attributes: r.Attributes}
	if home && dl.OriginalPartition >= 0 && dl.OriginalPartition < partitions {
		m.Partition = dl.OriginalPartition
	}
	for _, h := range r.Headers {
		if !strings.HasPrefix(h.Key, api.DLQHeaderPrefix) && h.Key != api.ReplayHeaderGroup && h.Key != api.ReplayHeaderCount {
			m.Headers = append(m.Headers, h)
		}
	}
	m.Headers = append(m.Headers, commitlog.Header{Key: api.ReplayHeaderCount, Value: strconv.AppendInt(nil, int64(dl.Replays+1), 10)})
	if forGroup && dl.Group != "" {
		m.Headers = append(m.Headers, commitlog.Header{Key: api.ReplayHeaderGroup, Value: []byte(dl.Group)})
	}
	return m
}

// PurgeDLQ deletes every dead letter of topic's DLQ, and what was recorded
// of its replays; the DLQ is created again by the next dead letter.
// Errors: TOPIC_NOT_FOUND (no such DLQ).
func (b *Broker) PurgeDLQ(topic string) error {
	name := api.DLQName(topic)
	if c, ok := b.repl.(ClusterDLQ); ok && b.repl.Replicates(name) {
		// Deleting this node's copy alone would leave the others' and
		// this node's Raft group, which expects it.
		return c.DeleteDLQ(name)
	}
	if err := b.DeleteTopic(name); err != nil {
		return err
	}
	return b.meta.db.Update(func(tx *bolt.Tx) error {
		if bk := tx.Bucket(dlqReplayedBucket); bk != nil {
			return bk.Delete([]byte(name))
		}
		return nil
	})
}
