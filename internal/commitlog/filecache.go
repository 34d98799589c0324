package commitlog

import (
	"container/list"
	"fmt"
	"os"
	"sync"
)

// DefaultOpenFiles is the size of the FileCache a log makes for itself
// when Options.Files is nil.
const DefaultOpenFiles = 16

// FileCache bounds the segment files that logs keep open. An active
// segment's file stays open (its log holds it for writing); a sealed
// segment's file is opened when a read needs it and closed, least recently
// used first, once more than the cache's limit are open and unused. One
// cache is meant to be shared by every log of a process, so that a broker's
// descriptors grow with its partitions, not with its segments: each sealed
// segment keeping its file open let any producer exhaust the open-file
// limit by making segments.
//
// A file in use (a read, an fsync) is never closed under its user: users
// hold a reference (acquire/release), and only unreferenced files are
// evicted, so the limit can be passed while many are in use at once.
// All fields are guarded by mu.
type FileCache struct {
	mu   sync.Mutex
	max  int
	open int       // files open through the cache, in use or idle
	idle list.List // of *cachedFile: open, unreferenced, most recently used first
}

// NewFileCache returns a cache that keeps at most n files open while unused
// (at least 1). Open files are then at most n plus those in use: the active
// segments and the sealed ones being read.
func NewFileCache(n int) *FileCache {
	return &FileCache{max: max(n, 1)}
}

// OpenFiles is how many files are open through the cache now.
func (c *FileCache) OpenFiles() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// cachedFile is one segment file as the cache knows it. Guarded by
// FileCache.mu; path is immutable.
type cachedFile struct {
	path string
	f    *os.File      // nil while closed
	refs int           // users holding f open
	elem *list.Element // in idle while refs == 0 and f != nil
	dead bool          // the segment is gone: close on last release, never reopen
}

// add registers the open file f of path, referenced refs times (1: the
// active segment's writer; 0: a sealed segment, idle and evictable).
func (c *FileCache) add(path string, f *os.File, refs int) *cachedFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &cachedFile{path: path, f: f, refs: refs}
	c.open++
	if refs == 0 {
		h.elem = c.idle.PushFront(h)
	}
	c.evictLocked()
	return h
}

// acquire returns h's file, opening it (read-only) if it was evicted, and
// holds it open until release.
func (c *FileCache) acquire(h *cachedFile) (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.dead {
		return nil, ErrClosed
	}
	if h.f == nil {
		f, err := os.Open(h.path)
		if err != nil {
			return nil, fmt.Errorf("commitlog: open segment: %w", err)
		}
		h.f = f
		c.open++
	}
	if h.elem != nil {
		c.idle.Remove(h.elem)
		h.elem = nil
	}
	h.refs++
	c.evictLocked()
	return h.f, nil
}

// release ends one use of h's file.
func (c *FileCache) release(h *cachedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.refs--
	if h.refs > 0 {
		return
	}
	if h.dead {
		c.closeLocked(h)
		return
	}
	h.elem = c.idle.PushFront(h)
	c.evictLocked()
}

// drop forgets h (its segment is removed or its log closed): its file is
// closed now, or at its last release. It returns the error of a close done now.
func (c *FileCache) drop(h *cachedFile) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.dead = true
	if h.elem != nil {
		c.idle.Remove(h.elem)
		h.elem = nil
	}
	if h.refs == 0 {
		return c.closeLocked(h)
	}
	return nil
}

// evictLocked closes idle files, least recently used first, while more
// than max are idle. Files in use (active segments among them) are not
// counted against max: they cannot be closed anyway.
func (c *FileCache) evictLocked() {
	for c.idle.Len() > c.max {
		h := c.idle.Remove(c.idle.Back()).(*cachedFile)
		h.elem = nil
		c.closeLocked(h) // read-only or already synced: a close error loses nothing
	}
}

func (c *FileCache) closeLocked(h *cachedFile) error {
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	c.open--
	return err
}
