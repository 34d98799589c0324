package client

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A restarted static member's join, refused while its old self is live,
// comes back when the broker says the instance frees up.
func TestInstanceFreeIn(t *testing.T) {
	const backoff = 50 * time.Millisecond
	answer := func(body string) error { // as the transport decodes an error answer
		var e api.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatal(err)
		}
		return &e
	}
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"the broker's hint", answer(`{"code":"DUPLICATE_INSTANCE_ID","details":{"retry_after_ms":1500}}`), 1500 * time.Millisecond},
		{"no hint (an older broker)", answer(`{"code":"DUPLICATE_INSTANCE_ID"}`), backoff},
		{"a hint that is not a number", answer(`{"code":"DUPLICATE_INSTANCE_ID","details":{"retry_after_ms":"soon"}}`), backoff},
		{"a zero hint", answer(`{"code":"DUPLICATE_INSTANCE_ID","details":{"retry_after_ms":0}}`), backoff},
		{"a hint too long", answer(`{"code":"DUPLICATE_INSTANCE_ID","details":{"retry_after_ms":3600000}}`), maxInstanceWait},
		{"a hint past any duration", answer(`{"code":"DUPLICATE_INSTANCE_ID","details":{"retry_after_ms":1e300}}`), maxInstanceWait},
		{"not an API error", errors.New("connection reset"), backoff},
	} {
		if got := instanceFreeIn(tc.err, backoff); got != tc.want {
			t.Errorf("%s: waits %v, want %v", tc.name, got, tc.want)
		}
	}
}
