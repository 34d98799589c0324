package kafka_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics answers as Kafka does what kafka-python and kadm, trying
// GoQueue as users, found answered otherwise: validate_only checked
// nothing (an existing topic, a bad name, 100,000 partitions: all "would
// be created"); max.message.bytes past int32 was wrapped (4294967297
// became 1, and every later produce failed); Kafka's own defaults
// cleanup.policy=delete and compression.type=producer were refused; a
// topic named twice was created once; __consumer_offsets was created, an
// ordinary topic that Kafka tools take for Kafka's internal one.
func TestCreateTopicsChecks(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "exists", 1)
	type cfg = [2]string
	for _, tc := range []struct {
		name         string
		topics       []string
		partitions   int32
		configs      []cfg
		validateOnly bool
		want         []int16
		why          string // in the first topic's error message, if set
	}{
		{"validate, exists", []string{"exists"}, 1, nil, true, []int16{kerr.TopicAlreadyExists.Code}, ""},
		{"validate, bad name", []string{"bad/name"}, 1, nil, true, []int16{kerr.InvalidTopicException.Code}, ""},
		{"validate, too many partitions", []string{"many"}, 100_000, nil, true, []int16{kerr.InvalidPartitions.Code}, ""},
		{"validate, good", []string{"fine"}, 2, nil, true, []int16{0}, ""},
		{"max.message.bytes past int32", []string{"wrap"}, 1, []cfg{{"max.message.bytes", "4294967297"}}, false, []int16{kerr.InvalidConfig.Code}, ""},
		{"segment.bytes 0", []string{"seg0"}, 1, []cfg{{"segment.bytes", "0"}}, false, []int16{kerr.InvalidConfig.Code}, ""},
		{"cleanup.policy compact", []string{"compact"}, 1, []cfg{{"cleanup.policy", "compact"}}, false, []int16{kerr.InvalidConfig.Code}, `"cleanup.policy" is always "delete"`},
		// As AlterConfigs refuses them: below -1, and not a number (once
		// called an unsupported config, in a message listing it).
		{"retention.ms -2", []string{"ret2"}, 1, []cfg{{"retention.ms", "-2"}}, false, []int16{kerr.InvalidConfig.Code}, "must be -1 (forever) or a number of ms"},
		{"retention.ms abc", []string{"retabc"}, 1, []cfg{{"retention.ms", "abc"}}, false, []int16{kerr.InvalidConfig.Code}, "must be -1 (forever) or a number of ms"},
		{"retention.bytes 0", []string{"retb0"}, 1, []cfg{{"retention.bytes", "0"}}, false, []int16{kerr.InvalidConfig.Code}, "must be positive, or -1"},
		{"unknown config", []string{"unknown"}, 1, []cfg{{"flush.ms", "5"}}, false, []int16{kerr.InvalidConfig.Code}, `unsupported topic config "flush.ms"`},
		{"Kafka's defaults", []string{"defaults"}, 1, []cfg{{"cleanup.policy", "delete"}, {"compression.type", "producer"}}, false, []int16{0}, ""},
		{"named twice", []string{"twice", "twice"}, 1, nil, false, []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}, ""},
		// As Kafka refuses its own internal topic it keeps elsewhere
		// (__cluster_metadata): each such topic, not the request.
		{"Kafka's offsets topic", []string{"__consumer_offsets", "beside"}, 1, nil, false, []int16{kerr.InvalidRequest.Code, 0}, "Creation of internal topic __consumer_offsets is prohibited"},
		{"validate, Kafka's transaction topic", []string{"__transaction_state"}, 1, nil, true, []int16{kerr.InvalidRequest.Code}, "Creation of internal topic __transaction_state is prohibited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.ValidateOnly = tc.validateOnly
			for _, name := range tc.topics {
				req.Topics = append(req.Topics, topicToCreate(name, tc.partitions, tc.configs...))
			}
			resp, err := req.RequestWith(ctxT(t), cl)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range resp.Topics {
				if st.ErrorCode != tc.want[i] {
					t.Fatalf("topic %d (%s): code %d, want %d (%v)", i, st.Topic, st.ErrorCode, tc.want[i], st.ErrorMessage)
				}
			}
			msg := ""
			if m := resp.Topics[0].ErrorMessage; m != nil {
				msg = *m
			}
			if !strings.Contains(msg, tc.why) {
				t.Fatalf("error message %q, want one saying %q", msg, tc.why)
			}
		})
	}
	for _, name := range []string{"fine", "twice", "wrap", "__consumer_offsets", "__transaction_state"} {
		if code := metadataTopic(t, cl, name).ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("topic %s: metadata code %d; it should not have been created", name, code)
		}
	}

	// The configs of the created topic: what any topic would have is
	// DEFAULT_CONFIG, what was set for it DYNAMIC_TOPIC_CONFIG, in the
	// creation's answer (v5+) and in DescribeConfigs.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics = append(req.Topics, topicToCreate("set", 1, [2]string{"retention.bytes", "12345"}))
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	sources := map[string]int8{}
	for _, c := range resp.Topics[0].Configs {
		sources[c.Name] = c.Source
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, "set"
	dc.Resources = append(dc.Resources, dr)
	dresp, err := dc.RequestWith(ctxT(t), cl)
	if err != nil || dresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe configs: %v %+v", err, dresp)
	}
	described := map[string]kmsg.ConfigSource{}
	for _, c := range dresp.Resources[0].Configs {
		described[c.Name] = c.Source
	}
	for name, want := range map[string]kmsg.ConfigSource{
		"retention.bytes": kmsg.ConfigSourceDynamicTopicConfig,
		"retention.ms":    kmsg.ConfigSourceDefaultConfig,
		"cleanup.policy":  kmsg.ConfigSourceDefaultConfig,
	} {
		if sources[name] != int8(want) || described[name] != want {
			t.Fatalf("%s: source %d in the creation's answer, %v described; want %v", name, sources[name], described[name], want)
		}
	}
}

// A config sent without a value is refused with the names of every such
// config, as Kafka refuses it ("Null value not supported for topic configs"),
// whether the name is known or not; the topic is not created. Before, a null
// value was skipped, so a typo in a name went unnoticed.
func TestCreateTopicsRefusesNullConfigs(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	for _, validateOnly := range []bool{true, false} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.ValidateOnly = validateOnly
		rt := topicToCreate("nulls", 1, [2]string{"retention.bytes", "12345"})
		for _, name := range []string{"retention.ms", "no.such.config"} {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name = name // Value nil: null on the wire
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		st := resp.Topics[0]
		const want = "Null value not supported for topic configs: retention.ms,no.such.config"
		if st.ErrorCode != kerr.InvalidConfig.Code || st.ErrorMessage == nil || *st.ErrorMessage != want {
			t.Fatalf("validate only %v: code %d, message %v; want INVALID_CONFIG %q", validateOnly, st.ErrorCode, st.ErrorMessage, want)
		}
	}
	if code := metadataTopic(t, cl, "nulls").ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata code %d: the topic should not have been created", code)
	}
}
