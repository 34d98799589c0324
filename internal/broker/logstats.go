package broker

import (
	"sync/atomic"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// traffic counts what went through one partition since the broker opened.
// Counters only grow; Prometheus turns them into rates.
type traffic struct {
	published, publishedBytes atomic.Int64
	fetched, fetchedBytes     atomic.Int64
}

func (c *traffic) countPublished(n int, bytes int) {
	c.published.Add(int64(n))
	c.publishedBytes.Add(int64(bytes))
}

func (c *traffic) countFetched(n int, bytes int) {
	c.fetched.Add(int64(n))
	c.fetchedBytes.Add(int64(bytes))
}

// LogStats is a snapshot of the broker's topics and latencies, for metrics.
type LogStats struct {
	Topics []TopicStats // sorted by name
	// Publish holds the latency of publishes (Publish and PublishBatches,
	// from validation to the last append) by the topic's fsync policy;
	// under "always" it includes the fsync.
	Publish map[string]Histogram
	Fsync   Histogram // fsyncs of the interval flusher
}

// TopicStats is one topic's partitions.
type TopicStats struct {
	Name       string
	Partitions []PartitionStats // by partition number
}

// PartitionStats is one partition's log and traffic. Message and byte counts
// are since the broker opened; byte counts are key, value and header bytes.
type PartitionStats struct {
	Partition      int32
	EarliestOffset int64
	HighWatermark  int64
	LogBytes       int64 // on disk, all segments
	Segments       int
	CorruptRanges  int   // damaged ranges skipped (see corrupt.go)
	CorruptOffsets int64 // offsets they held
	Published      int64
	PublishedBytes int64
	Fetched        int64
	FetchedBytes   int64
}

// LogStats returns a snapshot of every topic. It takes each log's lock
// briefly and never waits on I/O.
func (b *Broker) LogStats() LogStats {
	ts := b.snapshot()
	out := LogStats{
		Topics:  make([]TopicStats, 0, len(ts)),
		Publish: b.latency.publishSnapshot(),
		Fsync:   b.latency.fsync.snapshot(),
	}
	for _, t := range ts {
		s := TopicStats{Name: t.cfg.Name, Partitions: make([]PartitionStats, len(t.parts))}
		for i, p := range t.parts {
			ls := p.log.Stats()
			s.Partitions[i] = PartitionStats{
				Partition:      p.id,
				EarliestOffset: ls.EarliestOffset,
				HighWatermark:  ls.HighWatermark,
				LogBytes:       ls.Bytes,
				Segments:       ls.Segments,
				CorruptRanges:  ls.CorruptRanges,
				CorruptOffsets: ls.CorruptOffsets,
				Published:      p.traffic.published.Load(),
				PublishedBytes: p.traffic.publishedBytes.Load(),
				Fetched:        p.traffic.fetched.Load(),
				FetchedBytes:   p.traffic.fetchedBytes.Load(),
			}
		}
		out.Topics = append(out.Topics, s)
	}
	return out
}

// latencies are the broker's latency histograms.
type latencies struct {
	publish [len(fsyncPolicies)]latency // by fsync policy
	fsync   latency
}

var fsyncPolicies = [...]string{FsyncAlways, FsyncInterval, FsyncNever}

// publishFor is the publish histogram of a topic with the given policy.
func (l *latencies) publishFor(policy string) *latency {
	for i, p := range fsyncPolicies {
		if p == policy {
			return &l.publish[i]
		}
	}
	return &l.publish[1] // unreachable: topic policies are validated
}

func (l *latencies) publishSnapshot() map[string]Histogram {
	out := make(map[string]Histogram, len(fsyncPolicies))
	for i, p := range fsyncPolicies {
		out[p] = l.publish[i].snapshot()
	}
	return out
}

// recordsSize is the key, value and header bytes of recs.
func recordsSize(recs []commitlog.Record) int {
	n := 0
	for i := range recs {
		n += len(recs[i].Key) + len(recs[i].Value)
		for _, h := range recs[i].Headers {
			n += len(h.Key) + len(h.Value)
		}
	}
	return n
}
