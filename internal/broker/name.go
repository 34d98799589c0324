package broker

import (
	"github.com/abd-ulbasit/goqueue/api"
)

// MaxTopicNameLen is Kafka's limit, kept so topic names survive a trip to a
// Kafka cluster and stay well under file-name limits.
const MaxTopicNameLen = 249

// ValidateTopicName reports whether name is a legal topic name: 1–249
// characters of [a-zA-Z0-9._-], and neither "." nor "..". The rules make every
// name a safe directory name. The error is an api.ErrInvalidTopicName.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return api.ErrInvalidTopicName.Withf("topic name is empty")
	case len(name) > MaxTopicNameLen:
		return api.ErrInvalidTopicName.Withf("topic name is %d characters; the limit is %d", len(name), MaxTopicNameLen).
			WithDetail("max_length", MaxTopicNameLen)
	case name == "." || name == "..":
		return api.ErrInvalidTopicName.Withf("topic name %q is reserved", name)
	}
	for i := 0; i < len(name); i++ {
		if !legalNameByte(name[i]) {
			return api.ErrInvalidTopicName.Withf("topic name %q has an illegal character at byte %d; use only [a-zA-Z0-9._-]", name, i).
				WithDetail("position", i)
		}
	}
	return nil
}

func legalNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
