package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// Offsets as an operator moves them: every mode previewed first (nothing
// changes), then applied with --execute; a copy from another group; a
// topic's offsets deleted; a group with members refused (exit 4).
func TestCLIResetOffsets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := goqueueBin.Path(t)
	srv := startBinary(t, "")
	run := func(want int, stdin string, args ...string) (string, string) {
		t.Helper()
		code, out, errs := cliRun(t, bin, srv.URL, stdin, args...)
		if code != want {
			t.Fatalf("goqueue %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
		}
		return out, errs
	}
	offsets := func(g string) api.Offsets {
		t.Helper()
		var r api.OffsetsResponse
		if st := srv.call(t, "GET", "/groups/"+g+"/offsets", "", &r); st != 200 {
			t.Fatalf("offsets of %s: %d", g, st)
		}
		return r.Offsets
	}
	run(0, "", "topic", "create", "orders", "--partitions", "2")
	run(0, "", "topic", "create", "audit", "--partitions", "1")
	run(0, strings.Repeat("x\n", 10), "produce", "orders", "--partition", "0")
	run(0, "a\n", "produce", "audit")
	run(0, "", "group", "reset-offsets", "billing", "--offset", "orders:0=8", "--offset", "orders:1=0", "--offset", "audit:0=1", "--execute")

	for _, step := range []struct {
		args []string
		want api.Offsets
	}{
		{[]string{"--shift-by", "-3", "--topic", "orders:0"}, api.Offsets{"orders": {0: 5, 1: 0}, "audit": {0: 1}}},
		{[]string{"--to-offset", "2", "--topic", "orders:0"}, api.Offsets{"orders": {0: 2, 1: 0}, "audit": {0: 1}}},
		{[]string{"--to", "latest", "--topic", "orders"}, api.Offsets{"orders": {0: 10, 1: 0}, "audit": {0: 1}}},
		{[]string{"--by-duration", "1h"}, api.Offsets{"orders": {0: 0, 1: 0}, "audit": {0: 0}}},
		{[]string{"--to-datetime", "2999-01-01T00:00:00Z", "--topic", "audit"}, api.Offsets{"orders": {0: 0, 1: 0}, "audit": {0: 1}}},
	} {
		args := append([]string{"group", "reset-offsets", "billing"}, step.args...)
		before := offsets("billing")
		out, errs := run(0, "", args...)
		if !strings.Contains(out, "CURRENT") || !strings.Contains(errs, "preview only") {
			t.Fatalf("%v: preview printed %q / %q", step.args, out, errs)
		}
		if got := offsets("billing"); !reflect.DeepEqual(got, before) {
			t.Fatalf("%v: the preview changed %v to %v", step.args, before, got)
		}
		out, _ = run(0, "", append(args, "--execute", "-o", "json")...)
		var r api.ResetOffsetsResponse
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.DryRun {
			t.Fatalf("%v: %v %s", step.args, err, out)
		}
		if got := offsets("billing"); !reflect.DeepEqual(got, step.want) {
			t.Fatalf("%v: offsets %v, want %v", step.args, got, step.want)
		}
	}

	run(0, "", "group", "reset-offsets", "copy", "--from-group", "billing", "--execute")
	if got := offsets("copy"); !reflect.DeepEqual(got, offsets("billing")) {
		t.Fatalf("copy %v, billing %v", got, offsets("billing"))
	}
	out, _ := run(0, "", "group", "delete-offsets", "copy", "--topic", "audit")
	if !strings.Contains(out, "audit") || offsets("copy")["audit"] == nil {
		t.Fatalf("delete-offsets preview: %q, offsets %v", out, offsets("copy"))
	}
	run(0, "", "group", "delete-offsets", "copy", "--topic", "audit", "--execute")
	if got := offsets("copy"); got["audit"] != nil || got["orders"] == nil {
		t.Fatalf("after delete-offsets: %v", got)
	}

	if st := srv.call(t, "POST", "/groups/billing/join", `{"member_id":"m","topics":["orders"]}`, nil); st != 200 {
		t.Fatalf("join: %d", st)
	}
	run(0, "", "group", "reset-offsets", "billing", "--to", "earliest")
	_, errs := run(exitConflict, "", "group", "reset-offsets", "billing", "--to", "earliest", "--execute")
	if !strings.Contains(errs, "GROUP_NOT_EMPTY") {
		t.Fatalf("stderr %q", errs)
	}
	for _, bad := range [][]string{
		{"delete-offsets", "billing"},
		{"reset-offsets", "billing", "--to-offset", "3", "--topic", "orders"},
		{"reset-offsets", "billing", "--to", "latest", "--topic", "orders:0", "--topic", "audit"},
		{"reset-offsets", "billing", "--to-datetime", "yesterday"},
		{"reset-offsets", "billing", "--by-duration", "-1h"},
	} {
		run(exitUsage, "", append([]string{"group"}, bad...)...)
	}
}
