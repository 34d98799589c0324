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
	if err := checkName(api.ErrInvalidTopicName, "topic name", name); err != nil {
		return err
	}
	return nil
}

// ValidateGroupID reports whether id is a legal group ID: the rules of topic
// names (1–249 of [a-zA-Z0-9._-]), so IDs are safe in paths and keys. The
// error is an api.ErrInvalidArgument.
func ValidateGroupID(id string) error {
	if err := checkName(api.ErrInvalidArgument, "group ID", id); err != nil {
		return err.WithDetail("field", "group")
	}
	return nil
}

// checkName applies the naming rules of topics (which group IDs share) to
// name, and says what is wrong as base, naming the thing checked (what).
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
