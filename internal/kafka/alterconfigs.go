package kafka

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// A topic's settings change over Kafka as PATCH /topics/{topic} changes
// them: retention.ms, retention.bytes and max.message.bytes.
// IncrementalAlterConfigs (kadm's AlterTopicConfigs, kafka-configs) sets
// each named or deletes it (back to the broker's default); AlterConfigs,
// the legacy call, sets those named and sends the other two of the three
// back to their defaults. What a topic cannot change after its creation
// (segment.bytes, segment.ms, goqueue.fsync) is taken at the value it has
// and refused at any other (INVALID_CONFIG), as is any other config;
// Kafka's values of what GoQueue does one way only (cleanup.policy
// delete, compression.type producer) are taken and change nothing.
// GoQueue's broker settings are its flags: a BROKER resource is
// INVALID_REQUEST.

// configOp is one config change of a topic: value set (nil: none given),
// or (del) the broker's default again.
type configOp struct {
	name  string
	value *string
	del   bool
}

// alterableConfigs are the configs a topic can change, as AlterConfigs
// resets those it does not name.
var alterableConfigs = []string{"retention.ms", "retention.bytes", "max.message.bytes"}

func (s *Server) incrementalAlterConfigs(ctx context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	resp.SetVersion(req.Version)
	twice := resourcesNamedTwice(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	for i, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var ops []configOp
		code, msg := int16(0), ""
		if twice[i] {
			code, msg = kerr.InvalidRequest.Code, "the request names this resource more than once"
		}
		for _, c := range rr.Configs {
			switch c.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				ops = append(ops, configOp{name: c.Name, value: c.Value})
			case kmsg.IncrementalAlterConfigOpDelete:
				ops = append(ops, configOp{name: c.Name, del: true})
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				code, msg = kerr.InvalidConfig.Code, "config "+strconv.Quote(c.Name)+": APPEND and SUBTRACT are for list configs; GoQueue's topic configs are single values"
			default:
				code, msg = kerr.InvalidRequest.Code, "config "+strconv.Quote(c.Name)+": unknown operation "+strconv.Itoa(int(c.Op))
			}
		}
		if code == 0 {
			code, msg = s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, ops, req.ValidateOnly)
		}
		sr.ErrorCode = code
		if code != 0 {
			sr.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (s *Server) alterConfigsLegacy(ctx context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	resp.SetVersion(req.Version)
	twice := resourcesNamedTwice(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	for i, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var ops []configOp
		named := map[string]bool{}
		for _, c := range rr.Configs {
			ops = append(ops, configOp{name: c.Name, value: c.Value})
			named[c.Name] = true
		}
		for _, name := range alterableConfigs {
			if !named[name] {
				ops = append(ops, configOp{name: name, del: true})
			}
		}
		code, msg := kerr.InvalidRequest.Code, "the request names this resource more than once"
		if !twice[i] {
			code, msg = s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, ops, req.ValidateOnly)
		}
		sr.ErrorCode = code
		if code != 0 {
			sr.ErrorMessage = &msg
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// resourcesNamedTwice marks the resources of a request of n that another
// names too: Kafka refuses them all (INVALID_REQUEST).
func resourcesNamedTwice(n int, at func(i int) (kmsg.ConfigResourceType, string)) []bool {
	type key struct {
		kind kmsg.ConfigResourceType
		name string
	}
	count := map[key]int{}
	for i := range n {
		k, name := at(i)
		count[key{k, name}]++
	}
	out := make([]bool, n)
	for i := range n {
		k, name := at(i)
		out[i] = count[key{k, name}] > 1
	}
	return out
}

// alterConfigs applies ops to the topic of a resource (unless validating
// only) and says how that went as a Kafka error code and message. The
// change is checked as the broker checks an alteration (its bounds of
// retention and message size) before anything is proposed: a cluster's
// metadata takes what it is given, and a value every node then refused
// kept them all retrying.
func (s *Server) alterConfigs(ctx context.Context, kind kmsg.ConfigResourceType, topic string, ops []configOp, validateOnly bool) (int16, string) {
	if kind != kmsg.ConfigResourceTypeTopic {
		return kerr.InvalidRequest.Code, "GoQueue's broker settings are its flags; only topic configs change over Kafka"
	}
	ti, err := s.b.Topic(topic)
	if err != nil {
		return errorCode(err), err.Error()
	}
	change, err := s.topicChange(ti.Config, ops)
	if err == nil {
		err = s.b.CheckTopicChange(topic, change)
	}
	if err != nil {
		return errorCode(err), err.Error()
	}
	if validateOnly || change == (broker.TopicChange{}) {
		return 0, ""
	}
	if s.clusterTopic(topic) {
		err = s.opts.Cluster.AlterTopic(ctx, topic, api.AlterTopicRequest{RetentionHours: hoursOf(change.Retention),
			RetentionBytes: change.RetentionBytes, MaxMessageBytes: change.MaxMessageBytes})
	} else {
		_, err = s.b.AlterTopic(topic, change)
	}
	if err != nil {
		return errorCode(err), err.Error()
	}
	return 0, ""
}

// topicChange is ops as an alteration of topic settings cur (a deleted
// config: the broker's default), or why not: INVALID_REQUEST for a config
// named twice or without a value, INVALID_CONFIG for one the topic cannot
// change, or a value out of Kafka's range. A config fixed at creation (or
// for good) is taken at the value it has: a client that writes back what
// DescribeConfigs said (Sarama's AlterConfig) changes nothing.
func (s *Server) topicChange(cur broker.TopicConfig, ops []configOp) (broker.TopicChange, error) {
	def, _ := s.b.DefaultTopicConfig()
	var change broker.TopicChange
	seen := map[string]bool{}
	for _, op := range ops {
		bad := func(why string) error {
			return api.ErrInvalidArgument.Withf("config %q: %s", op.name, why)
		}
		if seen[op.name] {
			return change, kerr.InvalidRequest // Kafka: duplicate config keys
		}
		seen[op.name] = true
		if !op.del && op.value == nil {
			return change, kerr.InvalidRequest // Kafka: null value not supported
		}
		var v string
		if op.value != nil {
			v = *op.value
		}
		n, why, _ := numericConfig(op.name, v)
		if why != "" && !op.del && slices.Contains(alterableConfigs, op.name) {
			return change, api.ErrInvalidArgument.Withf("%s", why)
		}
		switch op.name {
		case "retention.ms":
			switch {
			case op.del:
				change.Retention = retentionOf(def.RetentionHours)
			case n == -1:
				change.Retention = -1
			default:
				change.Retention = millis(max(n, 1)) // the broker keeps whole hours, rounded up
			}
		case "retention.bytes":
			change.RetentionBytes = n
			if op.del {
				change.RetentionBytes = def.RetentionBytes
			}
		case "max.message.bytes":
			change.MaxMessageBytes = int32(n)
			if op.del {
				change.MaxMessageBytes = def.MaxMessageBytes
			}
		default:
			// What cannot change is taken at the value it has.
			now, ok := currentConfig(s.topicConfigs(cur), op.name)
			std, _ := currentConfig(s.topicConfigs(def), op.name)
			switch {
			case !ok:
				return change, bad("not a GoQueue topic config (those that change: retention.ms, retention.bytes, max.message.bytes)")
			case op.del && now != std, !op.del && v != now:
				return change, bad("set when the topic is created (here " + now + "); it cannot change after")
			}
		}
	}
	return change, nil
}

// currentConfig is the value of config name among cs.
func currentConfig(cs []kafkaConfig, name string) (string, bool) {
	for _, c := range cs {
		if c.name == name {
			return c.value, true
		}
	}
	return "", false
}

// retentionOf is a retention in hours (-1: forever, 0: unchanged) as a
// broker.TopicChange's; hoursOf is the inverse, rounded up.
func retentionOf(hours int64) time.Duration {
	if hours < 0 {
		return -1
	}
	return time.Duration(hours) * time.Hour
}

func hoursOf(d time.Duration) int64 {
	switch {
	case d < 0:
		return -1
	case d%time.Hour != 0:
		return int64(d/time.Hour) + 1
	}
	return int64(d / time.Hour)
}
