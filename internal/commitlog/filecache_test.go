package commitlog

import (
	"fmt"
	"os"
	"testing"
)

// openFDs counts this process's open descriptors, or skips without /proc.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count descriptors: %v", err)
	}
	return len(fds)
}

// Sealed segments used to keep their files open, one descriptor each, so a
// producer that made segments could exhaust the broker's open files. Now
// logs sharing a FileCache hold their active segments open and at most the
// cache's limit of sealed ones, whatever was read, before and after a
// reopen; Close lets go of all.
func TestSealedSegmentsShareABoundedFileCache(t *testing.T) {
	const logs, limit = 3, 2
	files := NewFileCache(limit)
	opts := Options{SegmentBytes: 300, Files: files, Fsync: FsyncNever}
	dir := t.TempDir()
	before := openFDs(t)
	var ls []*Log
	for i := range logs {
		l := openT(t, fmt.Sprint(dir, "/", i), opts)
		for j := range 200 {
			mustAppend(t, l, rec(fmt.Sprintf("%03d", j)))
		}
		ls = append(ls, l)
	}
	check := func(when string) {
		t.Helper()
		segs := 0
		for _, l := range ls {
			segs += l.Stats().Segments
		}
		if segs < 10*logs {
			t.Fatalf("%d segments; the test wants many", segs)
		}
		if got, most := files.OpenFiles(), logs+limit; got > most {
			t.Fatalf("%s: %d files open through the cache for %d segments, want at most %d", when, got, segs, most)
		}
		if got, most := openFDs(t)-before, logs+limit; got > most {
			t.Fatalf("%s: %d more descriptors open for %d segments, want at most %d", when, got, segs, most)
		}
	}
	check("after appends")
	for _, l := range ls {
		got, err := l.Read(0, 1000, 1<<20)
		if err != nil || len(got) != 200 {
			t.Fatalf("read %d records, %v", len(got), err)
		}
	}
	check("after reading every segment")
	for i, l := range ls {
		l.Close()
		ls[i] = openT(t, fmt.Sprint(dir, "/", i), opts)
	}
	check("after a reopen")
	for _, l := range ls {
		l.Close()
	}
	if n := files.OpenFiles(); n != 0 {
		t.Fatalf("%d files open after every log closed", n)
	}
}
