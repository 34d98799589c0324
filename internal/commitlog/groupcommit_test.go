package commitlog

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// TestGroupCommit holds the first fsync of an FsyncAlways log while three
// more appenders write, then checks that: nothing is visible before its
// fsync, the three share a single fsync, and every Append returns only after
// an fsync that covers it.
func TestGroupCommit(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Fsync: FsyncAlways, Now: newClock().Now})
	var (
		mu      sync.Mutex
		calls   int
		entered = make(chan struct{})
		release = make(chan struct{})
	)
	l.syncFile = func(f *os.File) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
		return datasync(f)
	}
	var wg sync.WaitGroup
	returned := make(chan int64, 4)
	appendOne := func() {
		base, err := l.Append([]Record{rec("x")})
		if err != nil {
			t.Error(err)
		}
		returned <- base
	}
	wg.Go(appendOne)
	<-entered
	if hwm := l.HighWatermark(); hwm != 0 {
		t.Fatalf("hwm %d before the first fsync finished", hwm)
	}
	for range 3 {
		wg.Go(appendOne)
	}
	// Wait until all three have written and queue behind the held fsync.
	testkit.Eventually(t, 30*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.next == 4
	}, "three appends to queue behind the held fsync")
	select {
	case base := <-returned:
		t.Fatalf("Append of offset %d returned before its fsync", base)
	default:
	}
	if hwm := l.HighWatermark(); hwm != 0 {
		t.Fatalf("hwm %d with every fsync pending", hwm)
	}
	close(release)
	wg.Wait()
	if calls != 2 {
		t.Fatalf("%d fsyncs for 4 appends, 3 of them concurrent; want 2", calls)
	}
	if hwm := l.HighWatermark(); hwm != 4 {
		t.Fatalf("hwm = %d, want 4", hwm)
	}
}
