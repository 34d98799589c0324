package kafka_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// createTopic creates a topic through Kafka's CreateTopics.
func createTopic(t testing.TB, cl *kgo.Client, name string, partitions int32) [16]byte {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return resp.Topics[0].TopicID
}

// consumeAll reads n records from the start of topic without a group.
func consumeAll(t *testing.T, p *proc, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := p.client(t, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx := ctxT(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// An idempotent kgo producer (its defaults: snappy, acks all) and a kgo
// consumer, across every compression codec: every record comes back in
// order per partition with its key, value, headers and timestamp.
func TestKgoProduceConsumeEveryCodec(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	codecs := map[string]kgo.CompressionCodec{
		"default": kgo.SnappyCompression(), "none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "orders-" + name
			createTopic(t, admin, topic, 3)
			opts := []kgo.Opt{kgo.DefaultProduceTopic(topic)}
			if name != "default" {
				opts = append(opts, kgo.ProducerBatchCompression(codec))
			}
			prod := p.client(t, opts...)
			const n = 600
			ts := time.UnixMilli(1_700_000_000_000)
			for i := range n {
				r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "value %d %s", i, name),
					Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}}, Timestamp: ts.Add(time.Duration(i) * time.Millisecond)}
				prod.Produce(ctxT(t), r, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := prod.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			// kgo sends a batch uncompressed when compressing does not
			// shrink it (a small first batch), so some may have codec 0.
			want := map[string]int8{"none": 0, "gzip": 1, "default": 2, "lz4": 3, "zstd": 4}[name]
			if got := storedCodecs(t, prod, topic); !got[want] || len(got) > 2 || (len(got) == 2 && !got[0]) {
				t.Fatalf("stored batches have codecs %v, want %d (and perhaps 0): not stored as sent", got, want)
			}
			recs := consumeAll(t, p, topic, n)
			if len(recs) != n {
				t.Fatalf("consumed %d records, want %d", len(recs), n)
			}
			next := map[int32]int64{}
			lastI := map[string]int{}
			for _, r := range recs {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				var i int
				fmt.Sscanf(string(r.Headers[0].Value), "%d", &i)
				if string(r.Value) != fmt.Sprintf("value %d %s", i, name) || string(r.Key) != fmt.Sprintf("k%d", i%7) ||
					!r.Timestamp.Equal(ts.Add(time.Duration(i)*time.Millisecond)) {
					t.Fatalf("record %+v", r)
				}
				if prev, ok := lastI[string(r.Key)]; ok && prev >= i {
					t.Fatalf("key %s: record %d after %d", r.Key, i, prev)
				}
				lastI[string(r.Key)] = i
			}
		})
	}
}

// A consumer waiting at the end of a partition gets a record appended
// afterwards at once (the long poll is woken, not timed out).
func TestFetchLongPollWokenByAppend(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("events"), kgo.FetchMaxWait(20*time.Second),
		kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	createTopic(t, cl, "events", 1)
	polled := make(chan []*kgo.Record, 1)
	go func() {
		polled <- cl.PollFetches(ctxT(t)).Records()
	}()
	time.Sleep(500 * time.Millisecond) // let the fetch reach the broker and wait
	began := time.Now()
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	recs := <-polled
	if len(recs) != 1 || string(recs[0].Value) != "wake" {
		t.Fatalf("polled %v", recs)
	}
	if waited := time.Since(began); waited > 15*time.Second {
		t.Fatalf("the append did not wake the fetch: %v", waited)
	}
}

// produceRaw sends one idempotent batch with the given sequence.
func produceRaw(t *testing.T, cl *kgo.Client, topic string, pid int64, epoch int16, seq int32, values ...string) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = rawBatch(pid, epoch, seq, values...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	return sp.BaseOffset, sp.ErrorCode
}

// rawBatch is a RecordBatch v2 of values from producer pid (-1: none) at
// epoch, its first record of sequence seq.
func rawBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	return codecBatch(false, pid, epoch, seq, values...)
}

