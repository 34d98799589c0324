package kafka

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// gzipBatch is a gzip batch of values, stamped now.
func gzipBatch(t *testing.T, values ...[]byte) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, len(values))
	for i, v := range values {
		recs[i].Value = v
	}
	h := recordbatch.NewHeader(0)
	h.FirstTimestamp = time.Now().UnixMilli()
	h.MaxTimestamp = h.FirstTimestamp
	b, err := recordbatch.Build(nil, h, recordbatch.Gzip, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonBatch is a gzip batch of about 30 MiB of repetitive JSON events,
// compressed to under 1 MiB (the default max_message_bytes).
func jsonBatch(t *testing.T) []byte {
	t.Helper()
	pad := strings.Repeat("lorem ipsum ", 70)
	values := make([][]byte, 30_000)
	for i := range values {
		values[i] = fmt.Appendf(nil, `{"id":%d,"user":"user-%d","event":"page_view","path":"/products/%d","note":%q}`, i, i%97, i%1013, pad)
	}
	b := gzipBatch(t, values...)
	if len(b) > 1<<20 {
		t.Fatalf("the JSON batch compressed to %d bytes", len(b))
	}
	return b
}

// produceCode sends batch to partition 0 of topic "t" over c with Produce
// v7 and returns the partition's error code.
func produceCode(t *testing.T, c net.Conn, corr int32, batch []byte) int16 {
	t.Helper()
	if _, err := c.Write(produceFrame(corr, 1, target{"t", 0, batch})); err != nil {
		t.Fatal(err)
	}
	got, body, err := readAnswer(c)
	if err != nil || got != corr {
		t.Fatalf("answer %d: %v", got, err)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(7)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// A legitimate batch that compresses well (30 MiB of JSON in under
// 1 MiB) is taken, and so is one record as large as the topic allows.
func TestProduceTakesHighlyCompressedBatch(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := produceCode(t, c, 1, jsonBatch(t)); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	if code := produceCode(t, c, 2, gzipBatch(t, make([]byte, 1<<20))); code != 0 {
		t.Fatalf("a record of max_message_bytes: %v", kerr.ErrorForCode(code))
	}
}

// A compressed batch may decompress to twice the topic's
// max_message_bytes a record, no more: the colleague's bomb, one record
// of 512 MiB of zeros gzipped to 510 KB, was decompressed to the log's
// 128 MiB before it was refused (and one just under it was stored, and
// paid again by every read that decodes it). Now it stops at 2 MiB
// (1 MiB messages) and is MESSAGE_TOO_LARGE.
func TestProduceBombStopsAtTheTopicsLimit(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bomb := gzipBatch(t, make([]byte, 64<<20))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code := produceCode(t, c, 1, bomb)
	runtime.ReadMemStats(&after)
	if code != kerr.MessageTooLarge.Code {
		t.Errorf("bomb: %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(code))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("the bomb's produce allocated %d bytes", got)
	}
	if code := produceCode(t, c, 2, gzipBatch(t, make([]byte, 2<<20+1))); code != kerr.MessageTooLarge.Code {
		t.Errorf("a record of twice max_message_bytes: %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(code))
	}
}

// The decompressed data of batches being checked is bounded over the
// broker (MaxDecompressBytes), charged as it grows: a gzip bomb (64
// records of 1 MiB of zeros in 64 KiB) costs the broker the budget, not
// what it claims,
// and a batch that needs more than the budget has left is refused with
// REQUEST_TIMED_OUT, which Kafka clients retry. Without the budget each
// such request decompressed up to 128 MiB (a bytes.Buffer doubling to
// 256 MiB past it): one took the broker from 42 MB to 568 MB.
func TestProduceDecompressionIsBounded(t *testing.T) {
	const budget = 4 << 20
	s := serveFresh(t, func(c *broker.Config) { c.MaxDecompressBytes = budget }, Options{}, nil)
	defer s.stop(t)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	zeros := make([]byte, 1<<20)
	values := make([][]byte, 64)
	for i := range values {
		values[i] = zeros
	}
	bomb := gzipBatch(t, values...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code := produceCode(t, c, 1, bomb)
	runtime.ReadMemStats(&after)
	if code != kerr.RequestTimedOut.Code || !kerr.IsRetriable(kerr.ErrorForCode(code)) {
		t.Errorf("bomb: %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(code))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*budget {
		t.Errorf("the bomb's produce allocated %d bytes; the budget is %d", got, budget)
	}

	if code := produceCode(t, c, 2, jsonBatch(t)); code != kerr.RequestTimedOut.Code {
		t.Errorf("a batch larger than the budget: %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(code))
	}
	// What the refused checks took was given back: a batch that fits in
	// the budget twice over (no other holds any of it) is taken.
	small := gzipBatch(t, []byte(strings.Repeat("x", budget/2-1024)))
	if code := produceCode(t, c, 3, small); code != 0 {
		t.Errorf("a batch within the budget: %v", kerr.ErrorForCode(code))
	}
}

// librdkafkaZstdBatch is the batch confluent-kafka (librdkafka 2.0.2) sent
// for one record of 70,000 bytes "A" with compression.type zstd: its zstd
// frame says no content size, declares a 2 MiB window, and its one block
// decodes to 70,011 bytes.
var librdkafkaZstdBatch = []byte{
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4e, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x26, 0xb3, 0x0c, 0xac, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xa2, 0x4b,
	0xaa, 0x4c, 0xe5, 0x00, 0x00, 0x01, 0xa2, 0x4b, 0xaa, 0x4c, 0xe5, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
	0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0xa5, 0x00, 0x00, 0x60, 0xf0, 0xc5, 0x08, 0x00, 0x00,
	0x00, 0x01, 0xe0, 0xc5, 0x08, 0x41, 0x00, 0x01, 0x00, 0x6c, 0x11, 0x39, 0xf0, 0x02,
}

// librdkafka's zstd batches are taken: they were refused CORRUPT_MESSAGE
// once a record passed 64 KiB (its block outgrew the first room the
// check decoded into), and MESSAGE_TOO_LARGE whatever their size on a
// topic of messages under 1 MiB (the 2 MiB window the frame declares was
// held to the check's limit).
func TestProduceTakesLibrdkafkaZstd(t *testing.T) {
	for _, maxMessage := range []int32{1 << 20, 100_000} {
		s := serveFresh(t, func(c *broker.Config) {
			c.MaxMessageBytes = maxMessage
			c.TimestampAfterMax = 0 // the batch is stamped when it was captured
		}, Options{}, nil)
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		code := produceCode(t, c, 1, librdkafkaZstdBatch)
		c.Close()
		s.stop(t)
		if code != 0 {
			t.Fatalf("max_message_bytes %d: %v", maxMessage, kerr.ErrorForCode(code))
		}
	}
}
