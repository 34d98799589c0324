package kafka

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Serve returns once ctx ends, with a fetch long-polling, a member waiting
// in JoinGroup and idle connections open, and leaves no goroutine behind.
func TestServeStopsEveryGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := serveFresh(t, nil, Options{}, nil)
	defer s.br.Close()
	cancel := s.cancel

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waiting := make(chan struct{}, 2)
	joined := make(chan struct{}, 1)
	go func() {
		fetch := kmsg.NewPtrFetchRequest()
		fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 60_000, 1, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "t"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fetch.Topics = append(fetch.Topics, ft)
		fetch.RequestWith(context.Background(), cl)
		waiting <- struct{}{}
	}()
	go func() {
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 30_000, 60_000
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name = "range"
		join.Protocols = append(join.Protocols, jp)
		// The first member's join completes at once; the second waits for
		// the first to rejoin, which it never does.
		resp, err := join.RequestWith(context.Background(), cl)
		if err == nil && resp.ErrorCode == kerr.MemberIDRequired.Code {
			join.MemberID = resp.MemberID // KIP-394: come back with the ID given
			resp, err = join.RequestWith(context.Background(), cl)
		}
		if err != nil || resp.ErrorCode != 0 {
			t.Errorf("first join: %v %+v", err, resp)
		}
		joined <- struct{}{}
		join.MemberID = ""
		if resp, _ := join.RequestWith(context.Background(), cl); resp != nil {
			join.MemberID = resp.MemberID
			join.RequestWith(context.Background(), cl) // waits in the rebalance
		}
		waiting <- struct{}{}
	}()
	<-joined
	time.Sleep(300 * time.Millisecond) // let the fetch and the second join reach the server
	cancel()
	s.returned(t)
	cl.Close()
	for range 2 {
		<-waiting
	}
}

// gatedWriter writes through w once released, after telling entered that
// a write began.
type gatedWriter struct {
	w       batchWriter
	entered chan struct{}
	release chan struct{}
}

func (g *gatedWriter) WriteBatch(topic string, partition int32, batch []byte) (int64, func() error, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.w.WriteBatch(topic, partition, batch)
}

// A produce the server has read when its context ends is still answered
// (written and acknowledged), not cut: a client that lost the answer sends
// the batch again, and a producer that is not idempotent then has it
// twice in the log. Serve returns once the answer is out.
func TestServeAnswersProduceInProgress(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	gate := &gatedWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s := serveFresh(t, nil, Options{DrainTimeout: 10 * time.Second}, func(srv *Server) {
		gate.w = srv.b
		srv.appends = gate
	})
	defer s.br.Close()
	srv, cancel := s.srv, s.cancel

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	answered := make(chan int16, 1)
	go func() {
		var bb recordbatch.Builder
		bb.Reset(nil)
		bb.Add(0, time.Now().UnixMilli(), nil, []byte("v"), nil)
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = bb.Finish(recordbatch.NewHeader(0))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Errorf("produce in progress at shutdown: %v", err)
			answered <- -1
			return
		}
		answered <- resp.Topics[0].Partitions[0].ErrorCode
	}()
	<-gate.entered
	cancel()
	for interrupted := false; !interrupted; runtime.Gosched() {
		srv.mu.Lock()
		interrupted = srv.closed // interruptAll woke every connection
		srv.mu.Unlock()
	}
	close(gate.release)
	if code := <-answered; code != 0 {
		t.Fatalf("produce in progress at shutdown: error %d", code)
	}
	s.returned(t)
}
