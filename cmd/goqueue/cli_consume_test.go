package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// consume refuses flags it would not follow, before it joins or reads
// anything: --partition with --group was ignored (the member read and
// acknowledged every partition the group gave it), and a negative
// --max-messages read as no limit.
func TestConsumeRefusesFlagsItWouldIgnore(t *testing.T) {
	srv := brokertest.Start(t)
	goqueue := cliAt(t, srv.URL)
	goqueue("topic", "create", "orders", "--partitions", "2")
	noEnv := func(string) (string, bool) { return "", false }
	for _, args := range [][]string{
		{"consume", "orders", "--group", "billing", "--partition", "1", "-n", "1"},
		{"consume", "orders", "-g", "billing", "-p", "0"},
		{"consume", "orders", "-g", "billing", "-n", "-1"},
		{"consume", "orders", "-n", "-5"},
	} {
		var out, errb bytes.Buffer
		if code := run(append(args, "--broker", srv.URL), noEnv, &out, &errb); code != exitUsage {
			t.Errorf("goqueue %s: exit %d, want %d: %s", strings.Join(args, " "), code, exitUsage, errb.String())
		}
	}
	if status, raw := srv.Do("GET", "/groups/billing", nil); status != http.StatusNotFound {
		t.Fatalf("refused consumes made group billing: %d %s", status, raw)
	}
}
