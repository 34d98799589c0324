package delivery

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	cfg := Defaults()
	tests := []struct {
		count int
		want  time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{9, 25600 * time.Millisecond},
		{10, 30 * time.Second},
		{64, 30 * time.Second},
		{1 << 20, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := cfg.Backoff(tt.count); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.count, got, tt.want)
		}
	}
}

func TestConfigOr(t *testing.T) {
	broker := Config{MaxRetries: 5, VisibilityTimeout: time.Minute}
	group := Config{MaxRetries: 1, MaxInFlightPerMember: 10}
	got := group.Or(broker).Or(Defaults())
	want := Config{
		MaxRetries:           1,
		BackoffBase:          DefaultBackoffBase,
		BackoffMax:           DefaultBackoffMax,
		VisibilityTimeout:    time.Minute,
		MaxInFlightPerMember: 10,
	}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := NewGroup(Config{}).Config(); got != Defaults() {
		t.Fatalf("NewGroup(zero).Config() = %+v, want defaults", got)
	}
}

func TestMaxFailures(t *testing.T) {
	tests := []struct{ retries, want int }{{0, 4}, {3, 4}, {1, 2}, {-1, 1}}
	for _, tt := range tests {
		cfg := Config{MaxRetries: tt.retries}.Or(Defaults())
		if got := cfg.maxFailures(); got != tt.want {
			t.Errorf("MaxRetries %d: maxFailures = %d, want %d", tt.retries, got, tt.want)
		}
	}
}
