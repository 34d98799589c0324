package commitlog

import (
	"fmt"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// AppendBatches appends encoded batches stored back to back, each checked
// and given offsets as AppendBatch does, and returns the first one's base
// offset. All are checked before any is written, so a malformed one
// (ErrCorrupt, ErrUnsupported, ErrBatchTooLarge) leaves the log as it was.
// It waits for durability once, after the last batch: a replica copying
// another's log (thousands of small batches under FsyncAlways) pays one
// fsync per call instead of one per batch.
func (l *Log) AppendBatches(batches []byte) (base int64, err error) {
	base, _, end, err := l.WriteBatches(batches)
	if err != nil {
		return 0, err
	}
	return base, l.afterWrite(end)
}

// WriteBatches is AppendBatches without its wait for durability (see
// WriteBatch): it returns the offsets the batches took, [base, next), and
// the log's size after them, for Durable. A replicated partition writes a
// Raft entry's batches so when Raft persists it, and syncs the log before
// Raft promises the entry.
func (l *Log) WriteBatches(batches []byte) (base, next, end int64, err error) {
	var checked []Checked
	for rest := batches; len(rest) > 0; {
		n, ok := recordbatch.Len(rest)
		if !ok || n > len(rest) {
			return 0, 0, 0, fmt.Errorf("commitlog: append batches: %w: torn batch", ErrCorrupt)
		}
		c, err := l.checkBatch(rest[:n])
		if err != nil {
			return 0, 0, 0, err
		}
		checked = append(checked, c)
		rest = rest[n:]
	}
	if len(checked) == 0 {
		return 0, 0, 0, ErrEmpty
	}
	for i := range checked {
		b, e, err := l.write(checked[i].b, checked[i].info)
		if err != nil {
			return 0, 0, 0, err
		}
		if i == 0 {
			base = b
		}
		next, end = b+int64(checked[i].NumRecords()), e
	}
	return base, next, end, nil
}
