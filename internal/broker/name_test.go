package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

func TestValidateTopicName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"Orders.v2_eu-west", true},
		{"a", true},
		{"...", true},
		{".hidden", true},
		{"0", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"../etc", false},
		{"with space", false},
		{"tab\t", false},
		{"ünïcode", false},
		{"a\x00b", false},
		{"star*", false},
		{"back\\slash", false},
	} {
		err := ValidateTopicName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, api.ErrInvalidTopicName) {
			t.Errorf("ValidateTopicName(%q) = %v, want INVALID_TOPIC_NAME", c.name, err)
		}
	}
}

// TestValidateNewTopicName: a new topic may not take a name of Kafka's
// internal topics, which ValidateTopicName (names of topics that exist)
// takes; names merely like them may.
func TestValidateNewTopicName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"__consumer_offsets", false},
		{"__transaction_state", false},
		{"__share_group_state", false},
		{"__cluster_metadata", false},
		{"a/b", false},
		{"orders", true},
		{"orders.dlq", true},
		{"_consumer_offsets", true},
		{"__consumer_offsets2", true},
		{"__CONSUMER_OFFSETS", true},
	} {
		err := ValidateNewTopicName(c.name)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, api.ErrInvalidTopicName) {
			t.Errorf("ValidateNewTopicName(%q) = %v, want ok=%v (else INVALID_TOPIC_NAME)", c.name, err, c.ok)
		}
		if err := ValidateTopicName(c.name); (err == nil) != (c.ok || KafkaInternalTopic(c.name)) {
			t.Errorf("ValidateTopicName(%q) = %v", c.name, err)
		}
	}
}

// TestValidateGroupIDNamesAGroup: a bad group ID is an INVALID_ARGUMENT on
// field "group" (INVALID_GROUP_ID to a Kafka client) whose message speaks
// of a group ID, not a topic name. Any other is taken, as Kafka takes it:
// the topic names' rules refused "billing:prod" and "team/app".
func TestValidateGroupIDNamesAGroup(t *testing.T) {
	for _, id := range []string{"", "..", strings.Repeat("g", 250), "a\x00b", "tab\tin", "\xffbad"} {
		err := ValidateGroupID(id)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.ErrInvalidArgument.Code || ae.Kafka != 24 {
			t.Fatalf("ValidateGroupID(%q) = %v, want INVALID_ARGUMENT (Kafka's INVALID_GROUP_ID)", id, err)
		}
		if !strings.HasPrefix(ae.Message, "group ID ") || strings.Contains(ae.Message, "topic") {
			t.Errorf("ValidateGroupID(%q) says %q", id, ae.Message)
		}
		if ae.Details["field"] != "group" {
			t.Errorf("ValidateGroupID(%q) details %v", id, ae.Details)
		}
	}
	for _, id := range []string{"billing-eu.v2", "billing:prod", "team/app", "my group", "app@v2", "グループ", strings.Repeat("g", 249)} {
		if err := ValidateGroupID(id); err != nil {
			t.Errorf("a legal ID refused: %v", err)
		}
	}
}
