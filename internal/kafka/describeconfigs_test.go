package kafka_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs of this broker (its ID as the resource name, as
// kafka-configs --describe --broker and Kafka UIs ask) shows its settings
// under Kafka's broker config names, read-only, a flag's value
// STATIC_BROKER_CONFIG and a default DEFAULT_CONFIG; "" (the cluster's
// dynamic defaults) has none, and another broker's ID is INVALID_REQUEST.
// A broker answered no configs at all (found with confluent-kafka's
// describe_configs).
func TestDescribeBrokerConfigs(t *testing.T) {
	p := start(t, "--partitions", "5", "--segment-bytes", "1MiB", "--max-session-timeout", "20s", "--session-timeout", "10s",
		"--offsets-retention", "90m")
	cl := p.client(t)
	id := metadataBroker(t, cl)
	// kgo sends a broker's resource to that broker: ask this one for all.
	node, _ := strconv.Atoi(id)
	b := cl.Broker(node)
	describe := func(name string, keys ...string) kmsg.DescribeConfigsResponseResource {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeBroker, name, keys
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctxT(t), b)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0]
	}
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	r := describe(id)
	if r.ErrorCode != 0 {
		t.Fatalf("broker %s: code %d", id, r.ErrorCode)
	}
	for _, c := range r.Configs {
		if !c.ReadOnly {
			t.Errorf("%s is not read-only", c.Name)
		}
		got[c.Name] = c
	}
	for _, want := range []struct {
		name, value string
		source      kmsg.ConfigSource
	}{
		{"num.partitions", "5", kmsg.ConfigSourceStaticBrokerConfig},
		{"log.segment.bytes", "1048576", kmsg.ConfigSourceStaticBrokerConfig},
		{"log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
		{"message.max.bytes", "1048576", kmsg.ConfigSourceDefaultConfig},
		{"log.message.timestamp.before.max.ms", "9223372036854775807", kmsg.ConfigSourceDefaultConfig},
		{"auto.create.topics.enable", "false", kmsg.ConfigSourceDefaultConfig},
		{"goqueue.fsync", "interval", kmsg.ConfigSourceDefaultConfig},
		{"group.max.session.timeout.ms", "20000", kmsg.ConfigSourceStaticBrokerConfig}, // what every join is held to
		{"group.min.session.timeout.ms", "1000", kmsg.ConfigSourceDefaultConfig},
		{"offsets.retention.minutes", "90", kmsg.ConfigSourceStaticBrokerConfig},
	} {
		c, ok := got[want.name]
		if !ok || c.Value == nil || *c.Value != want.value || c.Source != want.source {
			t.Errorf("%s = %+v, want %q from source %d", want.name, c, want.value, want.source)
		}
	}
	if r := describe(id, "num.partitions"); len(r.Configs) != 1 {
		t.Fatalf("one config asked for, %d answered", len(r.Configs))
	}
	if r := describe(""); r.ErrorCode != 0 || len(r.Configs) != 0 {
		t.Fatalf(`cluster defaults (""): code %d, %d configs; want none`, r.ErrorCode, len(r.Configs))
	}
	if r := describe("77"); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("another broker's ID: code %d, want INVALID_REQUEST", r.ErrorCode)
	}
	if r := describe("0" + id); r.ErrorCode != 0 || len(r.Configs) == 0 {
		t.Fatalf("this broker's ID as %q: code %d, %d configs", "0"+id, r.ErrorCode, len(r.Configs))
	}
}

// metadataBroker is the node ID, as a string, of the broker Metadata
// names.
func metadataBroker(t *testing.T, cl interface {
	Request(context.Context, kmsg.Request) (kmsg.Response, error)
}) string {
	t.Helper()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctxT(t), cl)
	if err != nil || len(resp.Brokers) != 1 {
		t.Fatalf("metadata: %v %+v", err, resp)
	}
	return strconv.Itoa(int(resp.Brokers[0].NodeID))
}

// Asked for synonyms, a config lists where its value may come from, as
// Kafka lists them: a topic's own setting, then the broker config every
// topic takes otherwise (a flag's STATIC_BROKER_CONFIG); a broker's config
// itself. The list was empty (found with kafkajs's describeConfigs and
// includeSynonyms, where Kafka lists them).
func TestDescribeConfigsSynonyms(t *testing.T) {
	p := start(t, "--segment-bytes", "1MiB")
	cl := p.client(t)
	create := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "syn", 1, 1
	rc := kmsg.NewCreateTopicsRequestTopicConfig()
	rc.Name, rc.Value = "retention.ms", kmsg.StringPtr("7200000")
	rt.Configs = append(rt.Configs, rc)
	create.Topics = append(create.Topics, rt)
	if resp, err := create.RequestWith(ctxT(t), cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	id := metadataBroker(t, cl)
	node, _ := strconv.Atoi(id)
	sources := map[string]string{} // of the configs last described
	describe := func(typ kmsg.ConfigResourceType, name string, synonyms bool) map[string][]string {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeSynonyms = synonyms
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctxT(t), cl.Broker(node))
		if err != nil || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("describe %s: %v %+v", name, err, resp)
		}
		got := map[string][]string{}
		for _, c := range resp.Resources[0].Configs {
			got[c.Name] = []string{}
			sources[c.Name] = c.Source.String()
			for _, sy := range c.ConfigSynonyms {
				got[c.Name] = append(got[c.Name], sy.Source.String()+":"+sy.Name+"="+*sy.Value)
			}
		}
		return got
	}
	topic := describe(kmsg.ConfigResourceTypeTopic, "syn", true)
	for name, want := range map[string][]string{
		"retention.ms":   {"DYNAMIC_TOPIC_CONFIG:retention.ms=7200000", "DEFAULT_CONFIG:log.retention.ms=604800000"},
		"segment.bytes":  {"STATIC_BROKER_CONFIG:log.segment.bytes=1048576"},
		"segment.ms":     {"DEFAULT_CONFIG:log.roll.ms=86400000"},
		"cleanup.policy": {"DEFAULT_CONFIG:log.cleanup.policy=delete"},
		"goqueue.fsync":  {"DEFAULT_CONFIG:goqueue.fsync=interval"},
	} {
		if !slices.Equal(topic[name], want) {
			t.Errorf("topic's %s: synonyms %q, want %q", name, topic[name], want)
		}
	}
	// A config taken from the broker has its source (a flag's for
	// segment.bytes); it said DEFAULT_CONFIG, against its synonym.
	for name, want := range map[string]string{"retention.ms": "DYNAMIC_TOPIC_CONFIG", "segment.bytes": "STATIC_BROKER_CONFIG", "segment.ms": "DEFAULT_CONFIG"} {
		if sources[name] != want {
			t.Errorf("topic's %s: source %s, want %s", name, sources[name], want)
		}
	}
	brokers := describe(kmsg.ConfigResourceTypeBroker, id, true)
	if got, want := brokers["log.segment.bytes"], []string{"STATIC_BROKER_CONFIG:log.segment.bytes=1048576"}; !slices.Equal(got, want) {
		t.Errorf("broker's log.segment.bytes: synonyms %q, want %q", got, want)
	}
	if got := describe(kmsg.ConfigResourceTypeTopic, "syn", false)["retention.ms"]; len(got) != 0 {
		t.Errorf("synonyms %q not asked for", got)
	}
}
