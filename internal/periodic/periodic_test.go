package periodic

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestEveryCallsAtTheIntervalUntilTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		var at []time.Duration
		done := make(chan struct{})
		go func() {
			Every(ctx, time.Second, func() { at = append(at, time.Since(start)) })
			close(done)
		}()
		time.Sleep(3500 * time.Millisecond)
		cancel()
		<-done
		want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("called at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("called at %v, want %v", at, want)
			}
		}
	})
}
