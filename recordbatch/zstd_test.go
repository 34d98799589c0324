package recordbatch

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// librdkafkaZstd is the records of a batch as librdkafka 2.0.2
// (confluent-kafka) compressed them: one record whose value is 70,000
// bytes "A", in a zstd frame that does not say its content size, whose
// one block decodes to 70,011 bytes.
var librdkafkaZstd = []byte{
	0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0xa5, 0x00, 0x00, 0x60, 0xf0, 0xc5, 0x08, 0x00, 0x00,
	0x00, 0x01, 0xe0, 0xc5, 0x08, 0x41, 0x00, 0x01, 0x00, 0x6c, 0x11, 0x39, 0xf0, 0x02,
}

// A zstd frame that does not say its content size decodes whatever the
// room its decode starts with: a block that does not fit in the room
// left (the decoder says so as it would of a corrupt block) is decoded
// again in more, as a frame that outgrows its room between blocks is,
// and past limit the frame is too large, not corrupt. A librdkafka batch
// of one 70,000-byte record was refused as corrupt: its first room,
// 64 KiB, was shorter than its block. The 2 MiB window the frame
// declares is no reason to refuse it in a smaller limit.
func TestZstdBlockLongerThanTheFirstRoom(t *testing.T) {
	want := bytes.Repeat([]byte("A"), 70_000)
	streamed := func() []byte { // klauspost's streaming writer: no content size either
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(bytes.Repeat([]byte("B"), 300_000))
		zw.Close()
		return buf.Bytes()
	}()
	for _, tc := range []struct {
		name string
		src  []byte
		n    int
	}{
		{"librdkafka", librdkafkaZstd, 70_011},
		{"streamed", streamed, 300_000},
	} {
		for _, limit := range []int{128 << 10, 2 << 20, 128 << 20} {
			out, err := Decompress(nil, Zstd, tc.src, limit)
			if limit < tc.n {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("%s, limit %d: %v; want ErrTooLarge", tc.name, limit, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s, limit %d: %v", tc.name, limit, err)
			}
			if len(out) != tc.n || tc.name == "librdkafka" && !bytes.Contains(out, want) {
				t.Fatalf("%s, limit %d: %d bytes out, want %d", tc.name, limit, len(out), tc.n)
			}
		}
	}
}
