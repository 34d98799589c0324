package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// kcatPath finds kcat (Debian's package; .ci/run installs it). Without it
// the test is skipped, except under CI=true, where it fails.
func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat is not installed (apt-get install -y kcat)")
		}
		t.Skip("kcat is not installed (apt-get install -y kcat); skipping")
	}
	return path
}

// kcat runs kcat against the broker with stdin and returns its stdout.
func (p *proc) kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcatPath(t), append([]string{"-b", p.Kafka}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\nstderr: %s", args, err, errb.String())
	}
	return out.String()
}

// kcat (librdkafka 2.x) produces keyed lines, lists metadata, consumes from
// the beginning and looks offsets up by time.
func TestKcat(t *testing.T) {
	kcatPath(t)
	p := start(t)
	createTopic(t, p.client(t), "lines", 2)
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "k%d:line %d\n", i%5, i)
	}
	p.kcat(t, in.String(), "-P", "-t", "lines", "-K:", "-z", "snappy")

	meta := p.kcat(t, "", "-L", "-t", "lines")
	if !strings.Contains(meta, `topic "lines" with 2 partitions`) {
		t.Fatalf("kcat -L:\n%s", meta)
	}
	out := p.kcat(t, "", "-C", "-t", "lines", "-o", "beginning", "-e", "-f", "%k=%s@%p/%o\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 50 {
		t.Fatalf("kcat consumed %d lines, want 50:\n%s", len(lines), out)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var k, i, part, off int
		if _, err := fmt.Sscanf(l, "k%d=line %d@%d/%d", &k, &i, &part, &off); err != nil || k != i%5 {
			t.Fatalf("line %q: %v", l, err)
		}
		seen[l[:strings.Index(l, "@")]] = true
	}
	if len(seen) != 50 {
		t.Fatalf("%d distinct records, want 50", len(seen))
	}
	// -Q: offsets for a timestamp far in the future are the ends.
	q := p.kcat(t, "", "-Q", "-t", fmt.Sprintf("lines:0:%d", time.Now().Add(time.Hour).UnixMilli()))
	if !strings.Contains(q, "lines [0]") {
		t.Fatalf("kcat -Q:\n%s", q)
	}
}

// kcat -G consumes as a member of a classic group (librdkafka's range
// assignor), commits, and a second run resumes from the committed offsets.
func TestKcatGroupResumes(t *testing.T) {
	kcatPath(t)
	p := start(t)
	createTopic(t, p.client(t), "feed", 3)
	var in strings.Builder
	for i := range 30 {
		fmt.Fprintf(&in, "m%d\n", i)
	}
	p.kcat(t, in.String(), "-P", "-t", "feed")
	group := func() []string {
		out := p.kcat(t, "", "-G", "readers", "feed", "-e", "-X", "auto.offset.reset=earliest", "-f", "%s\n")
		return strings.Fields(out)
	}
	if got := group(); len(got) != 30 {
		t.Fatalf("first run read %d messages, want 30: %v", len(got), got)
	}
	p.kcat(t, "late1\nlate2\n", "-P", "-t", "feed")
	got := group()
	slices.Sort(got)
	if fmt.Sprint(got) != "[late1 late2]" {
		t.Fatalf("second run read %v, want only [late1 late2]", got)
	}
}
