package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/kafka"
)

// kfakeChildEnv makes the test binary a kfake broker for BenchmarkKgo's
// kfake-proc target instead of running tests: it prints the broker's
// address and serves until its stdin closes.
const kfakeChildEnv = "GOQUEUE_BENCH_KFAKE_CHILD"

// benchAddrEnv adds BenchmarkKgo's "external" target: the Kafka listener
// at this address (a broker run by hand, to profile it).
const benchAddrEnv = "GOQUEUE_BENCH_KAFKA_ADDR"

func init() {
	if os.Getenv(kfakeChildEnv) == "" {
		return
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "bench"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(c.ListenAddrs()[0])
	io.Copy(io.Discard, os.Stdin)
	c.Close()
	os.Exit(0)
}

// BenchmarkKgo runs franz-go's client against GoQueue and against kfake,
// franz-go's own fake broker (memory only, no disk), with the same
// workload: one idempotent producer (kgo's defaults: snappy, acks all) of
// b.N 100-byte records to 6 partitions, then one consumer reading them
// back, then a tail: tailRecords more records produced at tailRate a
// second while that consumer, caught up, reads them as they come. It
// reports produce and consume msgs/s, the produce p99 (from Produce to its
// acknowledgement), the tail's p99 (from Produce to the consumer's poll
// returning the record: a fetch's long poll woken by an append) and the
// CPU time this process, the client, spent per phase. Figures compare
// within one run only.
//
// Each broker runs both in another process and in this one, and only
// like compares with like: goqueue (the real binary) with kfake-proc (this
// test binary serving kfake), goqueue-inproc with kfake. On a small
// machine the two differ: in one process the client and the broker share
// one scheduler and one garbage collector, in two they compete as two.
// The bench topic takes the binary's default fsync policy, interval: the
// flusher fdatasyncs each written partition every 100 ms, beside the
// appends. kfake keeps everything in memory and never syncs, so
// goqueue-never (--fsync never) is the like-for-like comparison with
// kfake-proc, and goqueue what a user gets by default. goqueue-always is
// the binary with --fsync always, every append durable before it is
// acknowledged (kfake has no such mode).
//
// Give a fixed count (-benchtime 3000000x): left to pick b.N itself, the
// benchmark runs each target with a different N, and the consumer's fixed
// start-up (metadata, offsets, first fetch) then weighs differently.
func BenchmarkKgo(b *testing.B) {
	type target struct {
		name string
		// seeds starts the broker: its address, and its process ID when
		// it runs in a process of its own (else 0).
		seeds func(b *testing.B) (string, int)
	}
	goqueueBinary := func(args ...string) func(b *testing.B) (string, int) {
		return func(b *testing.B) (string, int) {
			p := start(b, args...)
			createTopic(b, p.client(b), "bench", 6)
			return p.Kafka, p.Pid()
		}
	}
	targets := []target{
		{"goqueue", goqueueBinary()},
		{"kfake-proc", kfakeProc},
		{"goqueue-inproc", goqueueInProc},
		{"kfake", func(b *testing.B) (string, int) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "bench"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.Close)
			return c.ListenAddrs()[0], 0
		}},
		{"goqueue-never", goqueueBinary("--fsync", "never")},
		{"goqueue-always", goqueueBinary("--fsync", "always")},
	}
	if addr := os.Getenv(benchAddrEnv); addr != "" {
		// A broker started by hand, e.g. with --pprof-addr to profile it
		// under this load; its topic "bench" must exist.
		targets = append(targets, target{"external", func(*testing.B) (string, int) { return addr, 0 }})
	}
	// The first target measured in a process ran about a fifth slower, in
	// the client's CPU time too, than the same target right after it (a
	// cold process: heap, code, goroutine stacks). A short untimed run
	// against kfake warms the process first, and the binary is built
	// before any target starts.
	goqueue.Path(b)
	warm, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	measureKgo(b, warm.ListenAddrs()[0], 0, 200_000, func(float64, string) {})
	warm.Close()
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			seed, pid := tg.seeds(b)
			measureKgo(b, seed, pid, b.N, b.ReportMetric)
		})
	}
}

