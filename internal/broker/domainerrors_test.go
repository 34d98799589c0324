package broker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// The broker checks domain values in its own words: its errors name no
// JSON field (no snake_case, no details.field). Front ends check their
// own fields first and say them their way.
func TestDomainErrorsNameNoWireFields(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	j, err := b.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"orders"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	one := Settle{MemberID: "m", Generation: j.Generation, Messages: []MessageRef{{Topic: "orders"}}}
	second := func(_ any, err error) error { return err }
	for name, err := range map[string]error{
		"join max retries":   second(b.JoinGroup("g", JoinParams{Topics: []string{"orders"}, MaxRetries: -2}, "h")),
		"join in flight":     second(b.JoinGroup("g", JoinParams{Topics: []string{"orders"}, MaxInFlight: -1}, "h")),
		"join conflict":      second(b.JoinGroup("g", JoinParams{Topics: []string{"orders"}, MaxRetries: 9}, "h")),
		"poll count":         second(b.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: j.Generation, MaxMessages: -1}, "h")),
		"poll wait":          second(b.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: j.Generation, Wait: -time.Second}, "h")),
		"ack nothing":        second(b.Ack("g", Settle{MemberID: "m"}, "h")),
		"ack empty range":    second(b.Ack("g", Settle{MemberID: "m", Ranges: []OffsetRange{{Topic: "orders", From: 2, To: 2}}}, "h")),
		"nack delay":         second(b.Nack("g", NackParams{Settle: one, Delay: -1}, "h")),
		"nack release":       second(b.Nack("g", NackParams{Settle: one, Release: true, Reject: true}, "h")),
		"extend":             second(b.Extend("g", ExtendParams{Settle: one, Visibility: MaxDelay + 1}, "h")),
		"commit nothing":     b.CommitOffsets("g", CommitParams{MemberID: "m"}, "h"),
		"commit no parts":    b.CommitOffsets("g", CommitParams{MemberID: "x", Offsets: Offsets{"orders": {}}}, "h"),
		"reset no mode":      second(b.ResetOffsets("g", ResetParams{})),
		"reset duration":     second(b.ResetOffsets("g", ResetParams{To: ResetDuration})),
		"reset no parts":     second(b.ResetOffsets("g", ResetParams{To: ResetOffsets, Offsets: Offsets{"nope": {}}})),
		"replay both":        second(b.ReplayDLQ("orders", ReplayParams{Target: "x", ToTopic: true})),
		"replay reason":      second(b.ReplayDLQ("orders", ReplayParams{Reason: "declined"})),
		"replay into itself": second(b.ReplayDLQ("orders", ReplayParams{Target: "orders.dlq"})),
		"alter nothing":      second(b.AlterTopic("orders", TopicChange{})),
		"topic segment age":  second(b.CreateTopic(TopicSpec{Name: "t", SegmentAge: time.Second})),
		"topic bytes":        second(b.CreateTopic(TopicSpec{Name: "t", RetentionBytes: -2})),
	} {
		var ae *api.Error
		if !errors.As(err, &ae) || !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
			continue
		}
		if strings.Contains(ae.Message, "_") || ae.Details["field"] != nil {
			t.Errorf("%s: %q %v names a wire field", name, ae.Message, ae.Details)
		}
	}
}
