package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// cliRun runs the built binary as a user would and returns its exit status,
// stdout and stderr.
func cliRun(t *testing.T, bin, url, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "GOQUEUE_BROKER="+url)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("run %v: %v", args, err)
	return 0, "", ""
}

// TestCLIAsAUser drives the goqueue binary's client subcommands against a
// running goqueue: create a topic, produce from stdin, consume with a group
// in two steps and watch the group's lag fall to zero, reset it, and check
// the exit statuses and hints of the usual mistakes.
func TestCLIAsAUser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := goqueueBin.Path(t)
	srv := startBinary(t, "")
	url := srv.URL

	var lines strings.Builder
	const n = 5000
	for i := range n {
		fmt.Fprintf(&lines, "customer-%d:order %d\n", i%7, i)
	}
	lag := func() int64 {
		t.Helper()
		code, out, errs := cliRun(t, bin, url, "", "group", "describe", "billing", "-o", "json")
		if code != 0 {
			t.Fatalf("group describe: %d %s", code, errs)
		}
		var g api.GroupDescription
		if err := json.Unmarshal([]byte(out), &g); err != nil {
			t.Fatalf("group describe -o json: %v\n%s", err, out)
		}
		return g.Lag
	}
	steps := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string // substring, or a line count as "lines=N"
		stderr string
		after  func(t *testing.T)
	}{
		{name: "create", args: []string{"topic", "create", "orders", "--partitions", "3"}, stdout: "created topic orders with 3 partitions"},
		{name: "create twice", args: []string{"topic", "create", "orders"}, code: exitConflict, stderr: "TOPIC_ALREADY_EXISTS"},
		{name: "list", args: []string{"topic", "list"}, stdout: "orders"},
		{name: "produce stdin", stdin: lines.String(), args: []string{"produce", "orders", "--key-separator", ":"}, stderr: "produced 5000 messages to orders"},
		{name: "describe before consume", args: []string{"group", "describe", "billing"}, code: exitNotFound, stderr: "goqueue group list"},
		{name: "consume part", args: []string{"consume", "orders", "--group", "billing", "-n", "2000"}, stdout: "lines=2000",
			after: func(t *testing.T) {
				if got := lag(); got != n-2000 {
					t.Fatalf("lag after 2000 of %d: %d", n, got)
				}
			}},
		{name: "consume rest", args: []string{"consume", "orders", "-g", "billing", "--idle", "300ms"}, stdout: "lines=3000",
			after: func(t *testing.T) {
				if got := lag(); got != 0 {
					t.Fatalf("lag after consuming everything: %d", got)
				}
			}},
		{name: "describe table", args: []string{"group", "describe", "billing"}, stdout: "TIME-LAG"},
		{name: "consume without group", args: []string{"consume", "orders", "--from-beginning", "--idle", "200ms"}, stdout: "lines=5000"},
		{name: "reset preview", args: []string{"group", "reset-offsets", "billing", "--to", "earliest"}, stdout: "CURRENT", stderr: "add --execute",
			after: func(t *testing.T) {
				if got := lag(); got != 0 {
					t.Fatalf("lag after a preview: %d", got)
				}
			}},
		{name: "reset to earliest", args: []string{"group", "reset-offsets", "billing", "--to", "earliest", "--execute"}, stdout: "NEW",
			after: func(t *testing.T) {
				if got := lag(); got != n {
					t.Fatalf("lag after reset: %d", got)
				}
			}},
		{name: "reset needs a mode", args: []string{"group", "reset-offsets", "billing"}, code: exitUsage, stderr: "say where to"},
		{name: "reset with two modes", args: []string{"group", "reset-offsets", "billing", "--to", "latest", "--shift-by", "3"}, code: exitUsage, stderr: "choose one of --to, --shift-by"},
		{name: "unknown topic", args: []string{"topic", "describe", "nope"}, code: exitNotFound, stderr: "hint: list topics"},
		{name: "no dead letters", args: []string{"dlq", "list", "orders"}, stdout: "PARTITION"},
		{name: "dead letters of no topic", args: []string{"dlq", "list", "nope"}, code: exitNotFound, stderr: "TOPIC_NOT_FOUND"},
		{name: "unknown flag", args: []string{"topic", "list", "--bogus"}, code: exitUsage, stderr: "unknown flag"},
		{name: "unknown subcommand", args: []string{"topic", "frob"}, code: exitUsage, stderr: `unknown command "frob"`},
		{name: "missing argument", args: []string{"produce"}, code: exitUsage, stderr: "usage: goqueue produce TOPIC"},
		{name: "bad output", args: []string{"topic", "list", "-o", "yaml"}, code: exitUsage, stderr: "--output must be"},
		{name: "no broker", args: []string{"topic", "list", "--broker", "127.0.0.1:1"}, code: exitUnavailable, stderr: "is the broker running?"},
		{name: "delete", args: []string{"topic", "delete", "orders", "-o", "json"}, stdout: `"deleted": "orders"`},
	}
	for _, s := range steps {
		code, out, errs := cliRun(t, bin, url, s.stdin, s.args...)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, code, s.code, out, errs)
		}
		if want, ok := strings.CutPrefix(s.stdout, "lines="); ok {
			if got := fmt.Sprint(strings.Count(out, "\n")); got != want {
				t.Fatalf("%s: %s lines, want %s\nstderr: %s", s.name, got, want, errs)
			}
		} else if !strings.Contains(out, s.stdout) {
			t.Fatalf("%s: stdout %q lacks %q (stderr %q)", s.name, out, s.stdout, errs)
		}
		if !strings.Contains(errs, s.stderr) {
			t.Fatalf("%s: stderr %q lacks %q", s.name, errs, s.stderr)
		}
		if s.after != nil {
			s.after(t)
		}
	}
}
