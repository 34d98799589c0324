package group

import (
	"errors"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// A regex subscription takes the existing topics it matches in full,
// whatever the regex's own syntax: one quoting to its end (\Q without
// \E, which RE2 and Kafka's RE2/J accept) once failed to compile when
// the broker anchored it, after the Kafka listener had accepted it.
func TestSubscriptionRegexMatchesWholeNames(t *testing.T) {
	parts := map[string]int32{"orders": 2, "orders-eu": 1, "a.b": 1, "axb": 1, "gone": 0}
	for _, tc := range []struct {
		regex string
		want  []string
	}{
		{"orders", []string{"orders"}},
		{"orders.*", []string{"orders", "orders-eu"}},
		{"a.b|orders", []string{"a.b", "axb", "orders"}},
		{`\Qa.b`, []string{"a.b"}},
		{`\Qa.b\E`, []string{"a.b"}},
		{`\Qa.b\E|ord.*`, []string{"a.b", "orders", "orders-eu"}},
		{`(?i)ORDERS`, []string{"orders"}},
		{"gone|nothing", []string{}},
		{"(", nil},
		{`\E`, nil},
	} {
		got, _, err := subscription(nil, tc.regex, parts)
		if tc.want == nil {
			if !errors.Is(err, api.ErrInvalidArgument) {
				t.Errorf("regex %q: %v %v, want INVALID_ARGUMENT", tc.regex, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("regex %q matches %v (%v), want %v", tc.regex, got, err, tc.want)
		}
	}
}
