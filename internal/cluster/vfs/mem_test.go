package vfs

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"testing"
)

func write(t *testing.T, f File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestMemCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	a, _ := m.Create("/d/a")
	write(t, a, "synced")
	a.Sync()
	m.SyncDir("/d")
	write(t, a, "-lost")
	c, _ := m.Create("/d/c.tmp")
	write(t, c, "renamed")
	c.Sync()
	m.SyncDir("/d")
	b, _ := m.Create("/d/b") // never made durable in its directory
	write(t, b, "x")
	b.Sync()
	m.Rename("/d/c.tmp", "/d/c") // the rename is not synced
	m.Crash(nil)

	if got, _ := m.ReadFile("/d/a"); string(got) != "synced" {
		t.Fatalf("a = %q", got)
	}
	if _, err := m.ReadFile("/d/b"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("b survived without a directory sync: %v", err)
	}
	if _, err := m.ReadFile("/d/c"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("unsynced rename survived: %v", err)
	}
	if got, _ := m.ReadFile("/d/c.tmp"); string(got) != "renamed" {
		t.Fatalf("c.tmp = %q", got)
	}
}

func TestMemCrashTearsTheUnsyncedTail(t *testing.T) {
	seen := map[int]bool{}
	for seed := range uint64(50) {
		m := NewMem()
		m.MkdirAll("/d")
		f, _ := m.Create("/d/f")
		m.SyncDir("/d")
		write(t, f, "ab")
		f.Sync()
		write(t, f, "cdef")
		m.Crash(rand.New(rand.NewPCG(seed, 0)))
		got, _ := m.ReadFile("/d/f")
		if len(got) < 2 || string(got) != "abcdef"[:len(got)] {
			t.Fatalf("after crash: %q", got)
		}
		seen[len(got)] = true
	}
	if len(seen) < 3 {
		t.Fatalf("torn lengths seen: %v", seen)
	}
}

func TestMemFailAfter(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	f, _ := m.Create("/d/f")
	m.FailAfter(1)
	write(t, f, "ok")
	if _, err := f.Write([]byte("no")); !errors.Is(err, ErrPowerLoss) {
		t.Fatalf("write after the budget: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrPowerLoss) {
		t.Fatalf("sync after the budget: %v", err)
	}
	m.Crash(nil)
	if _, err := m.Create("/d/g"); err != nil {
		t.Fatalf("crash did not restore power: %v", err)
	}
}

// FailSyncs fails syncs only, naming the file as it was opened, as
// os.File's errors do, and nil heals it.
func TestMemFailSyncs(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	f, _ := m.Create("/d/a.tmp")
	if err := m.Rename("/d/a.tmp", "/d/a"); err != nil {
		t.Fatal(err)
	}
	full := errors.New("disk full")
	m.FailSyncs(full)
	write(t, f, "x")
	var pe *fs.PathError
	if err := f.Sync(); !errors.As(err, &pe) || pe.Path != "/d/a.tmp" || !errors.Is(err, full) {
		t.Fatalf("sync: %v, want the failure naming /d/a.tmp", err)
	}
	m.FailSyncs(nil)
	if err := f.Sync(); err != nil {
		t.Fatalf("sync after FailSyncs(nil): %v", err)
	}
}
