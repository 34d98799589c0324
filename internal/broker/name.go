package broker

import (
	"unicode"
	"unicode/utf8"

	"github.com/abd-ulbasit/goqueue/api"
)

// MaxTopicNameLen is Kafka's limit, kept so topic names survive a trip to a
// Kafka cluster and stay well under file-name limits.
const MaxTopicNameLen = 249

// ValidateTopicName reports whether name is a legal topic name: 1–249
// characters of [a-zA-Z0-9._-], and neither "." nor "..". The rules make every
// name a safe directory name. The error is an api.ErrInvalidTopicName.
func ValidateTopicName(name string) error {
	if err := checkName(api.ErrInvalidTopicName, "topic name", name); err != nil {
		return err
	}
	return nil
}

// ValidateNewTopicName is ValidateTopicName for a topic someone asks to
// create: it also refuses the names of Kafka's internal topics
// (KafkaInternalTopic), with an api.ErrInvalidTopicName. The front ends
// check it where a creation is asked for; the broker does not, so that a
// topic so named before this rule, or held in a cluster's metadata from
// then, still opens, and can be altered and deleted.
func ValidateNewTopicName(name string) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	if KafkaInternalTopic(name) {
		return api.ErrInvalidTopicName.Withf("topic name %q is reserved: Kafka tools take it for Kafka's internal topic, "+
			"and GoQueue keeps group offsets, transactions and its metadata outside topics", name)
	}
	return nil
}

// KafkaInternalTopic reports whether name is one of the topics Apache Kafka
// keeps for itself: group offsets, transaction state, share-group state and
// KRaft's metadata log. GoQueue has none of them: a topic so named would be
// an ordinary topic that Kafka tools and admin clients take for Kafka's own.
func KafkaInternalTopic(name string) bool {
	switch name {
	case "__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata":
		return true
	}
	return false
}

// ValidateGroupID reports whether id is a legal group ID: 1–249 bytes of
// UTF-8 with no control character, and neither "." nor "..". Kafka takes
// any group ID but the empty one, and its users name groups
// "billing:prod" or "team/app": the topic names' rules, which group IDs
// followed, refused them (a kafka-go reader retried its join for good).
// A group ID is never a file name; it is escaped in paths (the clients'
// /groups/{group}) and carried length-prefixed in keys and records. The
// error is an api.ErrInvalidGroupID.
func ValidateGroupID(id string) error {
	var err *api.Error
	switch {
	case id == "":
		err = api.ErrInvalidGroupID.Withf("group ID is empty")
	case len(id) > MaxTopicNameLen:
		err = api.ErrInvalidGroupID.Withf("group ID is %d bytes; the limit is %d", len(id), MaxTopicNameLen).
			WithDetail("max_length", MaxTopicNameLen)
	case id == "." || id == "..":
		err = api.ErrInvalidGroupID.Withf("group ID %q is reserved", id)
	case !utf8.ValidString(id):
		err = api.ErrInvalidGroupID.Withf("group ID %q is not UTF-8", id)
	default:
		for i, r := range id {
			if unicode.IsControl(r) {
				err = api.ErrInvalidGroupID.Withf("group ID %q has a control character at byte %d", id, i).WithDetail("position", i)
				break
			}
		}
	}
	if err != nil {
		return err.WithDetail("field", "group")
	}
	return nil
}

// checkName applies the naming rules of topics to name, and says what is
// wrong as base, naming the thing checked (what).
func checkName(base *api.Error, what, name string) *api.Error {
	switch {
	case name == "":
		return base.Withf("%s is empty", what)
	case len(name) > MaxTopicNameLen:
		return base.Withf("%s is %d characters; the limit is %d", what, len(name), MaxTopicNameLen).
			WithDetail("max_length", MaxTopicNameLen)
	case name == "." || name == "..":
		return base.Withf("%s %q is reserved", what, name)
	}
	for i := 0; i < len(name); i++ {
		if !legalNameByte(name[i]) {
			return base.Withf("%s %q has an illegal character at byte %d; use only [a-zA-Z0-9._-]", what, name, i).
				WithDetail("position", i)
		}
	}
	return nil
}

func legalNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
