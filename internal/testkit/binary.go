package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binary is the real goqueue binary for tests that run the broker as a child
// process. It is built on first use, once per test binary, without -race so
// that starts, recoveries and kill loops run at production speed (the test
// process itself still runs with -race). Declare one per test package and
// call Cleanup from TestMain.
type Binary struct {
	once sync.Once
	dir  string // removed by Cleanup
	path string
	err  error
}

// Path builds the binary if it has not been built yet and returns its path.
func (b *Binary) Path(tb testing.TB) string {
	tb.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "goqueue-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "goqueue")
		out, err := exec.Command("go", "build", "-o", b.path, "github.com/abd-ulbasit/goqueue/cmd/goqueue").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// Cleanup removes the built binary.
func (b *Binary) Cleanup() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
