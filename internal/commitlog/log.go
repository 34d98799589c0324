// Package commitlog stores one partition's records in append-only segment
// files of Kafka RecordBatch v2 bytes. It knows nothing of topics or consumers.
//
// CONTRACT (fixed; the implementation may add, never change, these names):
// the broker is written against exactly this API.
package commitlog

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors.
var (
	// ErrOffsetOutOfRange: the offset is below the earliest offset or above
	// the high watermark. Returned wrapped in a *RangeError.
	ErrOffsetOutOfRange = errors.New("commitlog: offset out of range")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("commitlog: log closed")
	// ErrCorrupt: a batch failed its CRC-32C or framing checks on read.
	ErrCorrupt = errors.New("commitlog: corrupt batch")
	// ErrBatchTooLarge: an append exceeds Options.MaxBatchBytes.
	ErrBatchTooLarge = errors.New("commitlog: batch too large")
)

// RangeError reports an out-of-range offset with the valid range
// [Earliest, HighWatermark]. errors.Is(err, ErrOffsetOutOfRange) holds.
type RangeError struct {
	Offset, Earliest, HighWatermark int64
}

func (e *RangeError) Error() string { return "commitlog: offset out of range" }
func (e *RangeError) Unwrap() error { return ErrOffsetOutOfRange }

// FsyncPolicy says when appended bytes are forced to disk.
type FsyncPolicy int

const (
	// FsyncInterval (default): Sync is called by the owner every interval;
	// Append also syncs once FsyncBytes are unsynced.
	FsyncInterval FsyncPolicy = iota
	// FsyncAlways: Append returns only after its bytes are fsynced;
	// concurrent appenders share one fsync (group commit).
	FsyncAlways
	// FsyncNever: only the OS decides (and Close).
	FsyncNever
)

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one message. Offset is assigned by Append. Timestamp is in ms
// since the Unix epoch; 0 on Append means "now". Attributes is stored in the
// record's attributes byte and returned unchanged (the broker uses a bit of it).
type Record struct {
	Offset     int64
	Timestamp  int64
	Key        []byte
	Value      []byte
	Headers    []Header
	Attributes int8
}

// Options configure a log. Zero values take the defaults noted.
type Options struct {
	SegmentBytes       int64         // roll past this size; default 64 MiB
	SegmentAge         time.Duration // roll a segment older than this; 0: never
	RetentionBytes     int64         // drop oldest segments past this total; <=0: unbounded
	RetentionAge       time.Duration // drop segments whose newest record is older; <=0: forever
	Fsync              FsyncPolicy
	FsyncBytes         int64 // FsyncInterval: also sync after this many unsynced bytes; 0: only on Sync
	IndexIntervalBytes int   // one offset/time index entry per this many bytes; default 4096
	MaxBatchBytes      int   // largest encoded batch accepted; default 8 MiB
	Now                func() time.Time
}

// Stats is a snapshot of a log.
type Stats struct {
	EarliestOffset int64
	HighWatermark  int64
	Bytes          int64
	Segments       int
}

// Log is one partition's log. All methods are safe for concurrent use.
type Log struct{}

// Open opens or creates the log in dir, recovering it: a torn or corrupt tail
// is truncated to the last valid batch and indexes are rebuilt.
func Open(dir string, opts Options) (*Log, error) { panic("unimplemented") }

// Append writes recs as one RecordBatch and returns the offset of the first.
// It sets each recs[i].Offset (and Timestamp when 0). When it returns nil,
// the batch is durable as the FsyncPolicy promises.
func (l *Log) Append(recs []Record) (base int64, err error) { panic("unimplemented") }

// AppendBatch appends one encoded Kafka RecordBatch v2 (as a producer sent
// it): it checks the CRC, assigns offsets by rewriting the base offset, and
// returns the first offset. The caller may reuse batch after it returns.
func (l *Log) AppendBatch(batch []byte) (base int64, err error) { panic("unimplemented") }

// Read returns up to maxRecords records (and roughly maxBytes of record data,
// but always at least one record if any exists) starting at offset. offset ==
// HighWatermark returns no records and no error; outside [Earliest, HWM] is a
// *RangeError.
func (l *Log) Read(offset int64, maxRecords, maxBytes int) ([]Record, error) {
	panic("unimplemented")
}

// OffsetForTimestamp returns the first offset whose timestamp is >= ts, or
// the high watermark if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (int64, error) { panic("unimplemented") }

// EarliestOffset is the first offset still held.
func (l *Log) EarliestOffset() int64 { panic("unimplemented") }

// HighWatermark is the offset the next appended record will get.
func (l *Log) HighWatermark() int64 { panic("unimplemented") }

// Changed returns a channel that is closed at the next append (or Close).
// Long-polls wait on it: take the channel, check HighWatermark, then wait.
func (l *Log) Changed() <-chan struct{} { panic("unimplemented") }

// Wait blocks until HighWatermark > offset, ctx is done, or the log closes.
func (l *Log) Wait(ctx context.Context, offset int64) error { panic("unimplemented") }

// Sync forces every appended byte to disk.
func (l *Log) Sync() error { panic("unimplemented") }

// EnforceRetention deletes whole segments past RetentionAge/RetentionBytes
// (never the active one) and rolls the active segment if it is older than
// SegmentAge. It returns how many segments it deleted.
func (l *Log) EnforceRetention() (deleted int, err error) { panic("unimplemented") }

// Stats returns a snapshot.
func (l *Log) Stats() Stats { panic("unimplemented") }

// Close syncs and closes the files. Further calls return ErrClosed.
func (l *Log) Close() error { panic("unimplemented") }
