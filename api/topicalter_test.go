package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// A setting named in Default travels as null and comes back into Default;
// the others as numbers, or not at all when zero.
func TestAlterTopicRequestJSON(t *testing.T) {
	for _, c := range []struct {
		req  AlterTopicRequest
		json string
	}{
		{AlterTopicRequest{RetentionHours: 2}, `{"retention_hours":2}`},
		{AlterTopicRequest{Default: TopicDefaults{RetentionBytes: true}}, `{"retention_bytes":null}`},
		{AlterTopicRequest{Partitions: 4, MaxMessageBytes: 9, Default: TopicDefaults{RetentionHours: true, RetentionBytes: true}},
			`{"max_message_bytes":9,"partitions":4,"retention_bytes":null,"retention_hours":null}`},
		{AlterTopicRequest{Default: TopicDefaults{RetentionHours: true, RetentionBytes: true, MaxMessageBytes: true}},
			`{"max_message_bytes":null,"retention_bytes":null,"retention_hours":null}`},
	} {
		b, err := json.Marshal(c.req)
		if err != nil || string(b) != c.json {
			t.Errorf("marshal %+v: %s %v, want %s", c.req, b, err, c.json)
		}
		var back AlterTopicRequest
		if err := json.Unmarshal(b, &back); err != nil || back != c.req {
			t.Errorf("unmarshal %s: %+v %v, want %+v", b, back, err, c.req)
		}
	}
}

// Default wins over a value; a field named in any case is matched, as
// encoding/json matches it; unknown fields are refused.
func TestAlterTopicRequestUnmarshal(t *testing.T) {
	for _, c := range []struct {
		json string
		want AlterTopicRequest
		err  string
	}{
		{`{"retention_bytes":5,"retention_bytes":null}`, AlterTopicRequest{RetentionBytes: 5, Default: TopicDefaults{RetentionBytes: true}}, ""},
		{`{"Retention_Hours":null}`, AlterTopicRequest{Default: TopicDefaults{RetentionHours: true}}, ""},
		{`null`, AlterTopicRequest{}, ""},
		{`{"retention_byte":null}`, AlterTopicRequest{}, `unknown field "retention_byte"`},
		{`{"retention_bytes":"5"}`, AlterTopicRequest{}, "retention_bytes"},
	} {
		var got AlterTopicRequest
		err := json.Unmarshal([]byte(c.json), &got)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", c.json, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.json, got, err, c.want)
		}
	}
	b, _ := json.Marshal(AlterTopicRequest{RetentionBytes: 5, Default: TopicDefaults{RetentionBytes: true}})
	if string(b) != `{"retention_bytes":null}` {
		t.Errorf("Default and a value: sent %s", b)
	}
}
