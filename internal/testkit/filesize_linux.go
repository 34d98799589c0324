package testkit

import (
	"syscall"
	"testing"
)

// WithFileSizeLimit runs fn with the process's file size limit
// (RLIMIT_FSIZE) at n bytes, then puts the old limit back. A write that
// would grow a file past n is cut short with EFBIG (Go ignores SIGXFSZ), as
// a full device cuts it with ENOSPC: a disk fault made in process, without
// root or a mount. The limit is the whole process's: fn must be all the
// test does meanwhile (no t.Parallel). It skips t if the limit cannot be
// set.
func WithFileSizeLimit(t testing.TB, n int64, fn func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("getrlimit RLIMIT_FSIZE: %v", err)
	}
	low := old
	low.Cur = uint64(n)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &low); err != nil {
		t.Skipf("setrlimit RLIMIT_FSIZE: %v", err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			panic("testkit: restore the file size limit: " + err.Error())
		}
	}()
	fn()
}
