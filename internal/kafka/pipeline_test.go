package kafka_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/kafka"
)

// frameOf is req's frame with correlation ID corr and client ID "t".
func frameOf(corr int32, req kmsg.Request) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = append(b, 0, 1, 't')
	if req.IsFlexible() {
		b = append(b, 0) // no header tags
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readAnswer reads one response frame: its correlation ID and the rest.
func readAnswer(t *testing.T, c net.Conn) (int32, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:]
}

// topicToCreate is a CreateTopics request's topic with one replica and
// configs given as name/value pairs.
func topicToCreate(name string, partitions int32, configs ...[2]string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	for _, c := range configs {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = c[0], kmsg.StringPtr(c[1])
		rt.Configs = append(rt.Configs, rc)
	}
	return rt
}

// createAlwaysTopic creates a topic whose appends are each fsynced
// (fsync=always), so that produce appends to its partitions side by side.
func createAlwaysTopic(t *testing.T, cl *kgo.Client, name string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics = append(req.Topics, topicToCreate(name, partitions, [2]string{"goqueue.fsync", "always"}))
	if resp, err := req.RequestWith(ctxT(t), cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %v %+v", name, err, resp)
	}
}

func producerID(t *testing.T, cl *kgo.Client) int64 {
	t.Helper()
	ip, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t), cl)
	if err != nil || ip.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, ip)
	}
	return ip.ProducerID
}

