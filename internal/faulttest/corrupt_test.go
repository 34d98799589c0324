package faulttest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

const corruptMessages = 5000

// flipMiddle inverts 16 bytes in the middle of file, as bit rot or a bad
// sector would.
func flipMiddle(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	mid := len(data) / 2
	for i := mid; i < mid+16; i++ {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two layouts of the runs: 16 bytes flipped in the middle of the
// first of several sealed segments (which Open took for a torn tail: it cut
// 509,994 bytes, deleted the later segments and the high watermark fell from
// 5,000 to 1,000), and in the middle of the active segment with valid
// batches after it (fetches crossing it answered 500, and a group acking
// everything stalled at it for ever, silently). After a restart: the high
// watermark is unchanged, every intact message before and after the damage
// is fetched, no fetch answers 500, a group acking everything reaches lag 0,
// and the damage is reported in the log, the topic, /readyz and /metrics.
func TestCorruptBatchIsSkippedAndReported(t *testing.T) {
	for _, c := range []struct {
		name, segmentBytes string
		file               func(files []string) string
	}{
		{"first of three sealed segments", "131072", func(files []string) string { return files[0] }},
		{"middle of the active segment", "67108864", func(files []string) string { return files[len(files)-1] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := start(t, dir, "")
			p.must(http.StatusCreated, "POST", "/topics", fmtTopic("t", 1, `,"segment_bytes":`+c.segmentBytes), nil)
			// 50 requests of 100: 50 batches.
			for range corruptMessages / 100 {
				if n, st, raw := p.publishN("t", 0, 100, 100, 0); n != 100 {
					t.Fatalf("publish: %d %s", st, raw)
				}
			}
			p.Stop()
			files, _ := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
			slices.Sort(files)
			if c.segmentBytes == "131072" && len(files) < 4 {
				t.Fatalf("want three sealed segments and the active one, have %v", files)
			}
			flipMiddle(t, c.file(files))

			p = start(t, dir, "")
			var info api.Topic
			p.must(http.StatusOK, "GET", "/topics/t", nil, &info)
			if hwm := info.PartitionInfo[0].HighWatermark; hwm != corruptMessages {
				t.Fatalf("high watermark %d after the restart, want %d", hwm, corruptMessages)
			}
			after, _ := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
			if len(after) != len(files) {
				t.Fatalf("segments %v after the restart, want all of %v", after, files)
			}

			// Fetch everything, 300 at a time (so that fetches start before,
			// inside and after the damage).
			var got []int64
			for off := int64(0); off < corruptMessages; {
				st, raw := p.do("GET", fmt.Sprintf("/topics/t/partitions/0/messages?offset=%d&max=300", off), nil)
				if st != http.StatusOK {
					t.Fatalf("fetch at %d: %d %s", off, st, raw)
				}
				var fr api.FetchResponse
				mustJSON(t, raw, &fr)
				for _, m := range fr.Messages {
					got = append(got, m.Offset)
				}
				if fr.NextOffset <= off {
					t.Fatalf("fetch at %d answered next_offset %d: stuck", off, fr.NextOffset)
				}
				off = fr.NextOffset
			}
			p.must(http.StatusOK, "GET", "/topics/t", nil, &info)
			pi := info.PartitionInfo[0]
			lost := corruptMessages - int64(len(got))
			if pi.CorruptRanges != 1 || pi.CorruptOffsets != lost || lost <= 0 || lost > 200 {
				t.Fatalf("fetched %d of %d messages; the topic reports %d damaged ranges of %d offsets; want one range of the messages missing (one or two batches)",
					len(got), corruptMessages, pi.CorruptRanges, pi.CorruptOffsets)
			}
			if !slices.IsSorted(got) || got[0] != 0 || got[len(got)-1] != corruptMessages-1 {
				t.Fatalf("fetched offsets %d..%d, want from 0 to %d in order", got[0], got[len(got)-1], corruptMessages-1)
			}

			// A group acking everything steps over the damage.
			var join api.JoinResponse
			p.must(http.StatusOK, "POST", "/groups/g/join", map[string]any{"topics": []string{"t"}}, &join)
			acked := 0
			testkit.EventuallyNil(t, 30*time.Second, func() error {
				var g api.GroupDescription
				p.must(http.StatusOK, "GET", "/groups/g", nil, &g)
				if g.Lag == 0 && acked > 0 {
					return nil
				}
				var polled api.PollResponse
				p.must(http.StatusOK, "POST", "/groups/g/poll", map[string]any{"member_id": join.MemberID, "generation": join.Generation, "max_messages": 1000, "wait_ms": 100}, &polled)
				var refs []api.MessageRef
				for _, m := range polled.Messages {
					refs = append(refs, api.MessageRef{Topic: "t", Partition: m.Partition, Offset: m.Offset})
				}
				if len(refs) > 0 {
					p.must(http.StatusOK, "POST", "/groups/g/ack", api.AckRequest{MemberID: join.MemberID, Generation: join.Generation, Messages: refs}, nil)
					acked += len(refs)
				}
				return fmt.Errorf("group lag %d after acking %d messages: stalled", g.Lag, acked)
			})
			if acked != len(got) {
				t.Fatalf("the group was delivered %d messages, want the %d intact ones", acked, len(got))
			}

			var ready struct {
				Damaged []struct {
					Topic          string
					CorruptOffsets int64 `json:"corrupt_offsets"`
				}
			}
			p.must(http.StatusOK, "GET", "/readyz", nil, &ready)
			if len(ready.Damaged) != 1 || ready.Damaged[0].Topic != "t" || ready.Damaged[0].CorruptOffsets != lost {
				t.Fatalf("/readyz damaged = %+v", ready.Damaged)
			}
			_, metrics := p.do("GET", "/metrics", nil)
			if want := fmt.Sprintf(`goqueue_partition_corrupt_offsets{partition="0",topic="t"} %d`, lost); !strings.Contains(string(metrics), want) {
				t.Fatalf("/metrics lacks %s", want)
			}
			if !strings.Contains(p.Log(), "corrupt log data") {
				t.Fatalf("no log line reports the damage:\n%s", p.Log())
			}
		})
	}
}
