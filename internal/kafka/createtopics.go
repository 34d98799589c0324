package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// fixedConfigs are Kafka's defaults for what GoQueue does one way only:
// taken with that value (a tool may name every default), refused with any
// other. Batches are stored as the producer compressed them.
var fixedConfigs = map[string]string{"cleanup.policy": "delete", "compression.type": "producer"}

// numericConfigs are the numeric Kafka topic configs GoQueue takes, each
// with the values it accepts and what it says of any other: one rule for
// CreateTopics and AlterConfigs (CreateTopics took retention.ms -2, which
// AlterConfigs refused).
var numericConfigs = map[string]struct {
	ok   func(n int64) bool
	want string
}{
	"retention.ms":      {func(n int64) bool { return n >= -1 }, "must be -1 (forever) or a number of ms"},
	"retention.bytes":   {func(n int64) bool { return n > 0 || n == -1 }, "must be positive, or -1 for no bound"},
	"segment.bytes":     {func(n int64) bool { return n >= 1 }, "must be positive"}, // 0 would be TopicSpec's default
	"segment.ms":        {func(n int64) bool { return n >= 1 }, "must be positive"},
	"max.message.bytes": {func(n int64) bool { return n >= 1 && n <= math.MaxInt32 }, "must be between 1 and 2147483647"},
}

