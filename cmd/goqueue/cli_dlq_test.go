package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// The DLQ commands as an operator types them: two groups on orders, billing
// dead-letters one message; list, show it whole, preview a replay, replay
// it to billing only, replay again (nothing new), purge.
func TestCLIDeadLetters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := goqueueBin.Path(t)
	srv := startBinary(t, "")
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errs := cliRun(t, bin, srv.URL, "", args...)
		if code != want {
			t.Fatalf("goqueue %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
		}
		return out, errs
	}
	run(0, "topic", "create", "orders", "--partitions", "1")
	srv.call(t, "POST", "/topics/orders/messages", `{"messages":[{"value":"a"},{"key":"k","value":"b","headers":{"trace":"t-1"}},{"value":"c"}]}`, nil)
	poll := func(g string) []api.Message {
		t.Helper()
		var r api.PollResponse
		if st := srv.call(t, "POST", "/groups/"+g+"/poll", fmt.Sprintf(`{"member_id":"%s-1","generation":1,"wait_ms":200}`, g), &r); st != 200 {
			t.Fatalf("poll %s: %d", g, st)
		}
		return r.Messages
	}
	settle := func(g, verb string, off int64, extra string) {
		t.Helper()
		body := fmt.Sprintf(`{"member_id":"%s-1","generation":1,"messages":[{"topic":"orders","partition":0,"offset":%d}]%s}`, g, off, extra)
		if st := srv.call(t, "POST", "/groups/"+g+"/"+verb, body, nil); st != 200 {
			t.Fatalf("%s %s: %d", verb, g, st)
		}
	}
	for _, g := range []string{"billing", "audit"} {
		srv.call(t, "POST", "/groups/"+g+"/join", fmt.Sprintf(`{"member_id":"%s-1","topics":["orders"]}`, g), nil)
		for _, m := range poll(g) {
			if g == "billing" && m.Offset == 1 {
				settle(g, "nack", 1, `,"requeue":false,"reason":"card declined"`)
				continue
			}
			settle(g, "ack", m.Offset, "")
		}
	}

	out, _ := run(0, "dlq", "list", "orders")
	if !strings.Contains(out, "billing") || !strings.Contains(out, "card declined") || !strings.Contains(out, "0/1") {
		t.Fatalf("dlq list:\n%s", out)
	}
	if out, _ := run(0, "dlq", "list", "orders", "--group", "audit"); strings.Contains(out, "billing") {
		t.Fatalf("dlq list --group audit:\n%s", out)
	}
	if out, _ := run(0, "dlq", "list", "orders", "--since", "1h", "--reason", "rejected"); !strings.Contains(out, "billing") {
		t.Fatalf("dlq list --since 1h:\n%s", out)
	}
	out, _ = run(0, "dlq", "show", "orders", "0", "0")
	for _, want := range []string{"key: k", "trace: t-1", "goqueue-dlq-original-offset: 1", "goqueue-dlq-died-at:", "value (1 bytes):\nb"} {
		if !strings.Contains(out, want) {
			t.Errorf("dlq show lacks %q:\n%s", want, out)
		}
	}
	run(exitUsage, "dlq", "show", "orders", "zero", "0")

	out, _ = run(0, "dlq", "replay", "orders", "--dry-run")
	if !strings.Contains(out, "would replay 1") || !strings.Contains(out, "group billing") {
		t.Fatalf("dry run:\n%s", out)
	}
	if got := poll("billing"); len(got) != 0 {
		t.Fatalf("a dry run published %v", got)
	}
	out, _ = run(0, "dlq", "replay", "orders")
	if !strings.Contains(out, "replayed 1 dead letters") {
		t.Fatalf("replay:\n%s", out)
	}
	if got := poll("billing"); len(got) != 1 || string(got[0].Value) != `"b"` && string(got[0].Value) != "b" {
		t.Fatalf("billing got %+v after the replay", got)
	}
	if got := poll("audit"); len(got) != 0 {
		t.Fatalf("audit got %+v: the replay was for billing", got)
	}
	out, _ = run(0, "dlq", "replay", "orders")
	if !strings.Contains(out, "replayed 0 dead letters") || !strings.Contains(out, "1 replayed before") {
		t.Fatalf("second replay:\n%s", out)
	}

	out, errs := run(0, "dlq", "purge", "orders")
	if !strings.Contains(out, "would purge 1") || !strings.Contains(errs, "--execute") {
		t.Fatalf("purge preview: %q %q", out, errs)
	}
	run(0, "dlq", "purge", "orders", "--execute")
	if out, _ := run(0, "dlq", "list", "orders"); strings.Contains(out, "billing") {
		t.Fatalf("dlq list after purge:\n%s", out)
	}
	run(exitNotFound, "dlq", "replay", "orders")
	run(exitNotFound, "dlq", "purge", "nope")
}

// A --reason filters a list as --group does: a reason no dead letter
// has lists none (exit 0, with a note naming the reasons the broker
// writes), and one only a dead letter written by other means has lists
// that one. The list refused every reason but the broker's two (exit 2)
// while its REASON column showed the others. A replay, whose broker
// refuses another reason (docs/reliability.md), refuses it first.
func TestDLQReasonFilter(t *testing.T) {
	srv := brokertest.Start(t)
	goqueue := cliAt(t, srv.URL)
	goqueue("topic", "create", "orders", "--partitions", "1")
	goqueue("topic", "create", api.DLQName("orders"), "--partitions", "1")
	srv.Do("POST", "/topics/"+api.DLQName("orders")+"/messages", map[string]any{"value": "v",
		"headers": map[string]string{api.DLQHeaderReason: "expired", api.DLQHeaderGroup: "billing"}})
	noEnv := func(string) (string, bool) { return "", false }
	for _, c := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"dlq", "list", "orders", "--reason", "expired"}, 0, "expired", "note:"},
		{[]string{"dlq", "list", "orders", "--reason", "declined"}, 0, "", "note:"},
		{[]string{"dlq", "list", "orders", "--reason", "rejected"}, 0, "", ""},
		{[]string{"dlq", "replay", "orders", "--reason", "rejcted", "--dry-run"}, exitUsage, "", "rejcted"},
	} {
		var out, errb bytes.Buffer
		code := run(append(c.args, "--broker", srv.URL), noEnv, &out, &errb)
		rows := strings.Count(out.String(), "\n") - 1 // less the table's head
		if code != c.code || (c.out == "") != (rows <= 0) || !strings.Contains(out.String(), c.out) ||
			(c.err == "") != (errb.Len() == 0) || !strings.Contains(errb.String(), c.err) {
			t.Errorf("goqueue %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), code, c.code, out.String(), errb.String())
		}
	}
}
