package node

import (
	"errors"
	"testing"
	"time"
)

func TestRepeatsLogsChangesAndEveryInterval(t *testing.T) {
	r := repeats{}
	t0 := time.Unix(1000, 0)
	a, b := errors.New("a"), errors.New("b")
	for i, step := range []struct {
		key  string
		err  error
		at   time.Duration
		done bool // the key succeeded just before
		want bool
	}{
		{key: "t", err: a, at: 0, want: true},
		{key: "t", err: a, at: 100 * time.Millisecond, want: false},
		{key: "u", err: a, at: 200 * time.Millisecond, want: true}, // another key
		{key: "t", err: b, at: 300 * time.Millisecond, want: true}, // changed
		{key: "t", err: b, at: repeatEvery, want: false},
		{key: "t", err: b, at: repeatEvery + 300*time.Millisecond, want: true}, // lasted
		{key: "t", err: b, at: repeatEvery + 400*time.Millisecond, done: true, want: true},
	} {
		if step.done {
			r.done(step.key)
		}
		if got := r.due(step.key, step.err.Error(), t0.Add(step.at)); got != step.want {
			t.Errorf("step %d (%s %v at %v): due %v, want %v", i, step.key, step.err, step.at, got, step.want)
		}
	}
}