// numericConfig parses value as config name's number: n, or why not (an
// INVALID_CONFIG message); known reports whether name is numeric.
func numericConfig(name, value string) (n int64, why string, known bool) {
	rule, known := numericConfigs[name]
	if !known {
		return 0, "", false
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || !rule.ok(n) {
		return 0, fmt.Sprintf("config %q: %s, not %q", name, rule.want, value), true
	}
	return n, "", true
}

// nullConfigs says, as Kafka does, which configs came without a value (an
// INVALID_CONFIG message), or "" if none did. Kafka refuses them whatever
// their names: skipped, a misspelt name would go unnoticed.
func nullConfigs(configs []kmsg.CreateTopicsRequestTopicConfig) string {
	var names []string
	for _, c := range configs {
		if c.Value == nil {
			names = append(names, c.Name)
		}
	}
	if names == nil {
		return ""
	}
	return "Null value not supported for topic configs: " + strings.Join(names, ",")
}

// applyTopicConfig applies a Kafka topic config CreateTopics names to
// GoQueue's topic settings, or says why it cannot (an INVALID_CONFIG
// message). An unknown config is refused: silently ignoring a setting
// would surprise its author later.
func applyTopicConfig(req *broker.TopicSpec, name, value string) string {
	if v, ok := fixedConfigs[name]; ok {
		if value != v {
			return fmt.Sprintf("config %q is always %q in GoQueue, not %q", name, v, value)
		}
		return ""
	}
	if name == "goqueue.fsync" {
		req.Fsync = value // checked with the rest of the spec
		return ""
	}
	n, why, known := numericConfig(name, value)
	switch {
	case !known:
		return "unsupported topic config " + strconv.Quote(name) +
			" (supported: retention.ms, retention.bytes, segment.bytes, segment.ms, max.message.bytes, goqueue.fsync;" +
			" cleanup.policy delete and compression.type producer, which GoQueue always does)"
	case why != "":
		return why
	}
	switch name {
	case "retention.ms":
		// The broker keeps retention in whole hours, rounded up: 0 ms
		// (delete at once) is its shortest, one hour.
		req.Retention = millis(max(n, 1))
		if n == -1 {
			req.Retention = -1
		}
	case "retention.bytes":
		req.RetentionBytes = n
	case "segment.bytes":
		req.SegmentBytes = n
	case "segment.ms":
		req.SegmentAge = millis(n)
	case "max.message.bytes":
		req.MaxMessageBytes = int32(n)
	}
	return ""
}

// millis is n ms as a duration, held within time.Duration's range.
func millis(n int64) time.Duration {
	const most = math.MaxInt64 / int64(time.Millisecond)
	return time.Duration(min(max(n, -most), most)) * time.Millisecond
}

// createTopics creates topics: on a cluster node through the cluster's
// metadata (every node creates it), with the replication factor asked for
// (-1: the cluster's default); on a single broker locally, with one
// replica.
func (s *Server) createTopics(ctx context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	resp.SetVersion(req.Version)
	named := map[string]int{}
	for _, rt := range req.Topics {
		named[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(code int16, msg string) {
			st.ErrorCode, st.ErrorMessage = code, &msg
			resp.Topics = append(resp.Topics, st)
		}
		creq := broker.TopicSpec{Name: rt.Topic}
		switch {
		case named[rt.Topic] > 1:
			fail(kerr.InvalidRequest.Code, "the request names topic "+strconv.Quote(rt.Topic)+" more than once")
			continue
		case broker.KafkaInternalTopic(rt.Topic):
			// Kafka's answer for its internal topic that is no ordinary
			// topic (__cluster_metadata); GoQueue keeps none as topics.
			fail(kerr.InvalidRequest.Code, "Creation of internal topic "+rt.Topic+" is prohibited: "+
				"GoQueue keeps group offsets, transactions and its metadata outside topics")
			continue
		case len(rt.ReplicaAssignment) > 0:
			fail(kerr.InvalidReplicaAssignment.Code, "a single GoQueue broker places every partition itself")
			continue
		case rt.ReplicationFactor > 1 && s.opts.Cluster == nil:
			fail(kerr.InvalidReplicationFactor.Code, "a single GoQueue broker keeps one replica of each partition")
			continue
		case rt.ReplicationFactor == 0 || rt.ReplicationFactor < -1:
			fail(kerr.InvalidReplicationFactor.Code, "replication factor must be positive, or -1 for the broker's default")
			continue
		case rt.NumPartitions > 0:
			creq.Partitions = rt.NumPartitions
		case rt.NumPartitions == 0 || rt.NumPartitions < -1:
			fail(kerr.InvalidPartitions.Code, "partitions must be positive, or -1 for the broker's default")
			continue
		}
		why := nullConfigs(rt.Configs)
		for _, c := range rt.Configs {
			if why != "" {
				break
			}
			why = applyTopicConfig(&creq, c.Name, *c.Value) // none is nil: nullConfigs said
		}
		if why != "" {
			fail(kerr.InvalidConfig.Code, why)
			continue
		}
		if req.ValidateOnly {
			// Nothing is created; the answer says what would be, or why
			// not, as the creation would.
			cfg, err := s.b.ValidateTopic(creq)
			if err != nil {
				fail(errorCode(err), err.Error())
				continue
			}
			rf := 1 // a single broker's (more was refused above)
			if s.opts.Cluster != nil {
				if rf, err = s.opts.Cluster.ReplicationFactor(int32(max(rt.ReplicationFactor, 0))); err != nil {
					fail(kerr.InvalidReplicationFactor.Code, err.Error())
					continue
				}
			}
			st.NumPartitions, st.ReplicationFactor = cfg.Partitions, int16(rf)
			st.Configs = s.createdConfigs(cfg)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		ti, err := s.createTopic(ctx, creq, rt.ReplicationFactor)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			if e := (*api.Error)(nil); errors.As(err, &e) && e.Details["field"] == "replication_factor" {
				// More replicas than nodes: Kafka's own code for it,
				// which clients test for (INVALID_ARGUMENT's is
				// INVALID_CONFIG).
				st.ErrorCode = kerr.InvalidReplicationFactor.Code
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = s.topicID(ti)
		st.NumPartitions = ti.Config.Partitions
		st.ReplicationFactor = 1
		if parts, ok := s.clusterPlacement(ti.Config.Name); ok && len(parts) > 0 {
			st.ReplicationFactor = int16(len(parts[0].Replicas))
		}
		st.Configs = s.createdConfigs(ti.Config)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createTopic creates spec's topic: through the metadata on a cluster node
// (rf -1 is the cluster's default), else in this broker.
func (s *Server) createTopic(ctx context.Context, spec broker.TopicSpec, rf int16) (broker.TopicInfo, error) {
	if s.opts.Cluster == nil {
		return s.b.CreateTopic(spec)
	}
	if err := s.opts.Cluster.CreateKafkaTopic(ctx, spec, int32(max(rf, 0))); err != nil {
		return broker.TopicInfo{}, err
	}
	return s.b.Topic(spec.Name)
}

// createdConfigs are a created topic's configs as CreateTopics v5+ answers
// them (older versions do not carry them).
func (s *Server) createdConfigs(c broker.TopicConfig) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, tc := range s.topicConfigs(c) {
		rc := kmsg.NewCreateTopicsResponseTopicConfig()
		rc.Name, rc.Value, rc.Source = tc.name, kmsg.StringPtr(tc.value), int8(tc.source)
		out = append(out, rc)
	}
	return out
}
