package kafka_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/kafka"
)

// inProcess serves the Kafka listener over a fresh broker in this process
// with topic "t" of partitions partitions under fsync policy fsync ("":
// the default); it stops with the test.
func inProcess(t testing.TB, partitions int32, fsync string) (*broker.Broker, string) {
	t.Helper()
	return inProcessWith(t, partitions, fsync, nil)
}

// inProcessWith is inProcess with setup, if not nil, called on the server
// before it serves (a test's hooks).
func inProcessWith(t testing.TB, partitions int32, fsync string, setup func(*broker.Broker, *kafka.Server)) (*broker.Broker, string) {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	br, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "t", Partitions: partitions, Fsync: fsync}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := kafka.New(br, kafka.Options{Logger: cfg.Logger})
	if setup != nil {
		setup(br, srv)
	}
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		br.Close()
	})
	return br, ln.Addr().String()
}

// The broker's work for a produce request does not grow with the records
// in it: what it allocates (decoding the request, the answer) is per
// request and per partition, never per record. Measured over the whole process, a
// raw client included, with batches of 200 records to 6 partitions, plain
// and compressed as kgo sends them (snappy): an allocation per record
// would be 1,200 more.
func TestProduceAllocationsPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	const records, partitions = 200, 6
	for _, tc := range []struct{ idempotent, snappy bool }{{false, false}, {true, false}, {true, true}} {
		t.Run(fmt.Sprintf("idempotent=%v,snappy=%v", tc.idempotent, tc.snappy), func(t *testing.T) {
			_, addr := inProcess(t, partitions, "")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			values := make([]string, records)
			for i := range values {
				values[i] = fmt.Sprintf("value %d", i)
			}
			pid, seq := int64(-1), int32(0)
			if tc.idempotent {
				pid = 7
			}
			var frames [][]byte // made ahead, so the client allocates nothing per request
			const runs = 50
			for i := range runs + 1 {
				req := produceTo("t", []int32{0, 1, 2, 3, 4, 5}, func(int32) []byte {
					return codecBatch(tc.snappy, pid, 0, seq, values...)
				})
				seq += records
				frames = append(frames, frameOf(int32(i), req))
			}
			next := 0
			buf := make([]byte, 1<<16)
			produce := func() {
				if _, err := c.Write(frames[next]); err != nil {
					t.Fatal(err)
				}
				next++
				corr, body := readAnswerInto(t, c, buf)
				resp := kmsg.ProduceResponse{Version: 7}
				if corr != int32(next-1) {
					t.Fatalf("answer to %d, want %d", corr, next-1)
				}
				if err := resp.ReadFrom(body); err != nil {
					t.Fatal(err)
				}
				for _, sp := range resp.Topics[0].Partitions {
					if sp.ErrorCode != 0 {
						t.Fatalf("partition %d: code %d", sp.Partition, sp.ErrorCode)
					}
				}
			}
			produce() // first use: the partitions' producer state, buffers
			allocs := testing.AllocsPerRun(runs-1, produce)
			t.Logf("%.0f allocations per request of %d records", allocs, records*partitions)
			if allocs > 60 {
				t.Errorf("%.0f allocations per produce request of %d records in %d batches, want at most 60",
					allocs, records*partitions, partitions)
			}
		})
	}
}

// readAnswerInto is readAnswer reading into buf, which must hold the answer.
func readAnswerInto(t testing.TB, c net.Conn, buf []byte) (int32, []byte) {
	t.Helper()
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(buf))
	if n < 4 || n > len(buf) {
		t.Fatalf("answer of %d bytes", n)
	}
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		t.Fatal(err)
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:n]
}

// BenchmarkProducePipelined is the listener's own cost of produce requests
// as kgo sends them: up to 5 in flight on one connection, each of 6 snappy
// batches of 200 records, to an in-process broker, under fsync=interval
// (the default) and fsync=always. One op is one request; the raw client
// does little besides.
func BenchmarkProducePipelined(b *testing.B) {
	for _, fsync := range []string{broker.FsyncInterval, broker.FsyncAlways} {
		b.Run("fsync="+fsync, func(b *testing.B) { producePipelined(b, fsync) })
	}
}

func producePipelined(b *testing.B, fsync string) {
	const records, inFlight = 200, 5
	_, addr := inProcess(b, 6, fsync)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	values := make([]string, records)
	for i := range values {
		values[i] = fmt.Sprintf("value %d", i)
	}
	frame := frameOf(1, produceTo("t", []int32{0, 1, 2, 3, 4, 5}, func(int32) []byte {
		return codecBatch(true, -1, 0, 0, values...)
	}))
	slots := make(chan struct{}, inFlight)
	written := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			slots <- struct{}{}
			if _, err := c.Write(frame); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	buf := make([]byte, 1<<16)
	for range b.N {
		readAnswerInto(b, c, buf)
		<-slots
	}
	if err := <-written; err != nil {
		b.Fatal(err)
	}
}
