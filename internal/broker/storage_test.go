package broker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Each write error a disk can give is answered with its coded error, and
// those that need an operator fail the data directory: writes are refused
// and StorageProblem (what /readyz reports) says so. A file system
// remounted read-only after an error, or a directory made unwritable by a
// chmod, answered 500 INTERNAL, retriable, and a log failed by an fsync
// STORAGE_FAILED, all with /readyz still ready.
func TestStorageErrorCodes(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		want   *api.Error // nil: passed on as is
		failed bool       // the data directory is failed afterwards
	}{
		{"full device", syscall.ENOSPC, api.ErrStorageFull, false},
		{"quota", syscall.EDQUOT, api.ErrStorageFull, false},
		{"file size limit", syscall.EFBIG, api.ErrStorageFull, false},
		{"open-file limit", syscall.EMFILE, api.ErrStorageFull, false},
		{"system's open-file limit", syscall.ENFILE, api.ErrStorageFull, false},
		{"read-only file system", syscall.EROFS, api.ErrStorageFailed, true},
		{"permission taken away", syscall.EACCES, api.ErrStorageFailed, true},
		{"operation not permitted", syscall.EPERM, api.ErrStorageFailed, true},
		{"failed log", fmt.Errorf("%w: fsync: %w", commitlog.ErrFailed, syscall.EIO), api.ErrStorageFailed, true},
		{"other", errors.New("something else"), nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := mustOpen(t, testConfig(t))
			defer b.Close()
			if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			err := b.storageError(fmt.Errorf("write: %w", c.err), "partition 0 of \"t\"")
			switch {
			case c.want == nil && !errors.Is(err, c.err):
				t.Fatalf("storageError = %v, want %v passed on", err, c.err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("storageError = %v, want %s", err, c.want.Code)
			}
			problem := b.StorageProblem()
			if (problem != nil) != c.failed {
				t.Fatalf("StorageProblem = %v, want failed %v", problem, c.failed)
			}
			_, err = b.Publish("t", []Message{{Value: []byte("x"), Partition: 0}})
			if c.failed != errors.Is(err, api.ErrStorageFailed) {
				t.Fatalf("publish after it: %v, want STORAGE_FAILED %v", err, c.failed)
			}
		})
	}
}

// A full data directory is logged at its first refusal and then at most
// once a minute, with the refusals in between: the coded refusals logged
// nothing, so an operator saw clients failing and a silent log.
func TestFullLogRateLimited(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	e := api.ErrStorageFull.Withf("disk full")
	var f fullLog
	t0 := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		at   time.Duration
		want string // the line this refusal logs; "": none
	}{
		{0, "refused=1"},
		{time.Second, ""},
		{30 * time.Second, ""},
		{fullLogEvery, "refused=3"},
		{fullLogEvery + time.Second, ""},
		{3 * fullLogEvery, "refused=2"},
	} {
		logs.Reset()
		f.note(log, t0.Add(c.at), e)
		got := logs.String()
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Fatalf("refusal at %v logged %q, want %q", c.at, got, c.want)
		}
	}
}
