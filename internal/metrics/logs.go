package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// logCollector turns broker.LogStats into metrics at scrape time.
type logCollector struct {
	src Source

	topics                         *prometheus.Desc
	hwm, earliest, bytes, segments *prometheus.Desc
	corruptRanges, corruptOffsets  *prometheus.Desc // only for damaged partitions
	published, publishedBytes      *prometheus.Desc
	fetched, fetchedBytes          *prometheus.Desc
	publishLatency, fsyncLatency   *prometheus.Desc
}

var partitionLabels = []string{"topic", "partition"}

func newLogCollector(src Source) *logCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("goqueue_"+name, help, labels, nil)
	}
	return &logCollector{
		src:            src,
		topics:         d("topics", "Topics that exist."),
		hwm:            d("partition_high_watermark", "Offset the next message appended to the partition gets.", partitionLabels...),
		earliest:       d("partition_earliest_offset", "First offset still held (retention moves it).", partitionLabels...),
		bytes:          d("partition_log_bytes", "Bytes of the partition's segment files.", partitionLabels...),
		segments:       d("partition_log_segments", "Segment files of the partition.", partitionLabels...),
		corruptRanges:  d("partition_corrupt_ranges", "Damaged ranges found in the partition's log and skipped; absent while there are none.", partitionLabels...),
		corruptOffsets: d("partition_corrupt_offsets", "Offsets held by the skipped damaged ranges (they read as absent); absent while there are none.", partitionLabels...),
		published:      d("published_messages_total", "Messages appended since the broker started.", partitionLabels...),
		publishedBytes: d("published_bytes_total", "Key, value and header bytes appended since the broker started.", partitionLabels...),
		fetched:        d("fetched_messages_total", "Messages read by fetches since the broker started.", partitionLabels...),
		fetchedBytes:   d("fetched_bytes_total", "Key, value and header bytes read by fetches since the broker started.", partitionLabels...),
		publishLatency: d("publish_duration_seconds", "Latency of a publish inside the broker (validation and appends; the fsync under fsync=always), by the topic's fsync policy.", "fsync"),
		fsyncLatency:   d("fsync_duration_seconds", "Latency of the fsyncs of fsync=interval topics."),
	}
}

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.topics, c.hwm, c.earliest, c.bytes, c.segments, c.corruptRanges, c.corruptOffsets,
		c.published, c.publishedBytes, c.fetched, c.fetchedBytes, c.publishLatency, c.fsyncLatency} {
		ch <- d
	}
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.LogStats()
	ch <- prometheus.MustNewConstMetric(c.topics, prometheus.GaugeValue, float64(len(s.Topics)))
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			lv := []string{t.Name, strconv.Itoa(int(p.Partition))}
			gauge := func(d *prometheus.Desc, v int64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), lv...)
			}
			counter := func(d *prometheus.Desc, v int64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
			}
			gauge(c.hwm, p.HighWatermark)
			gauge(c.earliest, p.EarliestOffset)
			gauge(c.bytes, p.LogBytes)
			gauge(c.segments, int64(p.Segments))
			if p.CorruptRanges > 0 {
				gauge(c.corruptRanges, int64(p.CorruptRanges))
				gauge(c.corruptOffsets, p.CorruptOffsets)
			}
			counter(c.published, p.Published)
			counter(c.publishedBytes, p.PublishedBytes)
			counter(c.fetched, p.Fetched)
			counter(c.fetchedBytes, p.FetchedBytes)
		}
	}
	for policy, h := range s.Publish {
		ch <- histogram(c.publishLatency, h, policy)
	}
	ch <- histogram(c.fsyncLatency, s.Fsync)
}

// histogram converts a broker histogram snapshot.
func histogram(d *prometheus.Desc, h broker.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
}