// produceTo is a Produce v7 request (acks -1) of one batch per partition
// of topic, made by batch.
func produceTo(topic string, partitions []int32, batch func(p int32) []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch(p)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// A client that pipelines its requests (kgo keeps up to 5 produce requests
// in flight on a connection) gets every answer, in the order it asked, and
// an idempotent producer's batches sent back to back are appended in the
// order sent: a later batch appended first would be refused as a gap.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createAlwaysTopic(t, cl, "pipe", 3)
	pid := producerID(t, cl)
	const rounds = 8
	var out []byte
	var want []int32 // correlation IDs in the order sent
	for i := range int32(rounds) {
		req := produceTo("pipe", []int32{0, 1, 2}, func(part int32) []byte {
			return rawBatch(pid, 0, 2*i, fmt.Sprintf("%d-%d-a", part, i), fmt.Sprintf("%d-%d-b", part, i))
		})
		out = append(out, frameOf(100+i, req)...)
		want = append(want, 100+i)
		if i%2 == 1 {
			av := kmsg.NewPtrApiVersionsRequest()
			av.Version = 2
			out = append(out, frameOf(200+i, av)...)
			want = append(want, 200+i)
		}
	}
	c, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(out); err != nil { // every request at once
		t.Fatal(err)
	}
	for _, w := range want {
		corr, body := readAnswer(t, c)
		if corr != w {
			t.Fatalf("answer to request %d, want the answer to %d first", corr, w)
		}
		if corr >= 200 {
			continue
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 7
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		for _, sp := range resp.Topics[0].Partitions {
			if wantBase := int64(2 * (corr - 100)); sp.ErrorCode != 0 || sp.BaseOffset != wantBase {
				t.Fatalf("request %d, partition %d: offset %d code %d, want offset %d code 0",
					corr, sp.Partition, sp.BaseOffset, sp.ErrorCode, wantBase)
			}
		}
	}
	recs := consumeAll(t, p, "pipe", rounds*2*3)
	next := map[int32]int{}
	for _, r := range recs {
		i := next[r.Partition] / 2
		if want := fmt.Sprintf("%d-%d-%c", r.Partition, i, "ab"[next[r.Partition]%2]); string(r.Value) != want {
			t.Fatalf("partition %d offset %d holds %q, want %q", r.Partition, r.Offset, r.Value, want)
		}
		next[r.Partition]++
	}
}

// A request naming one partition twice has its batches appended in the
// order sent, even on a topic whose partitions are appended side by side.
func TestProduceOnePartitionTwiceInOrder(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	createAlwaysTopic(t, cl, "twice", 2)
	pid := producerID(t, cl)
	seq := map[int32]int32{}
	req := produceTo("twice", []int32{0, 1, 0, 1, 0}, func(part int32) []byte {
		s := seq[part]
		seq[part] += 2
		return rawBatch(pid, 0, s, "x", "y")
	})
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	base := map[int32]int64{}
	for _, sp := range resp.Topics[0].Partitions {
		if sp.ErrorCode != 0 || sp.BaseOffset != base[sp.Partition] {
			t.Fatalf("partition %d: offset %d code %d (%v), want offset %d", sp.Partition, sp.BaseOffset, sp.ErrorCode,
				kerr.ErrorForCode(sp.ErrorCode), base[sp.Partition])
		}
		base[sp.Partition] += 2
	}
}

// A bad frame read while the request before it is served closes the
// connection only after that request is answered.
func TestBadFrameAfterAGoodOne(t *testing.T) {
	p := start(t)
	c, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 2
	c.Write(append(frameOf(7, av), 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4))
	if corr, _ := readAnswer(t, c); corr != 7 {
		t.Fatalf("answer to %d, want 7", corr)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
}

// gatedWriter writes produced batches through the broker, reports each
// write's base offset on written, and holds every wait for durability
// until gate closes; fail makes the wait of the batch at that base fail.
type gatedWriter struct {
	b       *broker.Broker
	written chan int64
	gate    chan struct{}
	fail    int64
}

func (g *gatedWriter) WriteBatch(topic string, partition int32, batch []byte) (int64, func() error, error) {
	base, durable, err := g.b.WriteBatch(topic, partition, batch)
	if err != nil {
		return base, durable, err
	}
	g.written <- base
	return base, func() error {
		<-g.gate
		if base == g.fail {
			return errors.New("disk on fire")
		}
		return durable()
	}, nil
}

// A connection reads and writes a client's pipelined produce requests
// while the first one still waits for its batch to be durable (so they
// share its fsync), and then answers them in the order asked, each once
// its own wait is over; a wait that fails fails only its own answer.
func TestPipelinedProduceWrittenWhileEarlierWait(t *testing.T) {
	var g *gatedWriter
	_, addr := inProcessWith(t, 2, broker.FsyncAlways, func(br *broker.Broker, srv *kafka.Server) {
		g = &gatedWriter{b: br, written: make(chan int64, 16), gate: make(chan struct{}), fail: 4}
		kafka.SetBatchWriter(srv, g)
	})
	var open sync.Once
	openGate := func() { open.Do(func() { close(g.gate) }) }
	defer openGate() // before Serve stops: a connection may wait at the gate
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const requests = 4
	var out []byte
	for i := range int32(requests) {
		out = append(out, frameOf(10+i, produceTo("t", []int32{i % 2}, func(int32) []byte {
			return rawBatch(-1, 0, 0, "a", "b", "c", "d")
		}))...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	// Each request's batch is written though none of the waits before it
	// is over.
	for i := range requests {
		select {
		case <-g.written:
		case <-time.After(20 * time.Second):
			t.Fatalf("request %d not written while the ones before it wait", i+1)
		}
	}
	openGate()
	for i := range int32(requests) {
		corr, body := readAnswer(t, c)
		if corr != 10+i {
			t.Fatalf("answer to request %d, want the answer to %d first", corr, 10+i)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 7
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		wantBase, wantCode := int64(i/2*4), int16(0)
		if wantBase == g.fail {
			wantBase, wantCode = -1, kerr.UnknownServerError.Code
		}
		if sp.BaseOffset != wantBase || sp.ErrorCode != wantCode {
			t.Fatalf("request %d: offset %d code %d, want offset %d code %d", corr, sp.BaseOffset, sp.ErrorCode, wantBase, wantCode)
		}
	}
}
