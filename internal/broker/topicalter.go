package broker

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// AlterTopic changes a topic's settings after its creation (see
// api.AlterTopicRequest): the new configuration is checked as a creation
// would check it and is durable in meta.db before it is answered; the open
// partition logs take the new retention at once. Errors: TOPIC_NOT_FOUND,
// INVALID_PARTITIONS, INVALID_ARGUMENT.
func (b *Broker) AlterTopic(name string, req api.AlterTopicRequest) (TopicInfo, error) {
	if req == (api.AlterTopicRequest{}) {
		return TopicInfo{}, api.ErrInvalidArgument.Withf("nothing to change: name partitions, retention_hours, retention_bytes or max_message_bytes")
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
	cfg := old.cfg
	if req.RetentionHours != 0 {
		cfg.RetentionHours = req.RetentionHours
	}
	if req.RetentionBytes != 0 {
		cfg.RetentionBytes = req.RetentionBytes
	}
	if req.MaxMessageBytes != 0 {
		cfg.MaxMessageBytes = req.MaxMessageBytes
	}
	if cfg == old.cfg {
		return old.info(), nil
	}
	// Check it as a creation would; the name and count are unchanged.
	if _, err := b.cfg.resolveTopic(api.CreateTopicRequest{Name: cfg.Name, Partitions: cfg.Partitions,
		RetentionHours: cfg.RetentionHours, RetentionBytes: cfg.RetentionBytes, SegmentBytes: cfg.SegmentBytes,
		SegmentMS: cfg.SegmentMS, MaxMessageBytes: cfg.MaxMessageBytes, Fsync: cfg.Fsync}, time.UnixMilli(cfg.CreatedAt)); err != nil {
		return TopicInfo{}, err
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
