package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Mem is an in-memory FS that remembers what was synced. Crash returns it
// to its durable state: each file keeps its synced bytes plus a random prefix
// of the unsynced ones (a torn write), and the directory entries are those of
// the last SyncDir of each directory. Mem is safe for concurrent use.
type Mem struct {
	mu   sync.Mutex
	live map[string]map[string]*memFile // dir → name → file, what the running process sees
	// durable is, per directory, the entries as of its last SyncDir.
	durable map[string]map[string]*memFile
	dirs    map[string]bool
	// budget is how many more mutating calls succeed before the power goes
	// out (every later call fails with ErrPowerLoss until Crash); <0: no limit.
	budget int
	// syncErr, if not nil, fails every file's Sync (FailSyncs).
	syncErr error
}

// ErrPowerLoss is what every mutating call of a Mem returns once the budget
// set by FailAfter is spent: the process should stop and the test Crash it.
var ErrPowerLoss = errors.New("vfs: power loss (injected)")

// FailAfter lets n more mutating calls (writes, syncs, creates, renames,
// removes, truncations) succeed; then they fail with ErrPowerLoss until
// Crash. A simulation uses it to stop a process in the middle of its writes.
func (m *Mem) FailAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.budget = n
}

// FailSyncs makes every file's Sync fail with err, named as os.File's
// errors name a file (by the name it was opened under), while writes go
// on succeeding — a disk that fills or fails under its fsyncs; nil ends
// it.
func (m *Mem) FailSyncs(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncErr = err
}

// spendLocked charges one mutating call against the budget.
func (m *Mem) spendLocked() error {
	switch {
	case m.budget < 0:
		return nil
	case m.budget == 0:
		return ErrPowerLoss
	}
	m.budget--
	return nil
}

type memFile struct {
	data   []byte
	synced int // bytes of data that survive a crash
}

var _ FS = (*Mem)(nil)

// NewMem returns an empty Mem.
func NewMem() *Mem {
	return &Mem{live: map[string]map[string]*memFile{}, durable: map[string]map[string]*memFile{}, dirs: map[string]bool{}, budget: -1}
}

func clean(name string) string { return filepath.Clean(name) }

func split(name string) (dir, base string) {
	name = clean(name)
	return filepath.Dir(name), filepath.Base(name)
}

func (m *Mem) getLocked(name string) (*memFile, bool) {
	dir, base := split(name)
	f, ok := m.live[dir][base]
	return f, ok
}

func (m *Mem) putLocked(name string, f *memFile) {
	dir, base := split(name)
	if m.live[dir] == nil {
		m.live[dir] = map[string]*memFile{}
	}
	m.live[dir][base] = f
}

func (m *Mem) deleteLocked(name string) {
	dir, base := split(name)
	delete(m.live[dir], base)
}

func (m *Mem) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Directories are durable at once: the storage creates them before it
	// writes anything that matters, and real file systems journal mkdir.
	for d := clean(dir); ; d = filepath.Dir(d) {
		m.dirs[d] = true
		if d == "." || d == "/" {
			break
		}
	}
	return nil
}

func (m *Mem) checkDirLocked(name string) error {
	if !m.dirs[filepath.Dir(name)] {
		return fmt.Errorf("vfs: %s: directory: %w", name, ErrNotExist)
	}
	return nil
}

func (m *Mem) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.spendLocked(); err != nil {
		return nil, err
	}
	name = clean(name)
	if err := m.checkDirLocked(name); err != nil {
		return nil, err
	}
	f := &memFile{}
	m.putLocked(name, f)
	return &memHandle{m: m, f: f, name: name}, nil
}

func (m *Mem) Append(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.getLocked(name)
	if !ok {
		return nil, fmt.Errorf("vfs: append %s: %w", name, ErrNotExist)
	}
	return &memHandle{m: m, f: f, name: clean(name)}, nil
}

func (m *Mem) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.getLocked(name)
	if !ok {
		return nil, fmt.Errorf("vfs: read %s: %w", name, ErrNotExist)
	}
	return append([]byte(nil), f.data...), nil
}

func (m *Mem) Truncate(name string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.spendLocked(); err != nil {
		return err
	}
	f, ok := m.getLocked(name)
	if !ok {
		return fmt.Errorf("vfs: truncate %s: %w", name, ErrNotExist)
	}
	if int(size) < len(f.data) {
		f.data = f.data[:size]
	}
	f.synced = len(f.data)
	return nil
}

func (m *Mem) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.spendLocked(); err != nil {
		return err
	}
	oldname, newname = clean(oldname), clean(newname)
	f, ok := m.getLocked(oldname)
	if !ok {
		return fmt.Errorf("vfs: rename %s: %w", oldname, ErrNotExist)
	}
	if err := m.checkDirLocked(newname); err != nil {
		return err
	}
	m.deleteLocked(oldname)
	m.putLocked(newname, f)
	return nil
}

func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.spendLocked(); err != nil {
		return err
	}
	name = clean(name)
	if _, ok := m.getLocked(name); !ok {
		return fmt.Errorf("vfs: remove %s: %w", name, ErrNotExist)
	}
	m.deleteLocked(name)
	return nil
}

func (m *Mem) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	if !m.dirs[dir] {
		return nil, fmt.Errorf("vfs: list %s: %w", dir, ErrNotExist)
	}
	names := make([]string, 0, len(m.live[dir]))
	for n := range m.live[dir] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (m *Mem) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.spendLocked(); err != nil {
		return err
	}
	dir = clean(dir)
	m.durable[dir] = maps.Clone(m.live[dir])
	return nil
}

// Crash forgets what was not durable, as a power loss would. rng chooses how
// much of each file's unsynced tail survives; nil keeps none of it.
func (m *Mem) Crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := map[string]map[string]*memFile{}
	dirs := make([]string, 0, len(m.durable))
	for d := range m.durable {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // deterministic use of rng
	for _, d := range dirs {
		names := make([]string, 0, len(m.durable[d]))
		for p := range m.durable[d] {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			f := m.durable[d][p]
			keep := f.synced
			if rng != nil && len(f.data) > f.synced {
				keep += rng.IntN(len(f.data) - f.synced + 1)
			}
			f.data = f.data[:keep:keep]
			f.synced = keep
			if live[d] == nil {
				live[d] = map[string]*memFile{}
			}
			live[d][p] = f
		}
	}
	m.live = live
	m.budget = -1
}

// Size returns the live size of a file and whether it exists; for tests.
func (m *Mem) Size(name string) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.getLocked(name)
	if !ok {
		return 0, false
	}
	return len(f.data), true
}

// Files lists every live file path under prefix; for tests.
func (m *Mem) Files(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for d, files := range m.live {
		for n := range files {
			if p := filepath.Join(d, n); strings.HasPrefix(p, prefix) {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

type memHandle struct {
	m      *Mem
	f      *memFile
	name   string // as opened, for FailSyncs' errors
	closed bool
}

func (h *memHandle) Write(p []byte) (int, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.closed {
		return 0, fmt.Errorf("vfs: write to closed file")
	}
	if err := h.m.spendLocked(); err != nil {
		return 0, err
	}
	h.f.data = append(h.f.data, p...)
	return len(p), nil
}

func (h *memHandle) Sync() error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.closed {
		return fmt.Errorf("vfs: sync of closed file")
	}
	if h.m.syncErr != nil {
		return &fs.PathError{Op: "sync", Path: h.name, Err: h.m.syncErr}
	}
	if err := h.m.spendLocked(); err != nil {
		return err
	}
	h.f.synced = len(h.f.data)
	return nil
}

func (h *memHandle) Close() error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	h.closed = true
	return nil
}
