package kafka

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// describeConfigs reports a topic's settings under Kafka's config names
// (the ones CreateTopics accepts) and, for the broker, none: GoQueue's
// broker settings are its flags, not Kafka's.
func (s *Server) describeConfigs(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	resp.SetVersion(req.Version)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeBroker:
		case kmsg.ConfigResourceTypeTopic:
			ti, err := s.b.Topic(rr.ResourceName)
			if err != nil {
				sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			for _, c := range s.topicConfigs(ti.Config) {
				if len(rr.ConfigNames) > 0 && !contains(rr.ConfigNames, c.name) {
					continue
				}
				rc := kmsg.NewDescribeConfigsResponseResourceConfig()
				rc.Name, rc.Value, rc.Source = c.name, kmsg.StringPtr(c.value), c.source
				rc.IsDefault = c.source == kmsg.ConfigSourceDefaultConfig // v0's say
				sr.Configs = append(sr.Configs, rc)
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// topicConfig is one of a topic's settings as a Kafka config.
type topicConfig struct {
	name, value string
	source      kmsg.ConfigSource
}

// topicConfigs are a topic's settings as Kafka configs: those the topic
// has as any topic created with no settings would, DEFAULT_CONFIG (as
// Kafka marks a config no one set), the others DYNAMIC_TOPIC_CONFIG. A
// tool then shows what was set for the topic apart, as for Kafka's.
func (s *Server) topicConfigs(c broker.TopicConfig) []topicConfig {
	def, ok := s.b.DefaultTopicConfig()
	retention := func(c broker.TopicConfig) int64 {
		if c.RetentionHours > 0 {
			return c.RetentionHours * 3_600_000
		}
		return -1
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	out := []topicConfig{
		{"cleanup.policy", fixedConfigs["cleanup.policy"], kmsg.ConfigSourceDefaultConfig},
		{"compression.type", fixedConfigs["compression.type"], kmsg.ConfigSourceDefaultConfig},
	}
	for _, v := range []struct {
		name       string
		value, std string
	}{
		{"retention.ms", i(retention(c)), i(retention(def))},
		{"retention.bytes", i(c.RetentionBytes), i(def.RetentionBytes)},
		{"segment.bytes", i(c.SegmentBytes), i(def.SegmentBytes)},
		{"segment.ms", i(c.SegmentMS), i(def.SegmentMS)},
		{"max.message.bytes", i(int64(c.MaxMessageBytes)), i(int64(def.MaxMessageBytes))},
		{"goqueue.fsync", c.Fsync, def.Fsync},
	} {
		source := kmsg.ConfigSourceDynamicTopicConfig
		if ok && v.value == v.std {
			source = kmsg.ConfigSourceDefaultConfig
		}
		out = append(out, topicConfig{v.name, v.value, source})
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
