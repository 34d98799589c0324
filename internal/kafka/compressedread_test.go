package kafka_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Batches Kafka producers compressed are read back over HTTP, by a fetch
// and by a group's poll, on a broker whose decompression budget
// (--max-decompress-bytes) is small but fits each batch (kgo's LZ4 frames
// declare 4 MiB blocks: 8 MiB of the budget while one is decoded): the
// reads take their share of it and give it back, so read after read
// succeeds.
func TestCompressedBatchesReadOverHTTPWithinTheBudget(t *testing.T) {
	p := start(t, "--max-decompress-bytes", "9MiB")
	for _, codec := range []struct {
		name string
		c    kgo.CompressionCodec
	}{{"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		t.Run(codec.name, func(t *testing.T) {
			topic := "c-" + codec.name
			cl := p.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec.c), kgo.ProducerLinger(0))
			createTopic(t, cl, topic, 1)
			var recs []*kgo.Record
			for i := range 20 {
				recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "m%02d-%s", i, strings.Repeat("x", 8<<10))})
			}
			if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				code, body := httpDo(t, p, http.MethodGet, fmt.Sprintf("/topics/%s/partitions/0/messages?offset=%d&max=1", topic, 3*i), "")
				if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"value":"m%02d-`, 3*i)) {
					t.Fatalf("GET offset %d: %d %.200s", 3*i, code, body)
				}
			}
			code, body := httpDo(t, p, http.MethodPost, "/groups/g-"+codec.name+"/join", `{"member_id":"w","topics":["`+topic+`"]}`)
			if code != http.StatusOK {
				t.Fatalf("join: %d %s", code, body)
			}
			got := 0
			for round := 0; got < 20 && round < 20; round++ {
				code, body = httpDo(t, p, http.MethodPost, "/groups/g-"+codec.name+"/poll", `{"member_id":"w","generation":1,"max_messages":7}`)
				if code != http.StatusOK {
					t.Fatalf("poll: %d %.200s", code, body)
				}
				got += strings.Count(body, `"value":"m`)
			}
			if got != 20 {
				t.Fatalf("polled %d messages of 20", got)
			}
		})
	}
}
