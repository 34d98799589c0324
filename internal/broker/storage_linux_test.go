package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// A failed fsync of the interval flusher failed the log, but the broker
// logged "fsync failed" again at every interval, for ever, and /readyz said
// ready until a publish met the failed log; messages acknowledged since the
// last good fsync may not be on disk. Now the first failure fails the data
// directory, logged once.
func TestFailedIntervalFsyncFailsStorage(t *testing.T) {
	c := testConfig(t)
	var logs bytes.Buffer // written only by flush, called here
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b := mustOpen(t, c)
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, Fsync: FsyncInterval}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("t", []Message{{Value: []byte("x"), Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	// Put a pipe in the place of the segment's file descriptor: its
	// fdatasync fails (EINVAL) as a disk's failing fsync does.
	seg := filepath.Join(c.DataDir, "topics", "t", "0", "00000000000000000000.log")
	fd := -1
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range entries {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == seg {
			fd, _ = strconv.Atoi(e.Name())
		}
	}
	if fd < 0 {
		t.Fatalf("no open descriptor of %s", seg)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := syscall.Dup3(int(w.Fd()), fd, 0); err != nil {
		t.Fatal(err)
	}

	for range 3 {
		b.flush()
	}
	if !errors.Is(b.StorageProblem(), api.ErrStorageFailed) {
		t.Fatalf("StorageProblem after a failed fsync = %v, want STORAGE_FAILED", b.StorageProblem())
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("%d error lines for one failed fsync flushed three times, want 1:\n%s", n, logs.String())
	}
}
