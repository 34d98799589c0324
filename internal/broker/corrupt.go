package broker

import (
	"context"
	"errors"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Damaged log data (see commitlog's corrupt.go for how it is found and told
// from a torn tail). The broker's policy, documented in the README:
//   - the damaged batch's offsets read as absent: fetches return the intact
//     messages before and after it, and a fetch that starts inside it moves
//     next_offset past it; the high watermark does not change and no segment
//     is deleted;
//   - consumer groups step over those offsets as if they had been
//     acknowledged (settled, counted in the partition's corrupt_offsets), so
//     the committed offset moves past them and lag reaches 0;
//   - each range is reported loudly: an error log line when found, the
//     topic's describe (corrupt_ranges, corrupt_offsets per partition),
//     goqueue_partition_corrupt_* metrics and the /readyz answer.

// reportCorrupt is commitlog.Options.OnCorrupt for partition p of topic. It
// may run under the log's lock: it only logs.
func (b *Broker) reportCorrupt(topic string, p int32) func(commitlog.CorruptRange) {
	return func(r commitlog.CorruptRange) {
		b.log.Error("corrupt log data: skipping it; its offsets read as absent and groups step over them",
			"topic", topic, "partition", p, "segment", r.Segment, "byte_from", r.Pos, "byte_to", r.End,
			"offset_from", r.From, "offset_to", r.To)
	}
}

// verifyLogs checks the sealed segments of every partition that has not
// been checked in full since it was opened (commitlog.Log.Verify), one
// partition at a time, until done or ctx ends.
func (b *Broker) verifyLogs(ctx context.Context) {
	for _, t := range b.snapshot() {
		for _, p := range t.parts {
			if ctx.Err() != nil {
				return
			}
			if _, err := p.log.Verify(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
				b.log.Error("verify log", "topic", t.cfg.Name, "partition", p.id, "err", err)
			}
		}
	}
}

// Damaged is one partition holding damaged data, for /readyz.
type Damaged struct {
	Topic          string
	Partition      int32
	CorruptRanges  int
	CorruptOffsets int64
}

// Damage lists the partitions with known damaged ranges, by topic and
// partition.
func (b *Broker) Damage() []Damaged {
	var out []Damaged
	for _, t := range b.snapshot() {
		for _, p := range t.parts {
			if st := p.log.Stats(); st.CorruptRanges > 0 {
				out = append(out, Damaged{Topic: t.cfg.Name, Partition: p.id, CorruptRanges: st.CorruptRanges, CorruptOffsets: st.CorruptOffsets})
			}
		}
	}
	return out
}

// skipped reports whether offset off of tp is in a damaged range, for group
// delivery: such an offset is settled without being delivered.
func (b *Broker) skipped(topic string, partition int32, off int64) bool {
	_, p, err := b.lookupPartition(topic, partition)
	if err != nil {
		return false
	}
	_, ok := p.log.Skipped(off)
	return ok
}
