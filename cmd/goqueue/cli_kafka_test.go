package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The habits of Kafka users, typed as they would: produce with headers,
// timestamps and JSON lines; consume from an offset, a time, the last N or
// @-1h, with a kcat-style format and headers; a lag report over all groups;
// group list with no empty cells; describe with its rebalances, --watch; and
// Ctrl-C exits 130.
func TestCLIKafkaHabits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := goqueueBin.Path(t)
	srv := startBinary(t, "")
	run := func(want int, stdin string, args ...string) string {
		t.Helper()
		code, out, errs := cliRun(t, bin, srv.URL, stdin, args...)
		if code != want {
			t.Fatalf("goqueue %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
		}
		return out
	}
	run(0, "", "topic", "create", "events", "--partitions", "1")
	old := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	run(0, "e0\ne1\n", "produce", "events", "--header", "source=import", "-H", "trace=t-9", "--timestamp", old)
	run(0, `{"key":"k2","value":"e2","headers":{"h":"v"}}`+"\n"+`{"value":{"n":3}}`+"\n"+`{"key":"k4","value":"e4","partition":0}`+"\n",
		"produce", "events", "--json-lines")
	run(exitUsage, "{nope\n", "produce", "events", "--json-lines")
	run(exitUsage, "x\n", "produce", "events", "--header", "novalue")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "earliest", "--format", `%o:%k:%s:%h\n`}, "0::e0:source=import,trace=t-9\n1::e1:source=import,trace=t-9\n2:k2:e2:h=v\n3::{\"n\":3}:\n4:k4:e4:\n"},
		{[]string{"--from", "3", "--format", `%p/%o %s\n`}, "0/3 {\"n\":3}\n0/4 e4\n"},
		{[]string{"--from", "-2", "--format", `%s\n`}, "{\"n\":3}\ne4\n"},
		{[]string{"--from", "@-1h", "--format", `%s\n`}, "e2\n{\"n\":3}\ne4\n"},
		{[]string{"--from", "@" + old, "-n", "1"}, "e0\n"},
		{[]string{"--from", "earliest", "-n", "1", "--headers", "--keys"}, "\tsource=import,trace=t-9\te0\n"},
	} {
		if got := run(0, "", append([]string{"consume", "events", "--idle", "200ms"}, c.args...)...); got != c.want {
			t.Errorf("consume %v:\n%q\nwant\n%q", c.args, got, c.want)
		}
	}
	if out := run(0, "", "topic", "alter", "events", "--partitions", "2", "--retention-hours", "48", "--max-message-bytes", "2MiB"); !strings.Contains(out, "2 partitions, retention 2d, fsync interval, max message 2097152 bytes") {
		t.Fatalf("topic alter: %s", out)
	}
	run(exitUsage, "", "topic", "alter", "events", "--retention-hours", "-5")
	run(exitUsage, "", "topic", "alter", "events", "--partitions", "1")
	run(exitUsage, "", "topic", "alter", "events")
	run(exitUsage, "", "consume", "events", "--from", "yesterday")
	run(exitUsage, "", "consume", "events", "--from", "0", "--group", "g")

	run(0, "", "consume", "events", "-g", "billing", "-n", "2")
	out := run(0, "", "group", "lag")
	if !strings.Contains(out, "billing") || !strings.Contains(out, "events") || !strings.Contains(out, "3 ") {
		t.Fatalf("group lag:\n%s", out)
	}
	out = run(0, "", "group", "list")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, "  ") && len(strings.Fields(line)) != 7 {
			t.Fatalf("group list has an empty cell:\n%s", out)
		}
	}
	out = run(0, "", "group", "describe", "billing")
	if !strings.Contains(out, "recent rebalances") || !strings.Contains(out, "member_joined") || strings.Contains(out, "assignor ,") {
		t.Fatalf("group describe:\n%s", out)
	}

	// Ctrl-C: a following consume and a watching describe exit 130.
	for _, args := range [][]string{
		{"consume", "events", "--follow"},
		{"group", "describe", "billing", "--watch", "100ms"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GOQUEUE_BROKER="+srv.URL)
		var outb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &outb, &outb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond) // let it start and print; not a timing assertion
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
			t.Fatalf("%v after SIGINT: %v\n%s", args, err, outb.String())
		}
	}
}
