package broker

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// TopicInfo describes a topic: its settings and, per partition, a snapshot
// of its log.
type TopicInfo struct {
	Config     TopicConfig
	Partitions []PartitionInfo
}

// PartitionInfo is one partition's log snapshot.
type PartitionInfo struct {
	Partition int32
	commitlog.Stats
}

func (t *topic) info() TopicInfo {
	ti := TopicInfo{Config: t.cfg, Partitions: make([]PartitionInfo, len(t.parts))}
	for i, p := range t.parts {
		ti.Partitions[i] = PartitionInfo{Partition: p.id, Stats: p.log.Stats()}
	}
	return ti
}

// CreateTopic creates a topic from spec, taking the broker's defaults for its
// zero fields. The topic is durable in meta.db before it is answered. Errors:
// INVALID_TOPIC_NAME, INVALID_PARTITIONS, INVALID_ARGUMENT (a setting),
// TOPIC_ALREADY_EXISTS, TOO_MANY_TOPICS (Limits.MaxTopics).
func (b *Broker) CreateTopic(spec TopicSpec) (TopicInfo, error) {
	return b.createTopic(spec, b.cfg.Limits.withDefaults().MaxTopics)
}

// createTopic is CreateTopic refusing a topic past maxTopics topics.
func (b *Broker) createTopic(spec TopicSpec, maxTopics int) (TopicInfo, error) {
	cfg, err := b.cfg.resolveTopic(spec, b.now())
	if err != nil {
		return TopicInfo{}, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if err := b.checkStorage(); err != nil {
		return TopicInfo{}, err
	}
	if err := b.checkNewTopicLocked(cfg.Name, maxTopics); err != nil {
		return TopicInfo{}, err
	}
	// Metadata first: a crash after this point leaves a topic whose missing
	// partition directories are created on the next start.
	if err := b.meta.put(cfg); err != nil {
		return TopicInfo{}, b.storageError(err, "create topic "+cfg.Name)
	}
	parts, err := b.openPartitions(&cfg, 0, cfg.Partitions)
	if err != nil {
		if rerr := b.removeTopicFiles(cfg.Name); rerr != nil {
			b.log.Error("cleanup of failed topic creation", "topic", cfg.Name, "err", rerr)
		}
		return TopicInfo{}, b.storageError(err, "create topic "+cfg.Name)
	}
	t := &topic{cfg: cfg, parts: parts, rr: new(atomic.Uint32)}
	b.mu.Lock()
	b.topics[cfg.Name] = t
	b.byID[cfg.ID()] = cfg.Name
	b.notifyLocked()
	b.mu.Unlock()
	b.log.Info("topic created", "topic", cfg.Name, "partitions", cfg.Partitions)
	return t.info(), nil
}

// ValidateTopic says whether CreateTopic would create spec's topic now,
// creating nothing (Kafka's CreateTopics with validate_only): the
// configuration it would have, or the error CreateTopic's checks would
// give.
func (b *Broker) ValidateTopic(spec TopicSpec) (TopicConfig, error) {
	cfg, err := b.cfg.resolveTopic(spec, b.now())
	if err != nil {
		return TopicConfig{}, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	return cfg, b.checkNewTopicLocked(cfg.Name, b.cfg.Limits.withDefaults().MaxTopics)
}

// Config is the configuration the broker was opened with.
func (b *Broker) Config() Config { return b.cfg }

// DefaultTopicConfig is the configuration of a topic created with no
// settings of its own (its name and creation time aside); false if the
// broker's defaults make none (then every topic says its own settings).
func (b *Broker) DefaultTopicConfig() (TopicConfig, bool) {
	cfg, err := b.cfg.resolveTopic(TopicSpec{Name: "default"}, time.Time{})
	return cfg, err == nil
}

// checkNewTopicLocked refuses a topic named name that exists, or one past
// maxTopics topics. The caller holds adminMu.
func (b *Broker) checkNewTopicLocked(name string, maxTopics int) error {
	if _, err := b.lookup(name); err == nil {
		return api.ErrTopicExists.Withf("topic %q already exists", name).WithDetail("topic", name)
	} else if !errors.Is(err, api.ErrTopicNotFound) {
		return err
	}
	return b.checkTopicLimitLocked(name, maxTopics)
}

// Topics describes every topic, sorted by name.
func (b *Broker) Topics() []TopicInfo {
	ts := b.snapshot()
	out := make([]TopicInfo, len(ts))
	for i, t := range ts {
		out[i] = t.info()
	}
	return out
}

// Topic describes one topic. Errors: TOPIC_NOT_FOUND.
func (b *Broker) Topic(name string) (TopicInfo, error) {
	t, err := b.lookup(name)
	if err != nil {
		return TopicInfo{}, err
	}
	return t.info(), nil
}

// DeleteTopic deletes a topic and its files. It is crash-safe: the topic is
// marked deleted in meta.db first, and a deletion cut short is finished on
// the next start. Appends and fetches racing with it fail TOPIC_NOT_FOUND.
func (b *Broker) DeleteTopic(name string) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t, err := b.lookup(name)
	if err != nil {
		return err
	}
	marked := t.cfg
	marked.Deleted = true
	if err := b.meta.put(marked); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.topics, name)
	delete(b.byID, t.cfg.ID())
	b.notifyLocked()
	b.mu.Unlock()
	for _, p := range t.parts {
		if err := p.log.Close(); err != nil {
			b.log.Warn("close log of deleted topic", "topic", name, "partition", p.id, "err", err)
		}
	}
	if err := b.removeTopicFiles(name); err != nil {
		return fmt.Errorf("%w (the deletion finishes on the next start)", err)
	}
	b.log.Info("topic deleted", "topic", name)
	return nil
}

