package commitlog

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// The shapes: 100-byte messages appended one per batch or 1,000 per batch.
var benchBatches = []int{1, 1000}

func benchRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i].Value = make([]byte, 100)
		recs[i].Timestamp = 1_700_000_000_000
	}
	return recs
}

func reportMsgs(b *testing.B, msgs int) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkAppend measures Append per fsync policy and batch size; the
// always/4writers shapes show group commit sharing fsyncs.
func BenchmarkAppend(b *testing.B) {
	for _, p := range []FsyncPolicy{FsyncNever, FsyncInterval, FsyncAlways} {
		for _, n := range benchBatches {
			for _, writers := range []int{1, 4} {
				if writers > 1 && p != FsyncAlways {
					continue
				}
				b.Run(fmt.Sprintf("fsync=%s/batch=%d/writers=%d", p, n, writers), func(b *testing.B) {
					l, err := Open(b.TempDir(), Options{Fsync: p, FsyncBytes: 1 << 20})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					b.SetBytes(int64(n * 100))
					b.ReportAllocs()
					if writers == 1 {
						recs := benchRecords(n)
						for b.Loop() {
							if _, err := l.Append(recs); err != nil {
								b.Fatal(err)
							}
						}
						reportMsgs(b, b.N*n)
						return
					}
					b.SetParallelism(writers) // GOMAXPROCS*writers goroutines
					b.RunParallel(func(pb *testing.PB) {
						recs := benchRecords(n)
						for pb.Next() {
							if _, err := l.Append(recs); err != nil {
								b.Error(err)
								return
							}
						}
					})
					reportMsgs(b, b.N*n)
				})
			}
		}
	}
}

// BenchmarkBaselineWrite writes the same encoded batches with plain
// os.File.Write, and with an fdatasync per batch (the comparison for
// fsync=always with one writer).
func BenchmarkBaselineWrite(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, n := range benchBatches {
			b.Run(fmt.Sprintf("fdatasync=%v/batch=%d", sync, n), func(b *testing.B) {
				var e encoder
				batch, _ := e.encode(0, benchRecords(n))
				f, err := os.Create(filepath.Join(b.TempDir(), "baseline"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				b.SetBytes(int64(n * 100))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.Write(batch); err != nil {
						b.Fatal(err)
					}
					if sync {
						if err := datasync(f); err != nil {
							b.Fatal(err)
						}
					}
				}
				reportMsgs(b, b.N*n)
			})
		}
	}
}

// benchLog is a log of 200,000 100-byte messages per batch shape, written
// once per benchmark process and shared by the read benchmarks.
type benchLog struct {
	once sync.Once
	dir  string
	err  error
}

func (bl *benchLog) open(b *testing.B, n int) *Log {
	bl.once.Do(func() {
		bl.dir, bl.err = os.MkdirTemp("", "commitlog-bench")
		if bl.err != nil {
			return
		}
		l, err := Open(bl.dir, Options{Fsync: FsyncNever})
		if err != nil {
			bl.err = err
			return
		}
		recs := benchRecords(n)
		for range benchReadMsgs / n {
			if _, err := l.Append(recs); err != nil {
				bl.err = err
				break
			}
		}
		if err := l.Close(); bl.err == nil {
			bl.err = err
		}
	})
	if bl.err != nil {
		b.Fatal(bl.err)
	}
	l, err := Open(bl.dir, Options{Fsync: FsyncNever})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

const benchReadMsgs = 200_000

// BenchmarkRead reads the log from start to end, 1,000 records per Read,
// wrapping around; logs of single-record and 1,000-record batches.
func BenchmarkRead(b *testing.B) {
	logs := map[int]*benchLog{}
	for _, n := range benchBatches {
		logs[n] = &benchLog{}
	}
	b.Cleanup(func() {
		for _, bl := range logs {
			os.RemoveAll(bl.dir)
		}
	})
	for _, n := range benchBatches {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			l := logs[n].open(b, n)
			defer l.Close()
			b.SetBytes(1000 * 100)
			b.ReportAllocs()
			off := int64(0)
			for b.Loop() {
				recs, err := l.Read(off, 1000, 1<<20)
				if err != nil || len(recs) != 1000 {
					b.Fatalf("Read(%d) = %d records, %v", off, len(recs), err)
				}
				if off += 1000; off >= benchReadMsgs {
					off = 0
				}
			}
			reportMsgs(b, b.N*1000)
		})
		b.Run(fmt.Sprintf("baseline-pread/batch=%d", n), func(b *testing.B) {
			l := logs[n].open(b, n)
			st := l.Stats()
			l.Close()
			f, err := os.Open(segmentPath(logs[n].dir, 0, logSuffix))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			chunk := make([]byte, st.Bytes*1000/benchReadMsgs) // the bytes of 1,000 messages
			b.SetBytes(1000 * 100)
			b.ReportAllocs()
			pos := int64(0)
			for b.Loop() {
				if _, err := f.ReadAt(chunk, pos); err != nil {
					b.Fatal(err)
				}
				if pos += int64(len(chunk)); pos+int64(len(chunk)) > st.Bytes {
					pos = 0
				}
			}
			reportMsgs(b, b.N*1000)
		})
	}
}
