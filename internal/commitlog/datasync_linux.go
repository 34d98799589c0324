package commitlog

import (
	"os"
	"syscall"
)

// datasync flushes f's data and the metadata needed to read it back (such as
// its size), skipping timestamps: fdatasync(2).
func datasync(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
