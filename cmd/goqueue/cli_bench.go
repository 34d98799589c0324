package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/internal/bench"
	"github.com/abd-ulbasit/goqueue/pkg/gcfloor"
)

// benchCmd is `goqueue bench`: the standard workloads against a running
// broker, through the Go client.
func (c *cli) benchCmd() *cobra.Command {
	var (
		cfg       bench.Config
		producers []int
		workloads []string
		label     string
		run       int
		progress  bool
		stream    bool
		heapGoal  int64
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a running broker: produce, group consume with acks, end-to-end latency",
		Long: `bench runs GoQueue's standard workloads against a running broker through the
Go client, each on a fresh topic it deletes afterwards:

  throughput  publish --messages values of --size bytes into a topic of
              --partitions partitions with each count of --producers, then
              consume them with a group of --members members that ack each
  latency     the members poll while one producer sends --rate messages a
              second for --duration; latency runs from each message's
              intended send time to its receipt (corrected for coordinated
              omission), with the figure from the actual send time beside it

It prints msgs/s, MB/s, latency quantiles and, with --broker-pid (a broker on
this machine), the broker's resident memory now and at its peak (VmHWM).
--output json prints one JSON object per workload and line, in the shape of
the peers' load generator (bench/run.sh puts the two side by side).

The broker's throughput is shared with whatever else runs on the machine:
compare figures taken in the same run on an idle machine. The bench gives its
own Go collector the broker's heap floor (--gc-heap-floor): consuming millions
of messages a second, the client collected every few milliseconds without it,
at half its CPU. An application on the Go client can do the same with
pkg/gcfloor; --gc-heap-floor 0 measures the client as GOGC=100 runs it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, w := range workloads {
				if w != "throughput" && w != "latency" {
					return usageErrorf("--workloads takes throughput and latency, not %q", w)
				}
			}
			if slices.ContainsFunc(producers, func(p int) bool { return p < 1 }) {
				return usageErrorf("--producers must be at least 1")
			}
			if heapGoal < 0 {
				return usageErrorf("--gc-heap-floor must be 0 (none) or positive")
			}
			// The bench is a client, and the Go client allocates about 250
			// bytes per message it consumes (the messages and the answers
			// their values alias): with GOGC=100's 4 MB goal over a live heap
			// of a few MB it collected every few milliseconds, which with the
			// scavenger and page faults that followed took half of its CPU.
			defer gcfloor.Start(heapFloor(heapGoal, c.lookupEnv))()
			cfg.Brokers, cfg.APIKey, cfg.NoStream = c.brokers, c.apiKey, !stream
			if progress && !c.json() {
				cfg.Progress = c.progressBar
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			var results []bench.Result
			emit := func(rs ...bench.Result) error {
				for _, r := range rs {
					if r.Phase == "" {
						continue // the workload failed before it started
					}
					r.Label, r.Run = label, run
					results = append(results, r)
					if c.json() {
						if err := c.printJSONLine(r); err != nil {
							return err
						}
					}
				}
				return nil
			}
			var err error
			if slices.Contains(workloads, "throughput") {
				for _, p := range producers {
					var prod, cons bench.Result
					prod, cons, err = bench.ProduceConsume(ctx, cfg, p)
					if err := emit(prod); err != nil {
						return err
					}
					if err != nil {
						break
					}
					if err := emit(cons); err != nil {
						return err
					}
				}
			}
			if err == nil && slices.Contains(workloads, "latency") {
				var lat bench.Result
				lat, err = bench.Latency(ctx, cfg)
				if err := emit(lat); err != nil {
					return err
				}
			}
			if !c.json() {
				if terr := c.benchTable(results); terr != nil && err == nil {
					err = terr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&workloads, "workloads", []string{"throughput", "latency"}, "workloads to run: throughput, latency")
	f.IntVarP(&cfg.Messages, "messages", "n", 1_000_000, "messages of each throughput workload")
	f.IntVar(&cfg.Size, "size", 100, "value bytes of each message (at least 24 for latency)")
	f.Int32Var(&cfg.Partitions, "partitions", 6, "partitions of each topic")
	f.IntSliceVar(&producers, "producers", []int{1, 4}, "producer counts; one throughput workload each")
	f.IntVar(&cfg.Members, "members", 2, "consumer-group members")
	f.IntVar(&cfg.Fetch, "fetch", 5000, "most messages one poll asks for")
	f.IntVar(&cfg.MaxInFlight, "max-in-flight", 10_000, "unacknowledged messages a member may hold (the group's cap)")
	f.DurationVar(&cfg.Linger, "linger", 0, "producer linger of the throughput workloads (0: the client's default, 5ms)")
	f.IntVar(&cfg.Rate, "rate", 20_000, "latency workload: messages per second")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "latency workload: how long to send")
	f.DurationVar(&cfg.LatencyLinger, "latency-linger", 50*time.Microsecond, "latency workload: producer linger")
	f.DurationVar(&cfg.Stall, "stall-timeout", 30*time.Second, "fail a workload that makes no progress for this long")
	f.BoolVar(&stream, "stream", true, "producers and members use the stream (GET /stream); false: HTTP requests and polls")
	f.IntVar(&cfg.BrokerPID, "broker-pid", 0, "pid of the broker when it runs on this machine, to report its memory")
	f.StringVar(&label, "label", "", "label of the results (JSON), e.g. a configuration name")
	f.IntVar(&run, "run", 0, "run number of the results (JSON)")
	f.Var(newSize(&heapGoal, defaultGCHeapFloor), "gc-heap-floor", "the smallest heap goal of the bench process's own Go collector (pkg/gcfloor), by default the broker's; 0 or a GOGC variable leaves GOGC's own")
	f.BoolVar(&progress, "progress", true, "show a progress bar on stderr (never with --output json)")
	return cmd
}

// printJSONLine writes v as one line of JSON.
func (c *cli) printJSONLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// progressBar shows a workload's progress on stderr, redrawn from done
// every 100 ms by a goroutine that the returned stop ends and waits for.
func (c *cli) progressBar(desc string, total int64, done *atomic.Int64) func() {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(c.stderr), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				_ = bar.Set64(done.Load())
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
		_ = bar.Finish()
	}
}

// benchTable prints the results for a person.
func (c *cli) benchTable(rs []bench.Result) error {
	rows := make([][]string, 0, len(rs))
	var lat *bench.Result
	for i, r := range rs {
		name := r.Phase
		p50, p99, p999 := "", "", ""
		switch r.Phase {
		case "produce":
			name = fmt.Sprintf("produce, %d producer%s", r.Producers, plural(r.Producers))
		case "consume":
			name = fmt.Sprintf("consume, %d members, ack each", r.Members)
		case "latency":
			name = fmt.Sprintf("latency at %s msg/s", thousands(int64(r.Rate)))
			p50, p99, p999 = milliseconds(r.CoP50), milliseconds(r.CoP99), milliseconds(r.CoP999)
			lat = &rs[i]
		}
		rows = append(rows, []string{name, thousands(r.Msgs), fmt.Sprintf("%.2f", r.Secs), thousands(int64(r.MsgsPerS)),
			fmt.Sprintf("%.1f", r.MBPerS), p50, p99, p999, brokerMemory(r)})
	}
	if err := c.table([]string{"WORKLOAD", "MSGS", "SECS", "MSGS/S", "MB/S", "P50", "P99", "P99.9", "BROKER RSS (PEAK)"}, rows); err != nil {
		return err
	}
	if lat != nil {
		_, err := fmt.Fprintf(c.stdout, "\nlatency from the intended send time (corrected for coordinated omission); from the actual send: p50 %s, p99 %s, p99.9 %s, max %s\n",
			milliseconds(lat.P50), milliseconds(lat.P99), milliseconds(lat.P999), milliseconds(lat.Max))
		return err
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// thousands writes n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// milliseconds writes a duration given in microseconds as milliseconds.
func milliseconds(us float64) string { return fmt.Sprintf("%.2f ms", us/1e3) }

// brokerMemory writes the broker's resident memory now and at its peak.
func brokerMemory(r bench.Result) string {
	if r.ServerRSSKB == nil || r.ServerHWMKB == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB (%.1f MiB)", float64(*r.ServerRSSKB)/1024, float64(*r.ServerHWMKB)/1024)
}
