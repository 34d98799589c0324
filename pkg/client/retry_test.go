package client

import (
	"testing"
	"time"
)

// TestRetryDelayReachesTheNextLeaderSoon: a pipelined request's waits
// double from 50 ms and stop at 400 ms, so a request refused through a
// 2–4 s election is sent again within 400 ms of the new leader (with the
// transport's 2 s cap it waited until 5.15 or 7.15 s).
func TestRetryDelayReachesTheNextLeaderSoon(t *testing.T) {
	cases := []struct {
		attempts int
		want     time.Duration
	}{
		{0, 50 * time.Millisecond},
		{1, 50 * time.Millisecond},
		{2, 100 * time.Millisecond},
		{3, 200 * time.Millisecond},
		{4, 400 * time.Millisecond},
		{5, 400 * time.Millisecond},
		{40, 400 * time.Millisecond},
	}
	for _, c := range cases {
		if got := retryDelay(c.attempts); got != c.want {
			t.Errorf("retryDelay(%d) = %v, want %v", c.attempts, got, c.want)
		}
	}
}
