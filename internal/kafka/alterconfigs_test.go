package kafka_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A topic's retention and size limit change over Kafka, as over PATCH
// /topics/{topic}: IncrementalAlterConfigs (kadm's AlterTopicConfigs,
// kafka-configs) sets or deletes (back to the default) each; AlterConfigs
// sets those named and resets the rest. Neither was served: a client got
// its connection closed (found trying kafka-go as a user).
func TestAlterTopicConfigs(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "alt", 1)
	configs := func() map[string]string {
		t.Helper()
		dc := kmsg.NewPtrDescribeConfigsRequest()
		dr := kmsg.NewDescribeConfigsRequestResource()
		dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, "alt"
		dc.Resources = append(dc.Resources, dr)
		resp, err := dc.RequestWith(ctxT(t), cl)
		if err != nil || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("describe configs: %v %+v", err, resp)
		}
		got := map[string]string{}
		for _, c := range resp.Resources[0].Configs {
			got[c.Name] = *c.Value
		}
		return got
	}
	defaults := configs()
	incremental := func(validate bool, kind kmsg.ConfigResourceType, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) int16 {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.ValidateOnly = validate
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.Configs = kind, "alt", ops
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode
	}
	op := func(name string, o kmsg.IncrementalAlterConfigOp, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, o, kmsg.StringPtr(value)
		return c
	}
	set, del := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete

	if code := incremental(true, kmsg.ConfigResourceTypeTopic, op("retention.ms", set, "7200000")); code != 0 {
		t.Fatalf("validate only: code %d", code)
	}
	if got := configs()["retention.ms"]; got != defaults["retention.ms"] {
		t.Fatalf("validate only changed retention.ms to %s", got)
	}
	if code := incremental(false, kmsg.ConfigResourceTypeTopic, op("retention.ms", set, "7200000"), op("max.message.bytes", set, "2048")); code != 0 {
		t.Fatalf("set: code %d", code)
	}
	if got := configs(); got["retention.ms"] != "7200000" || got["max.message.bytes"] != "2048" {
		t.Fatalf("after set: %v", got)
	}
	big := make([]byte, 4096) // incompressible: the bound is on the batch as sent
	rand.NewChaCha8([32]byte{}).Read(big)
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "alt", Value: big}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("a 4 KiB record after max.message.bytes 2048: %v, want MESSAGE_TOO_LARGE", err)
	}
	if code := incremental(false, kmsg.ConfigResourceTypeTopic, op("max.message.bytes", del, "")); code != 0 {
		t.Fatalf("delete: code %d", code)
	}
	if got := configs(); got["max.message.bytes"] != defaults["max.message.bytes"] || got["retention.ms"] != "7200000" {
		t.Fatalf("after delete: %v", got)
	}
	for _, c := range []struct {
		kind kmsg.ConfigResourceType
		op   kmsg.IncrementalAlterConfigsRequestResourceConfig
		want int16
	}{
		{kmsg.ConfigResourceTypeTopic, op("segment.bytes", set, "1048576"), kerr.InvalidConfig.Code},
		{kmsg.ConfigResourceTypeTopic, op("segment.bytes", set, defaults["segment.bytes"]), 0}, // as it is: written back
		{kmsg.ConfigResourceTypeTopic, op("max.message.bytes", set, "4294967297"), kerr.InvalidConfig.Code},
		// Past the broker's own bounds (64 MiB, 100 years): refused before
		// anything is proposed (a cluster's metadata took them, and every
		// node then refused the topic, retrying for good).
		{kmsg.ConfigResourceTypeTopic, op("max.message.bytes", set, "100000000"), kerr.InvalidConfig.Code},
		{kmsg.ConfigResourceTypeTopic, op("retention.ms", set, "1000000000000000"), kerr.InvalidConfig.Code},
		{kmsg.ConfigResourceTypeTopic, op("retention.ms", set, "9223372036854775807"), kerr.InvalidConfig.Code},
		{kmsg.ConfigResourceTypeTopic, op("retention.ms", set, "-2"), kerr.InvalidConfig.Code},
		{kmsg.ConfigResourceTypeTopic, op("cleanup.policy", set, "compact"), kerr.InvalidConfig.Code},
		{kmsg.ConfigResourceTypeTopic, op("cleanup.policy", set, "delete"), 0},
		{kmsg.ConfigResourceTypeTopic, op("retention.ms", kmsg.IncrementalAlterConfigOpAppend, "1"), kerr.InvalidConfig.Code},
		{kmsg.ConfigResourceTypeBroker, op("log.retention.ms", set, "1"), kerr.InvalidRequest.Code},
	} {
		for _, validate := range []bool{true, false} {
			if code := incremental(validate, c.kind, c.op); code != c.want {
				t.Fatalf("%s %v %s (validate only: %v): code %d, want %d", c.op.Name, c.op.Op, *c.op.Value, validate, code, c.want)
			}
		}
	}
	if code := incremental(false, kmsg.ConfigResourceTypeTopic, op("retention.ms", set, "1"), op("retention.ms", set, "2")); code != kerr.InvalidRequest.Code {
		t.Fatalf("a config named twice: code %d, want INVALID_REQUEST", code)
	}

	// AlterConfigs: what it names is set, the rest back to the defaults.
	req := kmsg.NewPtrAlterConfigsRequest()
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "alt"
	for _, c := range [][2]string{{"retention.bytes", "1048576"}, {"segment.bytes", defaults["segment.bytes"]}} {
		rc := kmsg.NewAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value = c[0], kmsg.StringPtr(c[1])
		rr.Configs = append(rr.Configs, rc)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter configs: %v %+v", err, resp)
	}
	if got := configs(); got["retention.bytes"] != "1048576" || got["retention.ms"] != defaults["retention.ms"] {
		t.Fatalf("after AlterConfigs: %v", got)
	}
}
