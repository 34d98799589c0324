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
