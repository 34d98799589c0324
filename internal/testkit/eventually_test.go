package testkit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures, logs and cleanups
// instead of acting on them; its Fatalf ends the calling goroutine with a
// panic that fails recovers, as the real one ends it with Goexit.
type recorder struct {
	testing.TB
	fatal    string
	errors   []string
	logs     []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(r)
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Failed() bool { return r.fatal != "" || len(r.errors) > 0 }

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// cleanup runs the recorded cleanups, last first, as testing does.
func (r *recorder) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// fails runs f with a recorder and returns what it failed with ("" if it
// did not fail).
func fails(t *testing.T, f func(tb testing.TB)) (msg string) {
	t.Helper()
	r := &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil && v != any(r) {
			panic(v)
		}
		msg = r.fatal
	}()
	f(r)
	return ""
}

func TestEventuallyReturnsOnceTrue(t *testing.T) {
	calls := 0
	msg := fails(t, func(tb testing.TB) {
		Eventually(tb, time.Minute, func() bool { calls++; return calls == 3 }, "three calls")
	})
	if msg != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls", msg, calls)
	}
}

func TestEventuallyFailsAtTheDeadline(t *testing.T) {
	began := time.Now()
	msg := fails(t, func(tb testing.TB) {
		Eventually(tb, 30*time.Millisecond, func() bool { return false }, "group %s to drain", "g1")
	})
	if msg != "group g1 to drain: not within 30ms" {
		t.Fatalf("message %q", msg)
	}
	if took := time.Since(began); took < 30*time.Millisecond {
		t.Fatalf("gave up after %v, before its deadline", took)
	}
}

func TestEventuallyNilSaysWhatWasLastSeen(t *testing.T) {
	n := 0
	msg := fails(t, func(tb testing.TB) {
		EventuallyNil(tb, 20*time.Millisecond, func() error { n++; return fmt.Errorf("lag %d, want 0", n) })
	})
	if !strings.HasPrefix(msg, "not within 20ms: lag ") || !strings.HasSuffix(msg, fmt.Sprintf("lag %d, want 0", n)) {
		t.Fatalf("message %q after %d calls", msg, n)
	}
}

// A condition that only holds after the deadline is still seen once: a
// machine descheduled through the whole wait gets one more look.
func TestWithinLooksOnceMoreAtTheDeadline(t *testing.T) {
	deadline := time.Now().Add(10 * time.Millisecond)
	var last time.Time
	if !Within(10*time.Millisecond, func() bool { last = time.Now(); return !last.Before(deadline) }) {
		t.Fatalf("false; last call at %v, deadline %v", last, deadline)
	}
}

func TestWithinGivesUp(t *testing.T) {
	if Within(5*time.Millisecond, func() bool { return false }) {
		t.Fatal("true for a condition that never holds")
	}
	if !Within(0, func() bool { return true }) {
		t.Fatal("false for a condition that holds at once, with no time")
	}
}

func TestPollBacksOff(t *testing.T) {
	calls := 0
	err := poll(200*time.Millisecond, func() error { calls++; return errors.New("no") })
	// 1+2+4+...+32 ms, then every 50 ms: about a dozen calls, not hundreds.
	if err == nil || calls > 20 || calls < 2 {
		t.Fatalf("%d calls in 200 ms, error %v", calls, err)
	}
}
