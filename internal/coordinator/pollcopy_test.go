package coordinator

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// What an answer carries of a compressed batch is its own: a JSON
// answer's records and a stored answer's slices do not alias the
// batch's decompressed records, which an answer kept whole for one
// message of them (up to 128 MiB), beyond the poll's charge for them.
// Scribbling over those records after the answer is made changes nothing
// of it. An uncompressed batch's are served as stored, uncopied.
func TestAnswersOwnCompressedRecords(t *testing.T) {
	for _, c := range []recordbatch.Codec{recordbatch.Zstd, recordbatch.None} {
		t.Run(c.String(), func(t *testing.T) {
			b := testBatch(t, 10, 8, 100, c)
			var sink recordSink
			tp := delivery.TP{Topic: "t"}
			sink.add(tp, b, 13, 1)
			sl := b.slice(2, 4) // offsets 12..14
			want := bytes.Clone(sl.Body)
			if b.compressed() != (c != recordbatch.None) {
				t.Fatalf("compressed() = %v for %v", b.compressed(), c)
			}
			if !b.compressed() {
				return // as stored: nothing to scribble over
			}
			for i := range b.data {
				b.data[i] = 0xff
			}
			if v := sink.out[0].Record.Value; !bytes.HasPrefix(v, fmt.Append(nil, "v13")) {
				t.Errorf("JSON answer's record after its batch's records changed: %.8q", v)
			}
			if !bytes.Equal(sl.Body, want) {
				t.Errorf("stored answer's slice changed with its batch's records")
			}
		})
	}
}