// measureKgo runs BenchmarkKgo's workload of n records against the broker
// at seed (in process pid, 0 if this one) and reports its figures.
func measureKgo(b *testing.B, seed string, pid, n int, report func(float64, string)) {
	self := os.Getpid()
	value := make([]byte, 100)
	prod, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	ctx := context.Background()
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, own0 := cpuTime(b, pid), cpuTime(b, self)
	began := time.Now()
	for i := range n {
		wg.Add(1)
		at := time.Now()
		prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(at)
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	produced := time.Since(began)
	cpu1, own1 := cpuTime(b, pid), cpuTime(b, self)
	cons, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	began = time.Now()
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
		got += fs.NumRecords()
	}
	consumed := time.Since(began)
	cpu2, own2 := cpuTime(b, pid), cpuTime(b, self)
	tail := benchTail(b, prod, cons)
	b.StopTimer()
	slices.Sort(lat)
	report(float64(n)/produced.Seconds(), "produce-msgs/s")
	report(float64(n)/consumed.Seconds(), "consume-msgs/s")
	report(p99ms(lat), "produce-p99-ms")
	report(p99ms(tail), "tail-p99-ms")
	report(float64((own1 - own0).Milliseconds()), "client-produce-cpu-ms")
	report(float64((own2 - own1).Milliseconds()), "client-consume-cpu-ms")
	if pid != 0 {
		// What the broker's own process spent: the machine's load moves it
		// far less than the rates.
		report(float64((cpu1 - cpu0).Milliseconds()), "broker-produce-cpu-ms")
		report(float64((cpu2 - cpu1).Milliseconds()), "broker-consume-cpu-ms")
	}
}

// The tail phase of BenchmarkKgo: tailRecords records at tailRate a second.
const (
	tailRate    = 10_000
	tailRecords = 10_000
)

// benchTail produces the tail's records through prod, each keyed "tail"
// and carrying its index, at tailRate, while cons (caught up with
// everything before) reads them; it returns each record's latency from
// Produce to cons's poll returning it, sorted.
func benchTail(b *testing.B, prod, cons *kgo.Client) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sent := make([]atomic.Int64, tailRecords) // Produce's time, Unix ns
	done := make(chan struct{})
	go func() {
		defer close(done)
		began := time.Now()
		for i := range tailRecords {
			if d := time.Until(began.Add(time.Duration(i) * time.Second / tailRate)); d > 0 {
				time.Sleep(d)
			}
			v := make([]byte, 100)
			binary.BigEndian.PutUint32(v, uint32(i))
			sent[i].Store(time.Now().UnixNano())
			prod.Produce(ctx, &kgo.Record{Key: []byte("tail"), Value: v}, nil)
		}
	}()
	defer func() { <-done }()
	lat := make([]time.Duration, 0, tailRecords)
	for len(lat) < tailRecords {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("tail: %d of %d records in a minute", len(lat), tailRecords)
		}
		now := time.Now().UnixNano()
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "tail" {
				lat = append(lat, time.Duration(now-sent[binary.BigEndian.Uint32(r.Value)].Load()))
			}
		})
	}
	slices.Sort(lat)
	return lat
}

// p99ms is the 99th percentile of sorted, in milliseconds.
func p99ms(sorted []time.Duration) float64 {
	return float64(sorted[len(sorted)*99/100].Microseconds()) / 1000
}

// cpuTime is the CPU time (user and system) process pid has used so far,
// from /proc with its 10 ms ticks (Linux's USER_HZ of 100); 0 for pid 0.
func cpuTime(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which may hold spaces: state is the
	// first, utime and stime the 12th and 13th.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// kfakeProc starts this test binary as a kfake broker (see init) and
// returns its address; it stops when the benchmark ends.
func kfakeProc(b *testing.B) (string, int) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), kfakeChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("kfake child: %v", err)
	}
	return strings.TrimSpace(addr), cmd.Process.Pid
}

// goqueueInProc serves the broker's Kafka listener in this process, with
// the binary's defaults.
func goqueueInProc(b *testing.B) (string, int) {
	cfg := broker.DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	br, err := broker.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "bench", Partitions: 6}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- kafka.New(br, kafka.Options{}).Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		<-done
		br.Close()
	})
	return ln.Addr().String(), 0
}
