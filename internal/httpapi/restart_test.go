package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// Everything published before a restart is read back after it, with the
// same offsets, keys, values, headers and timestamps; offsets continue.
func TestRestartReadsEverythingBack(t *testing.T) {
	for _, fsync := range []string{"always", "interval", "never"} {
		t.Run(fsync, func(t *testing.T) {
			s := brokertest.Start(t)
			s.Do("POST", "/topics", fmt.Sprintf(`{"name":"t","partitions":3,"fsync":%q,"segment_bytes":4096}`, fsync))
			sent := map[int32][]api.Message{}
			// 60 rounds fill more than one 4 KiB segment per partition (by
			// size: the old timestamps must not roll segments).
			for round := range 60 {
				var batch []string
				for i := range 10 {
					batch = append(batch, fmt.Sprintf(`{"key":"k%d","value":{"round":%d,"i":%d},"headers":{"n":"%d"},"timestamp":%d}`,
						i, round, i, round*10+i, 1700000000000+round))
				}
				resp := publish(t, s, "t", `{"messages":[`+strings.Join(batch, ",")+`]}`)
				for i, r := range resp.Offsets {
					sent[r.Partition] = append(sent[r.Partition], api.Message{
						Topic: "t", Partition: r.Partition, Offset: r.Offset,
						Value: []byte(fmt.Sprintf(`{"round":%d,"i":%d}`, round, i)),
					})
				}
			}
			before := describe(t, s, "t")

			s.Restart()
			after := describe(t, s, "t")
			for p := range after.PartitionInfo {
				if after.PartitionInfo[p].HighWatermark != before.PartitionInfo[p].HighWatermark {
					t.Fatalf("partition %d: high watermark %d after restart, %d before", p, after.PartitionInfo[p].HighWatermark, before.PartitionInfo[p].HighWatermark)
				}
			}
			if before.PartitionInfo[0].Segments < 2 && before.PartitionInfo[1].Segments < 2 && before.PartitionInfo[2].Segments < 2 {
				t.Fatalf("test wants several segments: %+v", before.PartitionInfo)
			}
			total := 0
			for p, want := range sent {
				var got []api.Message
				for next := int64(0); ; {
					r := fetch(t, s, "t", p, fmt.Sprintf("offset=%d&max=7", next))
					if len(r.Messages) == 0 {
						break
					}
					got = append(got, r.Messages...)
					next = r.NextOffset
				}
				if len(got) != len(want) {
					t.Fatalf("partition %d: read %d messages back, want %d", p, len(got), len(want))
				}
				for i := range want {
					g := got[i]
					if g.Offset != want[i].Offset || string(g.Value) != string(want[i].Value) || g.Key == nil ||
						g.Headers["n"] == "" || g.Timestamp < 1700000000000 {
						t.Fatalf("partition %d message %d: got %+v, want offset %d value %s", p, i, g, want[i].Offset, want[i].Value)
					}
				}
				total += len(got)
			}
			if total != 600 {
				t.Fatalf("read %d messages, want 600", total)
			}
			resp := publish(t, s, "t", `{"value":"after","partition":0}`)
			if resp.Offsets[0].Offset != before.PartitionInfo[0].HighWatermark {
				t.Fatalf("offset after restart %d, want %d", resp.Offsets[0].Offset, before.PartitionInfo[0].HighWatermark)
			}
		})
	}
}
