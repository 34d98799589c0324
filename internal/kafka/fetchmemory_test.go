package kafka

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The fetch answers held at once over every connection are bounded by
// MaxFetchMemory: an answer is read into memory and held until written,
// and 40 connections that each sent a 70-byte fetch of 55 MiB and did not
// read the answer held 2.2 GB until their writes timed out (30 s), again
// with each round. Fetches past the bound answer what is left of it.
func TestStalledFetchesHoldAtMostMaxFetchMemory(t *testing.T) {
	const (
		answer = 8 << 20
		bound  = 16 << 20
		conns  = 16
	)
	s := serveFresh(t, nil, Options{MaxFetchBytes: answer, MaxFetchMemory: bound}, nil)
	defer s.stop(t)
	p, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 900<<10)
	rand.Read(value)
	for range answer/len(value) + 1 {
		if err := p.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()

	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 4, -1, answer
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = answer
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	frame := frameOfFetch(req)
	for range conns {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4 << 10) // and never read
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	// Each answer is read within milliseconds of its request, and held
	// while its write is stuck.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		// The bound, and the slack of the buffers the reads grew (a fifth
		// over their answer) and pooled: what is held is a few answers,
		// not one per connection.
		if grew := heap() - before; grew > 3*bound {
			t.Fatalf("%d stalled fetches of %d bytes hold %d bytes of heap; want at most %d (MaxFetchMemory %d)", conns, answer, grew, 3*bound, bound)
		}
	}
}

// frameOfFetch is req (v4, no flexible header) framed with a client ID.
func frameOfFetch(req *kmsg.FetchRequest) []byte {
	body := req.AppendTo(nil)
	hdr := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(req.Version))
	hdr = binary.BigEndian.AppendUint32(hdr, 1)
	hdr = binary.BigEndian.AppendUint16(hdr, 1)
	hdr = append(hdr, 'x')
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)+len(body)))
	return append(append(frame, hdr...), body...)
}

// A fetch that found no room among the answers held reads again soon,
// not at the end of its max wait: room comes back as other answers are
// written, which no append announces, and a consumer catching up on a
// backlog (nothing new to wake it) waited its whole max wait (kgo's 5 s)
// for each such fetch.
func TestStarvedFetchReadsAgainSoon(t *testing.T) {
	s := serveFresh(t, nil, Options{MaxFetchBytes: 1 << 20, MaxFetchMemory: 1 << 20}, nil)
	defer s.stop(t)
	p, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: []byte("backlog")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	// Other answers hold the whole bound for a moment.
	held := s.srv.answers.TakeUpTo(1 << 20)
	release := time.AfterFunc(200*time.Millisecond, func() { s.srv.answers.Give(held) })
	defer release.Stop()
	c, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("t"), kgo.FetchMaxWait(5*time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := c.PollFetches(ctx)
	if fs.NumRecords() != 1 {
		t.Fatalf("polled %d records (%v), want the backlog's 1", fs.NumRecords(), fs.Err0())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the backlog came %v after the bound had room again (200 ms); want soon after", took)
	}
}
