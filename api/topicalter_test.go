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
// encoding/json matches it, the last of two spellings taken; unknown
// fields are refused.
func TestAlterTopicRequestUnmarshal(t *testing.T) {
	for _, c := range []struct {
		json string
		want AlterTopicRequest
		err  string
	}{
		{`{"retention_bytes":5,"retention_bytes":null}`, AlterTopicRequest{RetentionBytes: 5, Default: TopicDefaults{RetentionBytes: true}}, ""},
		{`{"Retention_Hours":null}`, AlterTopicRequest{Default: TopicDefaults{RetentionHours: true}}, ""},
		{`{"retention_bytes":null,"Retention_Bytes":5}`, AlterTopicRequest{RetentionBytes: 5}, ""},
		{`{"Retention_Bytes":5,"retention_bytes":null}`, AlterTopicRequest{RetentionBytes: 5, Default: TopicDefaults{RetentionBytes: true}}, ""},
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

// FuzzAlterTopicRequest: a PATCH body decodes the same way every time (a
// setting named twice in different cases was the value or the default
// by the order of a map's iteration), and what decodes encodes to a body
// that decodes to the same change (a value beside its default is moot).
func FuzzAlterTopicRequest(f *testing.F) {
	for _, s := range []string{
		`{"retention_hours":2}`, `{"retention_bytes":null}`, `{"partitions":4,"max_message_bytes":9}`,
		`{"retention_bytes":5,"retention_bytes":null}`, `{"Retention_Hours":null}`, `null`, `{}`,
		`{"retention_bytes":null,"Retention_Bytes":5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var first AlterTopicRequest
		if json.Unmarshal(b, &first) != nil {
			return
		}
		for range 8 {
			var again AlterTopicRequest
			if err := json.Unmarshal(b, &again); err != nil || again != first {
				t.Fatalf("%s decodes as %+v (%v), and as %+v", b, again, err, first)
			}
		}
		enc, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		var back AlterTopicRequest
		if err := json.Unmarshal(enc, &back); err != nil || effective(back) != effective(first) {
			t.Fatalf("%s decodes as %+v, which encodes as %s, which decodes as %+v (%v)", b, first, enc, back, err)
		}
	})
}

// effective is r without the values its defaults win over.
func effective(r AlterTopicRequest) AlterTopicRequest {
	if r.Default.RetentionHours {
		r.RetentionHours = 0
	}
	if r.Default.RetentionBytes {
		r.RetentionBytes = 0
	}
	if r.Default.MaxMessageBytes {
		r.MaxMessageBytes = 0
	}
	return r
}
