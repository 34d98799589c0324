package broker

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// AlterTopic changes a topic's settings after its creation (see
// TopicChange): the new configuration is checked as a creation
// would check it and is durable in meta.db before it is answered; the open
// partition logs take the new retention at once. Errors: TOPIC_NOT_FOUND,
// INVALID_PARTITIONS, INVALID_ARGUMENT.
func (b *Broker) AlterTopic(name string, req TopicChange) (TopicInfo, error) {
	if req == (TopicChange{}) {
		return TopicInfo{}, api.ErrInvalidArgument.Withf("nothing to change: name partitions, retention, retention bytes or the max message size")
	}
	if req.Partitions != 0 {
		t, err := b.lookup(name)
		if err != nil {
			return TopicInfo{}, err
		}
		if req.Partitions != t.cfg.Partitions {
			if _, err := b.AddPartitions(name, req.Partitions); err != nil {
				return TopicInfo{}, err
			}
		}
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	old, err := b.lookup(name)
	if err != nil {
		return TopicInfo{}, err
	}
	cfg, err := b.changedConfig(old.cfg, req)
	if err != nil {
		return TopicInfo{}, err
	}
	if cfg == old.cfg {
		return old.info(), nil // unchanged: not checked again against today's limits
	}
	if err := b.meta.put(cfg); err != nil {
		return TopicInfo{}, err
	}
	opts := cfg.logOptions(b.now)
	for _, p := range old.parts {
		p.log.SetRetention(opts.RetentionBytes, opts.RetentionAge)
	}
	t := &topic{cfg: cfg, parts: old.parts, rr: old.rr}
	b.mu.Lock()
	b.topics[name] = t
	b.mu.Unlock()
	b.log.Info("topic altered", "topic", name, "retention_hours", cfg.RetentionHours,
		"retention_bytes", cfg.RetentionBytes, "max_message_bytes", cfg.MaxMessageBytes)
	return t.info(), nil
}

// CheckTopicChange says whether AlterTopic would take req's settings for
// topic name (its partition count aside), changing nothing: nil, or the
// error AlterTopic would give. Errors: TOPIC_NOT_FOUND, INVALID_ARGUMENT.
func (b *Broker) CheckTopicChange(name string, req TopicChange) error {
	t, err := b.lookup(name)
	if err != nil {
		return err
	}
	_, err = b.changedConfig(t.cfg, req)
	return err
}

// changedConfig is cfg with req's settings, checked as a creation would
// check it (the name and partition count are unchanged) if they change
// it: a topic made under other limits (a higher --max-partitions, since
// lowered) is not refused a change that changes nothing.
func (b *Broker) changedConfig(cfg TopicConfig, req TopicChange) (TopicConfig, error) {
	old := cfg
	if req.Retention != 0 {
		cfg.RetentionHours = retentionHours(req.Retention)
	}
	if req.RetentionBytes != 0 {
		cfg.RetentionBytes = req.RetentionBytes
	}
	if req.MaxMessageBytes != 0 {
		cfg.MaxMessageBytes = req.MaxMessageBytes
	}
	if cfg == old {
		return cfg, nil
	}
	if cfg.RetentionHours > MaxRetentionHours {
		// Checked here: as a duration (spec) it would overflow, and read
		// as forever.
		return TopicConfig{}, invalid("retention %dh is above the longest, %dh; a negative retention keeps messages forever", cfg.RetentionHours, MaxRetentionHours)
	}
	if _, err := b.cfg.resolveTopic(cfg.spec(), time.UnixMilli(cfg.CreatedAt)); err != nil {
		return TopicConfig{}, err
	}
	return cfg, nil
}
