package broker

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A torn tail found at start is cut and reported once, naming the partition
// and the bytes cut; a clean restart reports nothing.
func TestRecoveryCutIsLogged(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("orders", []Message{{Value: []byte("kept"), Partition: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	reopen := func() []string {
		var logs lockedBuffer
		c := cfg
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		b := mustOpen(t, c)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		return logs.lines("recovery cut")
	}
	if got := reopen(); len(got) != 0 {
		t.Fatalf("a clean restart logged a cut: %q", got)
	}

	seg := filepath.Join(b.partitionDir("orders", 1), "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("torn-tail")); err != nil {
		t.Fatal(err)
	}
	f.Close()

	got := reopen()
	if len(got) != 1 {
		t.Fatalf("want one warning, got %q", got)
	}
	for _, want := range []string{"level=WARN", "topic=orders", "partition=1", "cut_bytes=9"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("warning %q lacks %q", got[0], want)
		}
	}
}
