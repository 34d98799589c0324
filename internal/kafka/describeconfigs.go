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
			for _, c := range topicConfigs(ti.Config) {
				if len(rr.ConfigNames) > 0 && !contains(rr.ConfigNames, c[0]) {
					continue
				}
				rc := kmsg.NewDescribeConfigsResponseResourceConfig()
				v := c[1]
				rc.Name, rc.Value, rc.Source = c[0], &v, kmsg.ConfigSourceDynamicTopicConfig
				sr.Configs = append(sr.Configs, rc)
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// topicConfigs are a topic's settings as Kafka config name/value pairs.
func topicConfigs(c broker.TopicConfig) [][2]string {
	retention := int64(-1)
	if c.RetentionHours > 0 {
		retention = c.RetentionHours * 3_600_000
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return [][2]string{
		{"cleanup.policy", "delete"},
		{"retention.ms", i(retention)},
		{"retention.bytes", i(c.RetentionBytes)},
		{"segment.bytes", i(c.SegmentBytes)},
		{"segment.ms", i(c.SegmentMS)},
		{"max.message.bytes", i(int64(c.MaxMessageBytes))},
		{"goqueue.fsync", c.Fsync},
	}
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
