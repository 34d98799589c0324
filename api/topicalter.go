package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// AlterTopicRequest is the body of PATCH /topics/{topic}: the settings to
// change after creation. A zero field stays as it is; a setting sent as
// JSON null (in Go, named in Default) goes back to the broker's default,
// as it is now: the topic keeps that value if the broker's default later
// changes, as a topic created without the setting does. Retention applies
// at the next retention check; max_message_bytes to the next publish;
// partitions can only increase (as POST /topics/{topic}/partitions).
type AlterTopicRequest struct {
	Partitions      int32 `json:"partitions,omitempty"`
	RetentionHours  int64 `json:"retention_hours,omitempty"`   // -1: forever; null: the broker's default
	RetentionBytes  int64 `json:"retention_bytes,omitempty"`   // per partition; -1: unbounded; null: the broker's default
	MaxMessageBytes int32 `json:"max_message_bytes,omitempty"` // key + value + headers; null: the broker's default
	// Default names the settings to set back to the broker's default,
	// sent as JSON null. It wins over a value set above.
	Default TopicDefaults `json:"-"`
}

// TopicDefaults names the settings of an AlterTopicRequest that go back to
// the broker's default.
type TopicDefaults struct {
	RetentionHours  bool
	RetentionBytes  bool
	MaxMessageBytes bool
}

// flags pairs each of AlterTopicRequest.NullableFields with its flag in d.
func (d *TopicDefaults) flags() map[string]*bool {
	return map[string]*bool{
		"retention_hours":   &d.RetentionHours,
		"retention_bytes":   &d.RetentionBytes,
		"max_message_bytes": &d.MaxMessageBytes,
	}
}

// NullableFields names the JSON fields that take null (the broker's
// default), for descriptions of the API.
func (AlterTopicRequest) NullableFields() []string {
	return []string{"retention_hours", "retention_bytes", "max_message_bytes"}
}

// alterTopicFields is AlterTopicRequest without its JSON methods.
type alterTopicFields AlterTopicRequest

// MarshalJSON writes r with the settings named in Default as null.
func (r AlterTopicRequest) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(alterTopicFields(r))
	if err != nil || r.Default == (TopicDefaults{}) {
		return b, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	for name, set := range r.Default.flags() {
		if *set {
			fields[name] = json.RawMessage("null")
		}
	}
	return json.Marshal(fields)
}

// UnmarshalJSON reads b into r, a null setting into Default. Unknown
// fields are refused, as the broker refuses them in every body.
func (r *AlterTopicRequest) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v alterTopicFields
	if err := dec.Decode(&v); err != nil {
		return err
	}
	// The fields in the body's order: a setting named twice (in two
	// cases) takes the last, as encoding/json does. Walked over a map,
	// the default or the value was taken by the order of its iteration.
	dec = json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		*r = AlterTopicRequest(v) // null: Decode took it, nothing is named
		return err
	}
	flags := v.Default.flags()
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		// Matched as encoding/json matches names: without regard to case.
		for name, set := range flags {
			if strings.EqualFold(k.(string), name) {
				*set = string(raw) == "null"
			}
		}
	}
	*r = AlterTopicRequest(v)
	return nil
}
