package kafka

import (
	"strings"
	"testing"
)

// A commit's metadata is read as Kafka reads it: bytes that are not UTF-8
// replaced (so every node of a cluster stores the same string), and its
// length counted in UTF-16 units, as a Java string's, against Kafka's
// default bound of 4096.
func TestCommitMetadata(t *testing.T) {
	text := func(s string) *string { return &s }
	for name, tc := range map[string]struct {
		in   *string
		want string
		ok   bool
	}{
		"null":              {nil, "", true},
		"ASCII":             {text("state=4"), "state=4", true},
		"not UTF-8":         {text("\xff\xfe\xe2\x82ab"), "\uFFFD\uFFFD\uFFFDab", true}, // as Java: E2 82 is one
		"surrogate":         {text("\xed\xa0\x80z"), "\uFFFDz", true},                   // Java counts it whole
		"surrogate cut":     {text("\xed\xa0z"), "\uFFFDz", true},
		"cut 4-byte":        {text("\xf0\x9f\x98"), "\uFFFD", true},
		"4097 bad bytes":    {text(strings.Repeat("\xff", 4097)), strings.Repeat("\uFFFD", 4097), false},
		"6000 bytes":        {text(strings.Repeat("é", 3000)), strings.Repeat("é", 3000), true},
		"4097 units":        {text(strings.Repeat("x", 4097)), strings.Repeat("x", 4097), false},
		"4098 units, pairs": {text(strings.Repeat("😀", 2049)), strings.Repeat("😀", 2049), false},
	} {
		if got, ok := commitMetadata(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %.20q, %v; want %.20q, %v", name, got, ok, tc.want, tc.ok)
		}
	}
}
