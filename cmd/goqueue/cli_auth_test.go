package main

import (
	"strings"
	"testing"
)

// The CLI reaches a broker that requires an API key with --api-key or
// GOQUEUE_API_KEY, and says UNAUTHORIZED without one.
func TestCLIAPIKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := goqueueBin.Path(t)
	const key = "cli-test-key-0123456789"
	srv := startBinary(t, "", "--api-keys", key)

	if code, _, errs := cliRun(t, bin, srv.URL, "", "topic", "list"); code == 0 || !strings.Contains(errs, "UNAUTHORIZED") {
		t.Fatalf("without a key: exit %d, stderr %q; want a failure naming UNAUTHORIZED", code, errs)
	}
	if code, _, errs := cliRun(t, bin, srv.URL, "", "topic", "create", "orders", "--api-key", key); code != 0 {
		t.Fatalf("topic create --api-key: exit %d: %s", code, errs)
	}
	t.Setenv("GOQUEUE_API_KEY", key) // cliRun's child inherits the environment
	if code, out, errs := cliRun(t, bin, srv.URL, "hello\n", "produce", "orders"); code != 0 {
		t.Fatalf("produce with GOQUEUE_API_KEY: exit %d: %s %s", code, out, errs)
	}
	if code, out, errs := cliRun(t, bin, srv.URL, "", "topic", "list"); code != 0 || !strings.Contains(out, "orders") {
		t.Fatalf("topic list with GOQUEUE_API_KEY: exit %d: %s %s", code, out, errs)
	}
}
