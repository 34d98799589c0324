package broker

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
)

// rawBatch encodes one uncompressed RecordBatch v2 of records with the
// given timestamps, as a producer (the Go client, a Kafka client) would.
func rawBatch(ts ...int64) []byte {
	var recs []byte
	for i, t := range ts {
		r := kmsg.Record{TimestampDelta64: t - ts[0], OffsetDelta: int32(i), Value: []byte("v")}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the length varint of a short record is one byte
		recs = r.AppendTo(recs)
	}
	hdr := kmsg.RecordBatch{
		Length: int32(61 - 12 + len(recs)), PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: int32(len(ts) - 1), FirstTimestamp: ts[0], MaxTimestamp: ts[0],
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(ts)),
	}
	b := append(hdr.AppendTo(nil), recs...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// Every way in refuses the same timestamps: a far-future one (which would
// stop retention for good), one past --timestamp-after-max, a negative one,
// and one past --timestamp-before-max when it is set. JSON messages and
// binary batches share checkTimestamps; a batch is judged by its records,
// not by the header's max timestamp.
func TestTimestampBoundsOnEveryWayIn(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	hour := time.Hour.Milliseconds()
	nowMS := now.UnixMilli()
	cases := []struct {
		name   string
		before time.Duration
		ts     int64
		ok     bool
	}{
		{"now", 0, nowMS, true},
		{"an hour ahead", 0, nowMS + hour, true},
		{"just past an hour ahead", 0, nowMS + hour + 1, false},
		{"max int64", 0, math.MaxInt64, false},
		{"negative", 0, -5, false},
		{"a year old, no bound before", 0, nowMS - 365*24*hour, true},
		{"a day old, bound 1h before", time.Hour, nowMS - 24*hour, false},
		{"half an hour old, bound 1h before", time.Hour, nowMS - hour/2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Now = func() time.Time { return now }
			cfg.TimestampBeforeMax = c.before
			b := mustOpen(t, cfg)
			defer b.Close()
			if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			_, jerr := b.Publish("t", []Message{{Value: []byte("x"), Partition: 0, Timestamp: c.ts}})
			// The bad timestamp hides behind a good first one: the header's
			// first timestamp is fine, a record's delta is not.
			_, berr := b.PublishBatches("t", []Frame{{Partition: 0, Batch: rawBatch(nowMS, c.ts)}})
			for way, err := range map[string]error{"json": jerr, "batches": berr} {
				if c.ok && err != nil {
					t.Errorf("%s: refused %d: %v", way, c.ts, err)
				}
				if !c.ok && !errors.Is(err, api.ErrInvalidArgument) {
					t.Errorf("%s: timestamp %d: got %v, want INVALID_ARGUMENT", way, c.ts, err)
				}
			}
			if info, _ := b.Topic("t"); !c.ok && info.Partitions[0].HighWatermark != 0 {
				t.Errorf("a refused publish wrote %d messages", info.Partitions[0].HighWatermark)
			}
		})
	}
}
