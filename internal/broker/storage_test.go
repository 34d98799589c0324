package broker

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

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
