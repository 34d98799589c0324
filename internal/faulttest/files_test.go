package faulttest

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// lowFiles runs the broker with at most 64 open files, as a small
// container or a careless ulimit would.
const lowFiles = "ulimit -n 64 || exit 97;"

// fds counts the broker's open descriptors.
func (p *proc) fds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid()))
	if err != nil {
		t.Skipf("cannot count the broker's descriptors: %v", err)
	}
	return len(ents)
}

// Any producer could exhaust the broker's open files: a segment aged from
// its first batch's producer timestamp, so each publish stamped older than
// segment_ms started a new segment, and every sealed segment kept its file
// open. At 64 files the broker could then neither roll nor accept
// connections, nor start again. Now segments age by the broker's clock and
// sealed segments are opened on demand within --max-open-segments: under
// `ulimit -n 64` a broker takes 700 day-old publishes in one segment, and
// a topic of many small segments is written, read whole, and read whole
// again after a restart under the same limit.
func TestLowFileLimitSurvivesOldTimestampsAndManySegments(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--max-open-segments", "8"}
	p := start(t, dir, lowFiles, args...)
	p.must(http.StatusCreated, "POST", "/topics", fmtTopic("old", 1, ""), nil)
	dayOld := time.Now().Add(-25 * time.Hour).UnixMilli()
	for i := range 700 {
		st, raw := p.do("POST", "/topics/old/messages", fmt.Sprintf(`{"value":"m%d","timestamp":%d}`, i, dayOld))
		if st != http.StatusOK {
			t.Fatalf("publish %d with a day-old timestamp: %d %s", i, st, raw)
		}
	}
	var info api.Topic
	p.must(http.StatusOK, "GET", "/topics/old", nil, &info)
	if n := info.PartitionInfo[0].Segments; n != 1 {
		t.Fatalf("700 day-old publishes made %d segments, want 1", n)
	}

	// 100 segments of 4 KiB: more than the process may have files.
	p.must(http.StatusCreated, "POST", "/topics", fmtTopic("many", 1, `,"segment_bytes":4096`), nil)
	val := strings.Repeat("v", 3000)
	for i := range 100 {
		p.must(http.StatusOK, "POST", "/topics/many/messages", fmt.Sprintf(`{"value":"%d-%s"}`, i, val), nil)
	}
	readAll := func(p *proc) {
		t.Helper()
		p.must(http.StatusOK, "GET", "/topics/many", nil, &info)
		if n := info.PartitionInfo[0].Segments; n < 100 {
			t.Fatalf("%d segments, the test wants 100", n)
		}
		n := 0
		for off := int64(0); off < 100; {
			var fr api.FetchResponse
			p.must(http.StatusOK, "GET", fmt.Sprintf("/topics/many/partitions/0/messages?offset=%d&max=7", off), nil, &fr)
			n += len(fr.Messages)
			off = fr.NextOffset
		}
		if n != 100 {
			t.Fatalf("read %d of 100 messages", n)
		}
		if fds := p.fds(t); fds > 40 {
			t.Fatalf("the broker holds %d descriptors for %d segments", fds, info.PartitionInfo[0].Segments)
		}
	}
	readAll(p)
	p.Stop()
	p = start(t, dir, lowFiles, args...)
	readAll(p)
	p.must(http.StatusOK, "POST", "/topics/many/messages", `{"value":"after the restart"}`, nil)
}
