package commitlog

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// Recovery rebuilds the index of a sealed segment whose index files are
// missing and of an active segment whose torn tail it cut, and wrote them
// before Open returned: on a full device (here the file size limit, which
// cuts writes the same way) the broker refused to start, though the index
// is only a shortcut for the next Open. Open now keeps the rebuilt index in
// memory, removes the files it could not write and serves the log; the
// next Open, with room, writes them.
func TestRecoverWithoutRoomForIndexes(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	stem := func(f string) string { return f[:len(f)-len(logSuffix)] }
	for _, f := range files[:len(files)-1] {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if err := os.Remove(stem(f) + suffix); err != nil {
				t.Fatal(err)
			}
		}
	}
	torn, err := os.OpenFile(files[len(files)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := torn.Write([]byte("torn tail")); err != nil {
		t.Fatal(err)
	}
	torn.Close()

	var l *Log
	testkit.WithFileSizeLimit(t, 4, func() { l, err = Open(dir, recoverOpts) })
	if err != nil {
		t.Fatalf("Open with no room for index files: %v", err)
	}
	got, err := l.Read(0, 1<<20, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !recordsEqual(all, got) {
		t.Fatalf("records read (-want +got):\n%s", cmp.Diff(all, got, recordOpts))
	}
	verifyLog(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reopenAndCheck(t, dir, recoverOpts, all)
	for _, f := range files[:len(files)-1] {
		if _, err := os.Stat(stem(f) + indexSuffix); err != nil {
			t.Errorf("index of %s not written once there was room: %v", f, err)
		}
	}
}