// codecBatch is rawBatch, its records compressed with snappy if snappy (as
// kgo compresses them by default).
func codecBatch(snappy bool, pid int64, epoch int16, seq int32, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // a one-byte length varint for these small records
		recs = r.AppendTo(recs)
	}
	var attrs int16
	if snappy {
		attrs, recs = 2, s2.EncodeSnappy(nil, recs)
	}
	batch := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs, LastOffsetDelta: int32(len(values) - 1),
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: int32(len(values)), Records: recs,
		FirstTimestamp: 1, MaxTimestamp: 1}
	raw := batch.AppendTo(nil)
	fixBatch(raw)
	return raw
}

// An idempotent producer's retried batch is answered with its first offset
// and not written again; a gap in its sequences is refused; an old epoch is
// fenced.
func TestIdempotentSequences(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "pay", 1)
	init := kmsg.NewPtrInitProducerIDRequest()
	ip, err := init.RequestWith(ctxT(t), cl)
	if err != nil || ip.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, ip)
	}
	pid := ip.ProducerID
	steps := []struct {
		name       string
		epoch      int16
		seq        int32
		values     []string
		wantOffset int64
		wantCode   int16
	}{
		{"first", 0, 0, []string{"a", "b"}, 0, 0},
		{"second", 0, 2, []string{"c"}, 2, 0},
		{"retry of first", 0, 0, []string{"a", "b"}, 0, 0},
		{"retry of second", 0, 2, []string{"c"}, 2, 0},
		{"gap", 0, 5, []string{"x"}, -1, kerr.OutOfOrderSequenceNumber.Code},
		{"next", 0, 3, []string{"d"}, 3, 0},
		{"new epoch restarts", 1, 0, []string{"e"}, 4, 0},
		{"old epoch fenced", 0, 4, []string{"f"}, -1, kerr.InvalidProducerEpoch.Code},
	}
	for _, s := range steps {
		off, code := produceRaw(t, cl, "pay", pid, s.epoch, s.seq, s.values...)
		if code != s.wantCode || (code == 0 && off != s.wantOffset) {
			t.Fatalf("%s: offset %d code %d, want offset %d code %d", s.name, off, code, s.wantOffset, s.wantCode)
		}
	}
	recs := consumeAll(t, p, "pay", 5)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[a b c d e]" {
		t.Fatalf("log holds %v, want [a b c d e]", got)
	}
}

// The sequences of idempotent producers are rebuilt from the log when the
// broker comes back: a batch retried across a restart is still answered
// with its first offset and not written again, a gap is still refused, an
// old epoch still fenced, and the producers go on where they were. Two
// producers share the partition, and HTTP messages without a producer sit
// between their batches.
func TestIdempotentSequencesSurviveRestart(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "pay", 1)
	pids := make([]int64, 2)
	for i := range pids {
		ip, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t), cl)
		if err != nil || ip.ErrorCode != 0 {
			t.Fatalf("init producer id: %v %v", err, ip)
		}
		pids[i] = ip.ProducerID
	}
	type step struct {
		name       string
		pid        int64
		epoch      int16
		seq        int32
		values     []string
		wantOffset int64
		wantCode   int16
	}
	run := func(cl *kgo.Client, steps []step) {
		t.Helper()
		for _, s := range steps {
			off, code := produceRaw(t, cl, "pay", s.pid, s.epoch, s.seq, s.values...)
			if code != s.wantCode || (code == 0 && off != s.wantOffset) {
				t.Fatalf("%s: offset %d code %d, want offset %d code %d", s.name, off, code, s.wantOffset, s.wantCode)
			}
		}
	}
	run(cl, []step{
		{"p0 first", pids[0], 0, 0, []string{"a", "b"}, 0, 0},
		{"p1 first", pids[1], 0, 0, []string{"c"}, 2, 0},
		{"p0 second", pids[0], 0, 2, []string{"d"}, 3, 0},
		{"p1 new epoch", pids[1], 1, 0, []string{"e"}, 4, 0},
	})
	if st, body := httpDo(t, p, "POST", "/topics/pay/messages", `{"value":"http"}`); st != 201 && st != 200 {
		t.Fatalf("publish over HTTP: %d %s", st, body)
	}
	cl.Close()
	p.Restart()
	cl = p.client(t)
	run(cl, []step{
		{"p0 retry of second", pids[0], 0, 2, []string{"d"}, 3, 0},
		{"p0 retry of first", pids[0], 0, 0, []string{"a", "b"}, 0, 0},
		{"p1 retry", pids[1], 1, 0, []string{"e"}, 4, 0},
		{"p0 gap", pids[0], 0, 5, []string{"x"}, -1, kerr.OutOfOrderSequenceNumber.Code},
		{"p1 old epoch fenced", pids[1], 0, 1, []string{"x"}, -1, kerr.InvalidProducerEpoch.Code},
		{"p0 next", pids[0], 0, 3, []string{"f"}, 6, 0},
		{"p1 next", pids[1], 1, 1, []string{"g"}, 7, 0},
	})
	var got []string
	for _, r := range consumeAll(t, p, "pay", 8) {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[a b c d e http f g]" {
		t.Fatalf("log holds %v, want [a b c d e http f g]", got)
	}
}

