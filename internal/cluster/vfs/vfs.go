// Package vfs is the small file system the Raft storage writes through: the
// operating system's (OS), and an in-memory one (Mem) whose Crash forgets
// every byte and every directory change that was not synced, so simulations
// can test recovery from power loss deterministically.
//
// It owns no state of its own beyond Mem's files; it knows nothing of Raft.
package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// File is a file opened for appending.
type File interface {
	Write(p []byte) (int, error)
	// Sync makes every byte written so far durable.
	Sync() error
	Close() error
}

// FS is what the Raft storage needs from a file system. Names are slash
// paths. Creating, renaming and removing a file is durable only after
// SyncDir of its directory, as on Linux.
type FS interface {
	MkdirAll(dir string) error
	// Create makes an empty file (truncating one that exists) for appending.
	Create(name string) (File, error)
	// Append opens an existing file for appending at its end.
	Append(name string) (File, error)
	ReadFile(name string) ([]byte, error)
	// Truncate cuts a file to size bytes and makes that durable.
	Truncate(name string, size int64) error
	Rename(oldname, newname string) error
	Remove(name string) error
	// List returns the names (not paths) of the files in dir, sorted.
	List(dir string) ([]string, error)
	SyncDir(dir string) error
}

// ErrNotExist is returned (wrapped or as is) for a missing file.
var ErrNotExist = fs.ErrNotExist

// OS is the operating system's file system.
type OS struct{}

var _ FS = OS{}

func (OS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (OS) Create(name string) (File, error) {
	return os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
}

func (OS) Append(name string) (File, error) {
	return os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0o644)
}

func (OS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (OS) Truncate(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (OS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (OS) Remove(name string) error             { return os.Remove(name) }

func (OS) List(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		if !de.IsDir() {
			names = append(names, de.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) { // some file systems cannot sync a directory
		return nil
	}
	return err
}

// Join is filepath.Join, here so callers need not import two packages.
func Join(elem ...string) string { return filepath.Join(elem...) }
