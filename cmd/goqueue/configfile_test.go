package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/abd-ulbasit/goqueue/api"
)

// guideYAML returns the first YAML block of the consumer-groups guide, as
// printed.
func guideYAML(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/consumer-groups.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```yaml\n")
	if block, _, ok2 := strings.Cut(block, "```"); ok && ok2 && strings.Contains(block, "sessionTimeout") {
		return block
	}
	t.Fatal("docs/consumer-groups.md has no yaml block with sessionTimeout")
	return ""
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load runs the flag, file and environment parsing of run.
func load(t *testing.T, args []string, env map[string]string) (config, origins, error) {
	t.Helper()
	var (
		c        config
		problems []error
	)
	fs := pflag.NewFlagSet("goqueue", pflag.ContinueOnError)
	flagSet(fs, &c, &problems)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	o, err := checkSettings(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &c, &problems)
	return c, o, err
}

func TestConfigFileGuideKeysAndFlagNames(t *testing.T) {
	file := writeFile(t, "goqueue.yaml", `
consumer:
  sessionTimeout: "12s"
  heartbeatInterval: 4s
  maxRetries: 0
data-dir: /var/lib/goqueue
fsyncInterval: 250ms
max-message-bytes: 2MiB
api-keys: [aaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbb]
auth-health: true
`)
	c, o, err := load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := c.broker.Groups
	if g.SessionTimeout != 12*time.Second || g.HeartbeatInterval != 4*time.Second || c.maxRetries != 0 ||
		c.broker.DataDir != "/var/lib/goqueue" || c.broker.FsyncInterval != 250*time.Millisecond ||
		c.broker.MaxMessageBytes != 2<<20 || len(c.apiKeys) != 2 || !c.authHealth {
		t.Fatalf("config %+v", c)
	}
	if got := o["session-timeout"]; got != "file "+file+":3 consumer.sessionTimeout" {
		t.Errorf("origin of session-timeout: %q", got)
	}
}

