package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// cliAt runs the CLI against the broker at url, failing t unless it exits
// 0, and returns what it printed.
func cliAt(t *testing.T, url string) func(args ...string) string {
	noEnv := func(string) (string, bool) { return "", false }
	return func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append(args, "--broker", url), noEnv, &out, &errb); code != 0 {
			t.Fatalf("goqueue %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
}

// TestTopicAlterShowsDescribedSettings: what alter prints of the altered
// topic is what describe prints of its settings. Alter left out the fsync
// policy, so a topic set to fsync always looked no different from one on
// the broker's default, and neither showed a size bound set with
// --retention-bytes.
func TestTopicAlterShowsDescribedSettings(t *testing.T) {
	srv := brokertest.Start(t)
	goqueue := cliAt(t, srv.URL)
	goqueue("topic", "create", "orders", "--partitions", "2", "--fsync", "always", "--retention-bytes", "10MiB", "--max-message-bytes", "1MiB")
	altered := goqueue("topic", "alter", "orders", "--partitions", "3", "--retention-hours", "48", "--retention-bytes", "1000000", "--max-message-bytes", "2MiB")
	described, _, _ := strings.Cut(goqueue("topic", "describe", "orders"), "\n")
	if want := "topic orders: 3 partitions, retention 2d or 1000000 bytes a partition, fsync always, max message 2097152 bytes"; described != want {
		t.Fatalf("describe: %q, want %q", described, want)
	}
	if altered != described+"\n" {
		t.Fatalf("alter printed %q; describe shows %q", altered, described)
	}
}

// topic alter sets a setting back to the broker's default with 0, as
// topic create takes it, or with the word default; a setting not named
// stays. Before, 0 was taken for "not given" and nothing could say
// "the broker's default" again.
func TestTopicAlterBackToBrokerDefault(t *testing.T) {
	srv := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) {
		c.RetentionHours, c.RetentionBytes, c.MaxMessageBytes = 72, 5<<20, 512<<10
	}))
	goqueue := cliAt(t, srv.URL)
	goqueue("topic", "create", "orders", "-p", "1", "--retention-hours", "48", "--retention-bytes", "10MiB", "--max-message-bytes", "2MiB")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--retention-bytes", "0"}, "retention 2d or 5242880 bytes a partition, fsync interval, max message 2097152 bytes"},
		{[]string{"--retention-hours", "1", "--retention-bytes", "-1", "--max-message-bytes", "default"}, "retention 1h, fsync interval, max message 524288 bytes"},
		{[]string{"--retention-hours", "default", "--max-message-bytes", "1MiB"}, "retention 3d, fsync interval, max message 1048576 bytes"},
		{[]string{"--retention-bytes", "default", "--retention-hours", "0"}, "retention 3d or 5242880 bytes a partition, fsync interval, max message 1048576 bytes"},
	} {
		if got := goqueue(append([]string{"topic", "alter", "orders"}, c.args...)...); got != "topic orders: 1 partition, "+c.want+"\n" {
			t.Errorf("topic alter %s printed %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
}

// TestTopicCreateReplicationFactor: topic create asks for the replication
// factor given, as POST /topics takes it; the CLI had no way to, so a
// cluster topic of fewer (or explicitly three) copies needed curl. A single
// broker takes 1 and refuses more.
func TestTopicCreateReplicationFactor(t *testing.T) {
	srv := brokertest.Start(t)
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		rf   string
		code int
		want string // in stdout, or stderr when the command fails
	}{
		{"1", 0, "created topic rf-1 with 1 partition"},
		{"2", 2, "replication_factor"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"topic", "create", "rf-" + tc.rf, "-p", "1", "--replication-factor", tc.rf, "--broker", srv.URL}, noEnv, &out, &errb)
		got := out.String()
		if code != 0 {
			got = errb.String()
		}
		if code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("--replication-factor %s: exit %d, %q; want exit %d and %q", tc.rf, code, got, tc.code, tc.want)
		}
	}
}

// retention reads as the topic's bounds: time, size, either, or none.
func TestRetentionText(t *testing.T) {
	for _, tc := range []struct {
		hours, bytes int64
		want         string
	}{
		{-1, -1, "forever"},
		{-1, 5000, "5000 bytes a partition"},
		{168, -1, "7d"},
		{36, -1, "36h"},
		{48, 1000000, "2d or 1000000 bytes a partition"},
	} {
		if got := retention(tc.hours, tc.bytes); got != tc.want {
			t.Errorf("retention(%d, %d) = %q, want %q", tc.hours, tc.bytes, got, tc.want)
		}
	}
}

// topic create without --partitions takes the broker's --partitions, as POST
// /topics does without a count; before, the CLI always asked for 1.
func TestTopicCreateTakesTheBrokersPartitions(t *testing.T) {
	srv := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) { c.DefaultPartitions = 5 }))
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "create", "plain"}, "created topic plain with 5 partitions\n"},
		{[]string{"topic", "create", "two", "-p", "2"}, "created topic two with 2 partitions\n"},
	} {
		var out, errb bytes.Buffer
		if code := run(append(tc.args, "--broker", srv.URL), noEnv, &out, &errb); code != 0 || out.String() != tc.want {
			t.Errorf("goqueue %s: exit %d, %q %s; want %q", strings.Join(tc.args, " "), code, out.String(), errb.String(), tc.want)
		}
	}
}
