package recordbatch

import (
	"fmt"
	"testing"
)

// Benchmarks of the hot paths per batch shape: building an uncompressed
// batch in a reused buffer, validating it, and walking its records. ns/op
// is per batch.
func BenchmarkCodec(b *testing.B) {
	hs := []RecordHeader{{Key: "trace", Value: []byte("abc")}}
	for _, n := range []int{1, 100, 1000} {
		buf := make([]byte, 0, n*200)
		var bl Builder
		build := func() []byte {
			bl.Reset(buf[:0])
			for i := range n {
				bl.Add(0, int64(1000+i), nil, make100, hs)
			}
			return bl.Finish(NewHeader(0))
		}
		batch := append([]byte(nil), build()...)
		b.Run(fmt.Sprintf("build/records=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				build()
			}
		})
		b.Run(fmt.Sprintf("validate/records=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch, 1<<30); err != nil {
					b.Fatal(err)
				}
			}
		})
		// kgo, the Java client and librdkafka compress by default; the
		// broker checks every such batch before storing it.
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{TimestampDelta: int64(i), Value: make100, Headers: hs}
		}
		snappy, err := Build(nil, NewHeader(0), Snappy, recs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("validate-snappy/records=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(snappy, 1<<30); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("iter/records=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				it, _ := NewIter(batch, 1<<30)
				var v View
				for it.Next(&v) {
				}
			}
		})
	}
}
