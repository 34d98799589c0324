package kafka

import (
	"context"
	"errors"
	"math"
	"strconv"
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

// topicConfigs are the Kafka topic configs CreateTopics accepts, mapped to
// GoQueue's topic settings. Any other config is INVALID_CONFIG: silently
// ignoring a setting would surprise its author later.
func applyTopicConfig(req *broker.TopicSpec, name string, value *string) bool {
	if value == nil {
		return true
	}
	n, err := strconv.ParseInt(*value, 10, 64)
	if v, ok := fixedConfigs[name]; ok {
		return *value == v
	}
	switch name {
	case "retention.ms":
		if err != nil {
			return false
		}
		// The broker keeps retention in whole hours, rounded up: 0 ms
		// (delete at once) is its shortest, one hour.
		req.Retention = millis(max(n, 1))
		if n < 0 {
			req.Retention = -1
		}
	case "retention.bytes":
		if err != nil {
			return false
		}
		req.RetentionBytes = n
	case "segment.bytes":
		// 0 would be the broker's default to TopicSpec: refused, as Kafka
		// refuses it.
		if err != nil || n < 1 {
			return false
		}
		req.SegmentBytes = n
	case "segment.ms":
		if err != nil || n < 1 {
			return false
		}
		req.SegmentAge = millis(n)
	case "max.message.bytes":
		if err != nil || n < 1 || n > math.MaxInt32 {
			return false // it was wrapped into an int32: 4294967297 became 1
		}
		req.MaxMessageBytes = int32(n)
	case "goqueue.fsync":
		req.Fsync = *value
	default:
		return false
	}
	return true
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
		bad := ""
		for _, c := range rt.Configs {
			if !applyTopicConfig(&creq, c.Name, c.Value) {
				bad = c.Name
				break
			}
		}
		if bad != "" {
			fail(kerr.InvalidConfig.Code, "unsupported topic config "+strconv.Quote(bad)+
				" (supported: retention.ms, retention.bytes, segment.bytes, segment.ms, max.message.bytes, goqueue.fsync;"+
				" cleanup.policy delete and compression.type producer, which GoQueue always does)")
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
