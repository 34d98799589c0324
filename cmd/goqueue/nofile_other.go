//go:build !unix

package main

// openFileLimit is 0: unknown on this system.
func openFileLimit() uint64 { return 0 }
