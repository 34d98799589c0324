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

// consume -o json prints bytes that are not UTF-8 as the HTTP API does
// (key_base64, value_base64, header_list), text as it always has: such
// bytes came out as U+FFFD, so a script could not get the message back.
func TestConsumeJSONKeepsBytes(t *testing.T) {
	srv := brokertest.Start(t)
	goqueue := cliAt(t, srv.URL)
	goqueue("topic", "create", "bin", "--partitions", "1")
	srv.Do("POST", "/topics/bin/messages", []byte(`{"messages":[
		{"key":"k","value":"text","headers":{"h":"v"}},
		{"key_base64":"/w==","value_base64":"//5y","header_list":[{"key":"h","value_base64":"AP8="}]},
		{"value":null}]}`))
	out := goqueue("consume", "bin", "--from", "earliest", "-n", "3", "-o", "json")
	want := []string{
		`"key":"k","value":"text","headers":{"h":"v"},`,
		`"key_base64":"/w==","value_base64":"//5y","header_list":[{"key":"h","value_base64":"AP8="}],`,
		`"offset":2,"value":"",`,
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("consume -o json:\n%s", out)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d: %s\nwant it to hold %s", i, lines[i], w)
		}
	}
}