// The command line wins over the environment, which wins over the file;
// GOQUEUE_CONFIG names the file when --config does not.
func TestConfigFilePrecedence(t *testing.T) {
	file := writeFile(t, "q.yaml", "fsync: always\npartitions: 7\nassignor: range\napi-keys: [aaaaaaaaaaaaaaaaaaaa]\n")
	env := map[string]string{"GOQUEUE_CONFIG": file, "GOQUEUE_PARTITIONS": "9", "GOQUEUE_API_KEYS": "cccccccccccccccccccc"}
	c, o, err := load(t, []string{"--assignor", "sticky"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.broker.Fsync != "always" || c.broker.DefaultPartitions != 9 || c.broker.Groups.DefaultAssignor != "sticky" {
		t.Fatalf("config %+v", c)
	}
	if len(c.apiKeys) != 1 || c.apiKeys[0] != "cccccccccccccccccccc" {
		t.Errorf("api keys of the environment must replace the file's, not add to them: %q", c.apiKeys)
	}
	for name, want := range map[string]string{"fsync": "file " + file + ":1 fsync", "partitions": "env GOQUEUE_PARTITIONS", "assignor": "flag", "addr": ""} {
		if o[name] != want {
			t.Errorf("origin of %s = %q, want %q", name, o[name], want)
		}
	}
}

// Unknown keys, misplaced keys, duplicates and bad values of a file are
// refused together with the command line's and environment's problems.
func TestConfigFileProblemsReportedAtOnce(t *testing.T) {
	file := writeFile(t, "bad.yaml", `consumer:
  sessionTimeout: 5x
  autoCommitInterval: 5s
  fsync: always
colour: blue
session-timeout: 3s
partitions: {a: 1}
max-retries: ~
`)
	_, _, err := load(t, []string{"--config", file, "--log-level", "loud"}, map[string]string{"GOQUEUE_FSYNC_INTERVAL": "soon"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`bad.yaml:2 consumer.sessionTimeout "5x"`,
		`bad.yaml:3: unknown setting "consumer.autoCommitInterval": it is a client setting`,
		`bad.yaml:4: "consumer.fsync" is not a consumer setting`,
		`bad.yaml:5: unknown setting "colour"`,
		`bad.yaml:6: session-timeout is set twice`,
		`bad.yaml:7: partitions: must be a single value`,
		`bad.yaml:8: max-retries: has no value`,
		`--log-level "loud"`,
		`GOQUEUE_FSYNC_INTERVAL="soon"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
	for _, body := range []string{"- a\n- b\n", "a: [\n"} {
		if _, _, err := load(t, []string{"--config", writeFile(t, "x.yaml", body)}, nil); err == nil {
			t.Errorf("%q was accepted", body)
		}
	}
	if _, _, err := load(t, []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v", err)
	}
}

// `goqueue config` prints a file --config reads back, with each value's source.
func TestConfigCommandPrintsEffectiveSettings(t *testing.T) {
	file := writeFile(t, "goqueue.yaml", "consumer:\n  heartbeatInterval: 3s\napi-keys: [aaaaaaaaaaaaaaaaaaaa]\n")
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"GOQUEUE_CONFIG": file, "GOQUEUE_FSYNC": "never"}[k]
		return v, ok
	}
	var out, errb bytes.Buffer
	if code := run([]string{"config", "--partitions", "6"}, env, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"heartbeat-interval: 3s  # file " + file + ":2 consumer.heartbeatInterval\n",
		"fsync: never  # env GOQUEUE_FSYNC\n",
		"partitions: 6  # flag\n",
		"session-timeout: 30s  # default\n",
		"# api-keys: 1 key(s), not shown",
		"# a broker started from this file alone has NO API keys",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "aaaaaaaaaaaaaaaaaaaa") {
		t.Error("an API key was printed")
	}
	// The output is itself a configuration file that gives the same result.
	again := writeFile(t, "again.yaml", out.String())
	c, _, err := load(t, []string{"--config", again}, nil)
	if err != nil {
		t.Fatalf("goqueue config's output does not load: %v\n%s", err, out.String())
	}
	if c.broker.Groups.HeartbeatInterval != 3*time.Second || c.broker.Fsync != "never" || c.broker.DefaultPartitions != 6 {
		t.Fatalf("reloaded %+v", c)
	}

	out.Reset()
	errb.Reset()
	bad := writeFile(t, "bad.yaml", "nope: 1\n")
	if code := run([]string{"config", "--config", bad}, env, &out, &errb); code != exitConfig || !strings.Contains(errb.String(), `unknown setting "nope"`) {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// The guide's YAML block (docs/consumer-groups.md), saved as a file and passed with --config, sets the
// session timeout and heartbeat interval a join is answered with; so does
// the same block with other values (the guide's are also the defaults).
func TestGuideYAMLSetsJoinTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	guide := guideYAML(t)
	for _, c := range []struct {
		yaml                string
		session, heartbeats int64
	}{
		{guide, 30000, 10000},
		{strings.NewReplacer(`"30s"`, `"9s"`, `"10s"`, `"3s"`).Replace(guide), 9000, 3000},
	} {
		file := writeFile(t, "goqueue.yaml", c.yaml)
		srv := startBinary(t, "", "--config", file)
		if st := srv.call(t, "POST", "/topics", `{"name":"orders","partitions":2}`, nil); st != 201 {
			t.Fatalf("create topic: %d", st)
		}
		var j api.JoinResponse
		if st := srv.call(t, "POST", "/groups/order-service/join", `{"member_id":"consumer-1","topics":["orders"]}`, &j); st != 200 {
			t.Fatalf("join: %d %+v", st, j)
		}
		if j.SessionTimeoutMS != c.session || j.HeartbeatIntervalMS != c.heartbeats {
			t.Errorf("with\n%s\njoin answered session %d ms, heartbeats %d ms; want %d, %d", c.yaml, j.SessionTimeoutMS, j.HeartbeatIntervalMS, c.session, c.heartbeats)
		}
		srv.stop(t)
	}
}

// A list reaches only the flags that take lists: comma-joined, addr: [a, b]
// would otherwise become the address "a,b".
func TestConfigFileListOnlyForListSettings(t *testing.T) {
	for _, body := range []string{"addr: [1, 2]\n", "assignor: [range]\n", "x: &l [a, b]\ndata-dir: *l\n"} {
		_, _, err := load(t, []string{"--config", writeFile(t, "l.yaml", body)}, nil)
		if err == nil || !strings.Contains(err.Error(), "not a list") {
			t.Errorf("%q: err = %v, want a list refused", body, err)
		}
	}
	if _, _, err := load(t, []string{"--config", writeFile(t, "k.yaml", "api-keys: [aaaaaaaaaaaaaaaaaaaa]\n")}, nil); err != nil {
		t.Errorf("a list of api keys: %v", err)
	}
}

// A value that parses but is refused by validation is said with where it
// was set: the file's line, or the environment variable.
func TestConfigRefusedValueSaysWhere(t *testing.T) {
	file := writeFile(t, "v.yaml", "partitions: 3\nmax-wait: -1s\n")
	_, _, err := load(t, []string{"--config", file, "--retention-hours", "0"}, map[string]string{"GOQUEUE_MAX_RETRIES": "-2"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		file + ":2 max-wait: max wait -1s must be positive",
		"GOQUEUE_MAX_RETRIES: max retries -2 must not be negative",
		"\nretention hours 0 must be", // given on the command line: said as it is
	} {
		if !strings.Contains("\n"+msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
}
