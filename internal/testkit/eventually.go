package testkit

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Polling starts fast, because most conditions hold within milliseconds,
// and backs off so that a slow condition (an HTTP request, a browser
// evaluation) does not load a busy machine.
const (
	firstPoll = time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// Eventually calls cond until it returns true, and fails t (Fatal) if it
// has not by timeout: "<what> not within <timeout>", what formatted from
// format and args. Use EventuallyNil when the failure should say what was
// last seen. It must be called from the test's goroutine; cond should not
// block much longer than timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("%s: not within %v", fmt.Sprintf(format, args...), timeout)
	}
}

// EventuallyNil calls cond until it returns nil, and fails t (Fatal) with
// the last error cond returned if it has not by timeout. The error says what
// was last seen ("lag 3, want 0"), so a failure explains itself. It must be
// called from the test's goroutine.
func EventuallyNil(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("not within %v: %v", timeout, err)
	}
}

// Within calls cond until it returns true or timeout passes, and reports
// whether it did. It is for waits that are not assertions by themselves
// ("let the load build up, for at most 10 s") and for goroutines other
// than the test's, which must not call t.Fatal.
func Within(timeout time.Duration, cond func() bool) bool {
	return poll(timeout, func() error {
		if cond() {
			return nil
		}
		return errFalse
	}) == nil
}

var errFalse = errors.New("condition false")

// poll calls cond until it returns nil or timeout has passed, sleeping
// between calls (1 ms, doubling up to 50 ms). It calls cond once more after
// the deadline, so a machine that was descheduled through the whole wait
// still gets one look, and returns cond's last error.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	wait := firstPoll
	for {
		err := cond()
		if err == nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, maxPoll)
	}
}