// storedCodecs fetches topic's 3 partitions raw and returns the set of
// compression codecs of the batches served (and so stored).
func storedCodecs(t *testing.T, cl *kgo.Client, topic string) map[int8]bool {
	t.Helper()
	codecs := map[int8]bool{}
	for _, h := range storedBatches(t, cl, topic, 3) {
		codecs[int8(h.Compression())] = true
	}
	if len(codecs) == 0 {
		t.Fatalf("fetch of %s returned no whole batch", topic)
	}
	return codecs
}

// storedBatches fetches the first partitions of topic raw and returns the
// headers of the whole batches served, each checked (CRC-32C included),
// partition by partition.
func storedBatches(t *testing.T, cl *kgo.Client, topic string, partitions int32) []recordbatch.Header {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.MinBytes = 1<<20, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, metadataTopic(t, cl, topic).TopicID // kgo picks the version: v13+ names topics by ID
	for p := range partitions {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	var hs []recordbatch.Header
	for _, sp := range resp.Topics[0].Partitions {
		if sp.ErrorCode != 0 {
			t.Fatalf("fetch %s/%d: code %d", topic, sp.Partition, sp.ErrorCode)
		}
		for b := sp.RecordBatches; len(b) > 0; {
			n, ok := recordbatch.Len(b)
			if !ok || n > len(b) {
				break // a fetch may end inside a batch
			}
			h, err := recordbatch.CheckFrame(b[:n])
			if err != nil {
				t.Fatalf("fetch %s/%d: %v", topic, sp.Partition, err)
			}
			hs = append(hs, h)
			b = b[n:]
		}
	}
	return hs
}

// acks 0 (no answer at all), 1 and -1 all store the records; a topic under
// fsync=always answers acks -1 once its batch is durable.
func TestProduceAcks(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createAlwaysTopic(t, admin, "acks", 1)
	for _, acks := range []kgo.Acks{kgo.NoAck(), kgo.LeaderAck(), kgo.AllISRAcks()} {
		cl := p.client(t, kgo.DefaultProduceTopic("acks"), kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite())
		for range 50 {
			cl.Produce(ctxT(t), &kgo.Record{Value: []byte("v")}, nil)
		}
		if err := cl.Flush(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	if recs := consumeAll(t, p, "acks", 150); len(recs) != 150 {
		t.Fatalf("consumed %d records, want 150", len(recs))
	}
}

// A record stamped beyond the broker's window (--timestamp-after-max, 1 h
// by default) is refused with INVALID_TIMESTAMP, as Kafka refuses it, and
// nothing of its batch is written; within the window it is taken. Kafka
// producers bypassed the window: a record a century ahead was stored and
// kept its segment from retention for good.
func TestProduceTimestampWindow(t *testing.T) {
	p := start(t)
	cl := p.client(t, kgo.DefaultProduceTopic("ts"), kgo.DisableIdempotentWrite())
	createTopic(t, cl, "ts", 1)
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{time.Now().Add(100 * 365 * 24 * time.Hour), kerr.InvalidTimestamp},
		{time.Now().Add(2 * time.Hour), kerr.InvalidTimestamp},
		{time.Now().Add(30 * time.Minute), nil},
		{time.UnixMilli(1), nil}, // no bound before the clock by default, as in Kafka
	} {
		err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("v"), Timestamp: tc.at}).FirstErr()
		if !errors.Is(err, tc.want) {
			t.Fatalf("record at %v: %v, want %v", tc.at, err, tc.want)
		}
	}
	if recs := consumeAll(t, p, "ts", 2); len(recs) != 2 || recs[0].Offset != 0 {
		t.Fatalf("stored %d records, want the 2 within the window at offsets 0 and 1", len(recs))
	}
}