// CheckAddPartitions says whether AddPartitions(name, count) would be
// refused, and why, without changing anything: a validate-only request
// (Kafka's CreatePartitions) answers what the change itself would.
func (b *Broker) CheckAddPartitions(name string, count int32) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	_, err := b.checkAddPartitionsLocked(name, count)
	return err
}

// checkAddPartitionsLocked returns topic name if its partition count may
// rise to count, or why not. The caller holds adminMu.
func (b *Broker) checkAddPartitionsLocked(name string, count int32) (*topic, error) {
	old, err := b.lookup(name)
	if err != nil {
		return nil, err
	}
	if err := b.checkStorage(); err != nil {
		return nil, err
	}
	cur := old.cfg.Partitions
	switch {
	case count <= cur:
		return nil, api.ErrInvalidPartitions.
			Withf("topic %q has %d partitions; the count can only increase", name, cur).
			WithDetail("partitions", cur).WithDetail("count", count)
	case count > b.cfg.MaxPartitions:
		return nil, api.ErrInvalidPartitions.
			Withf("count %d is more than the maximum of %d partitions", count, b.cfg.MaxPartitions).
			WithDetail("max", b.cfg.MaxPartitions)
	}
	return old, nil
}

// AddPartitions raises a topic's partition count to count. The new count is
// durable before it is answered. A count that is not larger is refused with
// INVALID_PARTITIONS; so is one past the broker's maximum.
func (b *Broker) AddPartitions(name string, count int32) (TopicInfo, error) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	old, err := b.checkAddPartitionsLocked(name, count)
	if err != nil {
		return TopicInfo{}, err
	}
	cur := old.cfg.Partitions
	cfg := old.cfg
	cfg.Partitions = count
	if err := b.meta.put(cfg); err != nil {
		return TopicInfo{}, b.storageError(err, "add partitions to "+name)
	}
	added, err := b.openPartitions(&cfg, cur, count)
	if err != nil {
		if rerr := b.meta.put(old.cfg); rerr != nil {
			b.log.Error("revert partition count", "topic", name, "err", rerr)
		}
		for p := cur; p < count; p++ {
			os.RemoveAll(b.partitionDir(name, p))
		}
		return TopicInfo{}, b.storageError(err, "add partitions to "+name)
	}
	t := &topic{cfg: cfg, parts: append(append([]*partition(nil), old.parts...), added...), rr: old.rr}
	b.mu.Lock()
	b.topics[name] = t
	b.notifyLocked()
	b.mu.Unlock()
	b.log.Info("partitions added", "topic", name, "from", cur, "to", count)
	return t.info(), nil
}
