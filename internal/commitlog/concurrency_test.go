package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// TestConcurrentUse runs appenders, readers, a long-poller and retention at
// once on tiny segments (run it with -race). Readers check that offsets are
// contiguous and that each writer's records appear in the order it wrote them.
func TestConcurrentUse(t *testing.T) {
	for _, p := range []FsyncPolicy{FsyncNever, FsyncAlways} {
		t.Run(p.String(), func(t *testing.T) {
			// A cache of one file: reads, rolls, fsyncs and retention race on evictions.
			l := openT(t, t.TempDir(), Options{Fsync: p, SegmentBytes: 2000, RetentionBytes: 6000, IndexIntervalBytes: 256, Files: NewFileCache(1)})
			const writers, perWriter = 3, 300
			var wg sync.WaitGroup
			ctx, stop := context.WithCancel(context.Background()) // stops readers once writers are done
			defer stop()
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						v := binary.BigEndian.AppendUint32([]byte{byte(w)}, uint32(i))
						if _, err := l.Append([]Record{{Value: v}, {Value: v}}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			var readers sync.WaitGroup
			for range 2 {
				readers.Go(func() {
					last := map[byte]int64{}
					off := int64(0)
					for {
						select {
						case <-ctx.Done():
							return
						default:
						}
						recs, err := l.Read(off, 50, 4096)
						var re *RangeError
						if errors.As(err, &re) {
							off = re.Earliest // retention passed us
							clear(last)
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						for i, r := range recs {
							if r.Offset != off+int64(i) {
								t.Errorf("offset %d at index %d of a read from %d", r.Offset, i, off)
								return
							}
							w, seq := r.Value[0], int64(binary.BigEndian.Uint32(r.Value[1:]))
							if prev, ok := last[w]; ok && seq < prev {
								t.Errorf("writer %d: seq %d after %d", w, seq, prev)
								return
							}
							last[w] = seq
						}
						off += int64(len(recs))
						if len(recs) == 0 {
							l.Wait(ctx, off) // a long-poll: returns at the next append or at stop
						}
					}
				})
			}
			readers.Go(func() {
				for {
					select {
					case <-ctx.Done():
						return
					default:
					}
					if _, err := l.EnforceRetention(); err != nil {
						t.Error(err)
						return
					}
					if _, err := l.OffsetForTimestamp(0); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Wait()
			stop()
			readers.Wait()
			if hwm := l.HighWatermark(); hwm != writers*perWriter*2 {
				t.Fatalf("hwm = %d", hwm)
			}
			verifyLog(t, l)
		})
	}
}

// TestHeldConcurrentUse is a replicated partition's log under load (run it
// with -race): a writer appends batches, voids every third before it
// releases it, and now and then cuts the unreleased tail, while readers,
// a long-poller and retention run. No reader may see a record that was
// never released or that was voided: each batch's value says which it is.
func TestHeldConcurrentUse(t *testing.T) {
	for _, p := range []FsyncPolicy{FsyncNever, FsyncAlways} {
		t.Run(p.String(), func(t *testing.T) {
			l := openT(t, t.TempDir(), Options{Fsync: p, Held: true, SegmentBytes: 2000, RetentionBytes: 6000, IndexIntervalBytes: 256, Files: NewFileCache(1)})
			const batches = 600
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			var wg sync.WaitGroup
			wg.Go(func() {
				defer stop()
				for i := range batches {
					// "c": to be cut; "v": to be voided; "r": to be read.
					kind := []byte("r")
					switch {
					case i%7 == 3:
						kind = []byte("c")
					case i%3 == 0:
						kind = []byte("v")
					}
					base, err := l.Append([]Record{{Value: kind}, {Value: kind}})
					if err == nil && kind[0] == 'c' {
						err = l.TruncateTo(base)
					}
					if err == nil && kind[0] == 'v' {
						err = l.Void(base)
					}
					if err == nil && kind[0] != 'c' {
						err = l.Release(base + 2)
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
			for range 2 {
				wg.Go(func() {
					off := int64(0)
					for ctx.Err() == nil {
						recs, err := l.Read(off, 50, 4096)
						var re *RangeError
						if errors.As(err, &re) {
							off = re.Earliest // retention passed us
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						for _, r := range recs {
							if string(r.Value) != "r" {
								t.Errorf("read a %q record at %d", r.Value, r.Offset)
								return
							}
						}
						raw, err := l.ReadBatches(off, 4096, nil)
						if err != nil && !errors.As(err, &re) {
							t.Error(err)
							return
						}
						if hwm := l.HighWatermark(); len(raw) > 0 && recordbatch.BaseOffset(raw) >= hwm {
							t.Errorf("a raw read at %d past the high watermark %d", recordbatch.BaseOffset(raw), hwm)
							return
						}
						switch {
						case len(recs) > 0:
							off = recs[len(recs)-1].Offset + 1
						default:
							if to, ok := l.Skipped(off); ok {
								off = to
							} else {
								l.Wait(ctx, off)
							}
						}
					}
				})
			}
			wg.Go(func() {
				for ctx.Err() == nil {
					if _, err := l.EnforceRetention(); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Wait()
			if got := l.HighWatermark(); got != l.NextOffset() {
				t.Fatalf("hwm %d, next %d", got, l.NextOffset())
			}
			verifyLog(t, l)
		})
	}
}