// stampedBatch is a batch of one record per timestamp of ts after first
// (the deltas wrap as int64s do), with batch attributes attrs.
func stampedBatch(first int64, attrs int16, ts ...int64) []byte {
	var recs []byte
	for i, at := range ts {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: at - first, Value: []byte("v")}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // a one-byte length varint for these small records
		recs = r.AppendTo(recs)
	}
	batch := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs, ProducerID: -1, ProducerEpoch: -1,
		FirstSequence: -1, LastOffsetDelta: int32(len(ts) - 1), NumRecords: int32(len(ts)), Records: recs,
		FirstTimestamp: first, MaxTimestamp: first}
	raw := batch.AppendTo(nil)
	fixBatch(raw)
	return raw
}

// A Kafka batch's timestamps are bounded whatever their encoding: a delta
// that wraps int64 (first timestamp near -2^63, record a century ahead)
// passed a bound on the ends of the deltas; a batch claiming LogAppendTime
// carried a header timestamp no check read (consumers show it as every
// record's). -1, Kafka's "no timestamp", is taken with a bound before
// the clock set, as Kafka takes it.
func TestProduceTimestampEncodings(t *testing.T) {
	p := start(t, "--timestamp-before-max", "24h")
	cl := p.client(t)
	createTopic(t, cl, "enc", 1)
	now := time.Now().UnixMilli()
	century := int64(100 * 365 * 24 * time.Hour / time.Millisecond)
	first := int64(math.MinInt64 + 10)
	for _, tc := range []struct {
		name  string
		batch []byte
		want  int16
	}{
		// The deltas' ends are those of now and now-1; the records at
		// now+century and near -2^63 lie between them.
		{"wrapping deltas", stampedBatch(now+math.MinInt64, 0, now, now-1, now+century, first), kerr.InvalidTimestamp.Code},
		{"LogAppendTime", stampedBatch(now, 0x08, now), kerr.InvalidTimestamp.Code},
		{"no timestamp", stampedBatch(-1, 0, -1), 0},
		{"now", stampedBatch(now, 0, now, now+1), 0},
	} {
		req := produceTo("enc", []int32{0}, func(int32) []byte { return tc.batch })
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != tc.want {
			t.Fatalf("%s: code %d, want %d", tc.name, code, tc.want)
		}
	}
}

// A batch whose header claims a MaxTimestamp other than its records'
// largest is stored with the records' largest (and a CRC over it), as
// Kafka stores it: the claim was stored as sent, and a segment index
// rebuilt from headers then disagreed with the records.
func TestProduceMaxTimestampCorrected(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createTopic(t, cl, "maxts", 1)
	now := time.Now().UnixMilli()
	for _, claim := range []struct {
		batch []byte
		want  int64
	}{
		{stampedBatch(now, 0, now, now+5, now+2), now + 5}, // claims now
		{stampedBatch(-1, 0, -1), -1},                      // no timestamps: the claim holds
	} {
		req := produceTo("maxts", []int32{0}, func(int32) []byte { return claim.batch })
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: code %d", code)
		}
	}
	hs := storedBatches(t, cl, "maxts", 1)
	if len(hs) != 2 || hs[0].MaxTimestamp != now+5 || hs[1].MaxTimestamp != -1 {
		t.Fatalf("stored batches %+v, want max timestamps %d and -1", hs, now+5)
	}
}
