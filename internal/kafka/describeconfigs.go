package kafka

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// describeConfigs reports a topic's settings under Kafka's config names
// (the ones CreateTopics accepts), and this broker's (its ID as the
// resource name) under the names Kafka gives its own: read-only, as they
// are GoQueue's flags. The name "" (the cluster's dynamic defaults) has
// none, and another broker's ID is INVALID_REQUEST, as Kafka answers: a
// client asks each broker for its own. Asked for synonyms (v1+), each
// config lists, as Kafka's does, where its value may come from, the
// first the one it comes from: a topic's own setting, and the broker
// config that any topic takes otherwise (see synonyms).
func (s *Server) describeConfigs(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	resp.SetVersion(req.Version)
	var brokerConfigs []kafkaConfig // for topics' synonyms
	if req.IncludeSynonyms {
		brokerConfigs = s.brokerConfigs()
	}
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var configs []kafkaConfig
		readOnly := false
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeBroker:
			// "" is the cluster's dynamic defaults: there are none.
			if rr.ResourceName == "" {
				break
			}
			if id, err := strconv.ParseInt(rr.ResourceName, 10, 32); err == nil && int32(id) == s.opts.NodeID {
				configs, readOnly = s.brokerConfigs(), true
				break
			}
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("this is broker %d: ask broker %s for its own configs, or name \"\" for the cluster's defaults", s.opts.NodeID, rr.ResourceName))
		case kmsg.ConfigResourceTypeTopic:
			ti, err := s.b.Topic(rr.ResourceName)
			if err != nil {
				sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			configs = s.topicConfigs(ti.Config)
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
		}
		for _, c := range configs {
			if len(rr.ConfigNames) > 0 && !contains(rr.ConfigNames, c.name) {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name, rc.Value, rc.Source, rc.ReadOnly = c.name, kmsg.StringPtr(c.value), c.source, readOnly
			rc.IsDefault = c.source == kmsg.ConfigSourceDefaultConfig // v0's say
			if req.IncludeSynonyms {
				rc.ConfigSynonyms = synonyms(c, rr.ResourceType == kmsg.ConfigResourceTypeTopic, brokerConfigs)
			}
			sr.Configs = append(sr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// synonyms are the configs c's value may come from, as Kafka lists them
// (kafka-configs --describe --all, kafkajs's includeSynonyms): a broker's
// config itself, with its source; a topic's, its own setting if the topic
// has one, then the broker config (of brokerConfigs) it takes otherwise.
func synonyms(c kafkaConfig, topic bool, brokerConfigs []kafkaConfig) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	add := func(c kafkaConfig) {
		sy := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		sy.Name, sy.Value, sy.Source = c.name, kmsg.StringPtr(c.value), c.source
		out = append(out, sy)
	}
	if !topic {
		add(c)
		return out
	}
	if c.source == kmsg.ConfigSourceDynamicTopicConfig {
		add(c)
	}
	for _, b := range brokerConfigs {
		if b.name == brokerSynonym(c.name) {
			add(b)
		}
	}
	return out
}

// brokerSynonym is the broker config whose value a topic config takes
// when the topic sets none, under Kafka's names.
func brokerSynonym(topicConfig string) string {
	switch topicConfig {
	case "cleanup.policy":
		return "log.cleanup.policy"
	case "retention.ms":
		return "log.retention.ms"
	case "retention.bytes":
		return "log.retention.bytes"
	case "segment.bytes":
		return "log.segment.bytes"
	case "segment.ms":
		return "log.roll.ms"
	case "max.message.bytes":
		return "message.max.bytes"
	}
	return topicConfig // compression.type, goqueue.fsync
}

// brokerConfigs are this broker's settings that Kafka has a broker config
// for, under its name and unit, and GoQueue's own: DEFAULT_CONFIG where
// the setting is GoQueue's default, STATIC_BROKER_CONFIG where a flag set
// another.
func (s *Server) brokerConfigs() []kafkaConfig {
	cfg, def := s.b.Config(), broker.DefaultConfig()
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	ms := func(d time.Duration) string { return i(d.Milliseconds()) }
	// A bound of 0 is none: Kafka's "none" is the largest long.
	bound := func(d time.Duration) string {
		if d <= 0 {
			return i(math.MaxInt64)
		}
		return ms(d)
	}
	minSession, maxSession, _ := s.timeoutBounds()
	node := kmsg.ConfigSourceDefaultConfig
	if s.opts.Cluster != nil {
		node = kmsg.ConfigSourceStaticBrokerConfig
	}
	flag := kmsg.ConfigSourceStaticBrokerConfig
	return []kafkaConfig{
		{"broker.id", i(int64(s.opts.NodeID)), node},
		fixed("auto.create.topics.enable", "false"),
		fixed("log.cleanup.policy", fixedConfigs["cleanup.policy"]),
		fixed("compression.type", fixedConfigs["compression.type"]),
		fixed("offset.metadata.max.bytes", i(maxCommitMetadata)),
		setting("num.partitions", i(int64(cfg.DefaultPartitions)), i(int64(def.DefaultPartitions)), flag),
		setting("log.retention.ms", retentionMS(cfg.RetentionHours), retentionMS(def.RetentionHours), flag),
		setting("log.retention.bytes", i(cfg.RetentionBytes), i(def.RetentionBytes), flag),
		setting("log.segment.bytes", i(cfg.SegmentBytes), i(def.SegmentBytes), flag),
		setting("log.roll.ms", bound(cfg.SegmentAge), bound(def.SegmentAge), flag), // 0: by size only
		setting("message.max.bytes", i(int64(cfg.MaxMessageBytes)), i(int64(def.MaxMessageBytes)), flag),
		setting("log.message.timestamp.after.max.ms", bound(cfg.TimestampAfterMax), bound(def.TimestampAfterMax), flag),
		setting("log.message.timestamp.before.max.ms", bound(cfg.TimestampBeforeMax), bound(def.TimestampBeforeMax), flag),
		setting("log.retention.check.interval.ms", ms(cfg.RetentionCheckInterval), ms(def.RetentionCheckInterval), flag),
		setting("offsets.retention.minutes", retentionMinutes(cfg.OffsetsRetention), retentionMinutes(def.OffsetsRetention), flag),
		// Every member's bounds: Kafka's, HTTP and KIP-848 (joingroup.go).
		setting("group.min.session.timeout.ms", ms(minSession), ms(group.DefaultMinSessionTimeout), flag),
		setting("group.max.session.timeout.ms", ms(maxSession), ms(group.DefaultMaxSessionTimeout), flag),
		setting("socket.request.max.bytes", i(int64(s.opts.MaxRequestBytes)), i(DefaultMaxRequestBytes), flag),
		setting("connections.max.idle.ms", ms(s.opts.IdleTimeout), ms(DefaultIdleTimeout), flag),
		setting("goqueue.fsync", cfg.Fsync, def.Fsync, flag),
		setting("goqueue.fsync.interval.ms", ms(cfg.FsyncInterval), ms(def.FsyncInterval), flag),
	}
}

// kafkaConfig is one setting as a Kafka config.
type kafkaConfig struct {
	name, value string
	source      kmsg.ConfigSource
}

// fixed is a setting GoQueue has one way only, always its default.
func fixed(name, value string) kafkaConfig {
	return kafkaConfig{name, value, kmsg.ConfigSourceDefaultConfig}
}

// setting is a setting of value whose default is std: DEFAULT_CONFIG (as
// Kafka marks a config no one set) when it is std, else set, where a
// value set for it comes from.
func setting(name, value, std string, set kmsg.ConfigSource) kafkaConfig {
	if value == std {
		set = kmsg.ConfigSourceDefaultConfig
	}
	return kafkaConfig{name, value, set}
}

// retentionMinutes is --offsets-retention as Kafka's
// offsets.retention.minutes: rounded up (Kafka's unit, at least 1), and
// the largest int, as near as Kafka comes to it, for 0 (for ever).
func retentionMinutes(d time.Duration) string {
	if d <= 0 {
		return strconv.Itoa(math.MaxInt32)
	}
	return strconv.FormatInt(int64((d+time.Minute-1)/time.Minute), 10)
}

// retentionMS is a retention of hours as Kafka's milliseconds: -1, forever,
// for none.
func retentionMS(hours int64) string {
	if hours > 0 {
		return strconv.FormatInt(hours*3_600_000, 10)
	}
	return "-1"
}

// topicConfigs are a topic's settings as Kafka configs: those the topic
// has as any topic created with no settings would, the source of the
// broker config they come from (DEFAULT_CONFIG, or STATIC_BROKER_CONFIG
// for a flag's), the others DYNAMIC_TOPIC_CONFIG. A tool then shows what
// was set for the topic apart, as for Kafka's.
func (s *Server) topicConfigs(c broker.TopicConfig) []kafkaConfig {
	def, ok := s.b.DefaultTopicConfig()
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	set := kmsg.ConfigSourceDynamicTopicConfig
	out := []kafkaConfig{
		fixed("cleanup.policy", fixedConfigs["cleanup.policy"]),
		fixed("compression.type", fixedConfigs["compression.type"]),
		setting("retention.ms", retentionMS(c.RetentionHours), retentionMS(def.RetentionHours), set),
		setting("retention.bytes", i(c.RetentionBytes), i(def.RetentionBytes), set),
		setting("segment.bytes", i(c.SegmentBytes), i(def.SegmentBytes), set),
		setting("segment.ms", i(c.SegmentMS), i(def.SegmentMS), set),
		setting("max.message.bytes", i(int64(c.MaxMessageBytes)), i(int64(def.MaxMessageBytes)), set),
		setting("goqueue.fsync", c.Fsync, def.Fsync, set),
	}
	if !ok {
		// No topic is made of the broker's defaults alone: each says its own.
		for j := range out[2:] {
			out[2+j].source = set
		}
		return out
	}
	// A config the topic takes from the broker has the broker config's
	// source, as Kafka's: a flag's (STATIC_BROKER_CONFIG) or the default.
	brokers := s.brokerConfigs()
	for j := range out {
		if out[j].source != kmsg.ConfigSourceDefaultConfig {
			continue
		}
		for _, b := range brokers {
			if b.name == brokerSynonym(out[j].name) {
				out[j].source = b.source
			}
		}
	}
	return out
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
