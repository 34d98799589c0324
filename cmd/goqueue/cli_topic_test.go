package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// TestTopicAlterShowsDescribedSettings: what alter prints of the altered
// topic is what describe prints of its settings. Alter left out the fsync
// policy, so a topic set to fsync always looked no different from one on
// the broker's default, and neither showed a size bound set with
// --retention-bytes.
func TestTopicAlterShowsDescribedSettings(t *testing.T) {
	srv := brokertest.Start(t)
	noEnv := func(string) (string, bool) { return "", false }
	goqueue := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append(args, "--broker", srv.URL), noEnv, &out, &errb); code != 0 {
			t.Fatalf("goqueue %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
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
