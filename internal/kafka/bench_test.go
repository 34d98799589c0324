package kafka_test

import (
	"bufio"
	"bytes"
	"context"
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
// back. It reports produce and consume msgs/s and the produce p99 (from
// Produce to its acknowledgement). Figures compare within one run only.
//
// Each broker runs both in another process and in this one, and only
// like compares with like: goqueue (the real binary) with kfake-proc (this
// test binary serving kfake), goqueue-inproc with kfake. On a small
// machine the two differ: in one process the client and the broker share
// one scheduler and one garbage collector, in two they compete as two.
//
// Give a fixed count (-benchtime 3000000x): left to pick b.N itself, the
// benchmark runs each target with a different N, and the consumer's fixed
// start-up (metadata, offsets, first fetch) then weighs differently.
func BenchmarkKgo(b *testing.B) {
	targets := []struct {
		name string
		// seeds starts the broker: its address, and its process ID when
		// it runs in a process of its own (else 0).
		seeds func(b *testing.B) (string, int)
	}{
		{"goqueue", func(b *testing.B) (string, int) {
			p := start(b)
			createTopic(b, p.client(b), "bench", 6)
			return p.Kafka, p.Pid()
		}},
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
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			seed, pid := tg.seeds(b)
			value := make([]byte, 100)
			prod, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			defer prod.Close()
			ctx := context.Background()
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0 := cpuTime(b, pid)
			began := time.Now()
			for i := range b.N {
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
			cpu1 := cpuTime(b, pid)
			cons, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics("bench"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				b.Fatal(err)
			}
			defer cons.Close()
			began = time.Now()
			for n := 0; n < b.N; {
				fs := cons.PollFetches(ctx)
				fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
				n += fs.NumRecords()
			}
			consumed := time.Since(began)
			cpu2 := cpuTime(b, pid)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/produced.Seconds(), "produce-msgs/s")
			b.ReportMetric(float64(b.N)/consumed.Seconds(), "consume-msgs/s")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "produce-p99-ms")
			if pid != 0 {
				// What the broker's own process spent: the machine's load
				// moves it far less than the rates.
				b.ReportMetric(float64((cpu1 - cpu0).Milliseconds()), "broker-produce-cpu-ms")
				b.ReportMetric(float64((cpu2 - cpu1).Milliseconds()), "broker-consume-cpu-ms")
			}
		})
	}
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
