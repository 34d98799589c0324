//go:build unix

package main

import "syscall"

// openFileLimit is the process's limit of open files (ulimit -n, which Go
// raises to the hard limit at start); 0 if unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}
