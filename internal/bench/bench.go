// Package bench runs GoQueue's standard workloads against a running broker
// through the Go client, as a user would: produce N messages into a fresh
// topic with P producers, consume them with a group whose members ack each
// message, and measure end-to-end latency at a fixed rate. It owns no broker
// state; every workload creates its own topic and group and deletes them at
// the end. Its results have the shape of the peers' load generator
// (bench/peers), so the two can be put side by side.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Config describes the workloads. Zero values take the defaults noted,
// which are the standard workloads of DESIGN.md §6.
type Config struct {
	Brokers     []string // "host:port" or base URLs; required
	APIKey      string   // for a broker that requires API keys
	TopicPrefix string   // topics are named <prefix>-<workload>-<unix ms>; default "bench"
	Messages    int      // messages of the produce/consume workloads; default 1,000,000
	Size        int      // value bytes; default 100 (at least 24 for the latency workload)
	Partitions  int32    // default 6
	Members     int      // consumer-group members; default 2
	Fetch       int      // most messages one Poll asks for; default 5000
	// MaxInFlight is the group's cap of unacknowledged messages per member
	// (default 10,000; the broker's own default of 1,000 would cap a poll).
	MaxInFlight int
	Linger      time.Duration // producer linger of the throughput workloads; default the client's (5 ms)
	// NoStream has the producers send HTTP requests and the members poll
	// over HTTP rather than use the stream (client.ProducerConfig.NoStream,
	// client.ConsumerConfig.NoStream).
	NoStream bool

	Rate          int           // latency workload: messages per second; default 20,000
	Duration      time.Duration // latency workload: how long to send; default 10 s
	LatencyLinger time.Duration // latency workload: producer linger; default 50 µs

	// Stall fails a workload that makes no progress for this long
	// (default 30 s), rather than waiting forever.
	Stall time.Duration
	// BrokerPID, if not 0, is the broker's process on this machine: each
	// result then carries its resident memory.
	BrokerPID int
	// Progress, if set, is called when a workload starts with a description,
	// the total and a counter the workload advances; it returns a function
	// the workload calls when done, which must stop whatever Progress started.
	Progress func(desc string, total int64, done *atomic.Int64) (stop func())

	// probe, if set, watches the latency workload stage by stage (the
	// instrumented runs of stages_test.go); it costs nothing when nil.
	probe latencyProbe
	// httpClient is the HTTP client of the workload's producers and members
	// (nil: each its own); the probe sets it to see their requests.
	httpClient *http.Client
}

// ErrStalled reports a workload that made no progress for Config.Stall.
var ErrStalled = errors.New("bench: no progress")

func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, client.ErrNoBrokers
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Messages, 1_000_000)
	def(&c.Size, 100)
	def(&c.Members, 2)
	def(&c.Fetch, 5000)
	def(&c.MaxInFlight, 10_000)
	def(&c.Rate, 20_000)
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "bench"
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.LatencyLinger <= 0 {
		c.LatencyLinger = 50 * time.Microsecond
	}
	if c.Stall <= 0 {
		c.Stall = 30 * time.Second
	}
	return c, nil
}

// Result is one workload's outcome, one JSON object per line with
// --output json. Field names follow the peers' load generator.
type Result struct {
	Phase     string  `json:"phase"` // "produce", "consume" or "latency"
	Peer      string  `json:"peer"`  // always "goqueue"
	Label     string  `json:"label,omitempty"`
	Run       int     `json:"run,omitempty"`
	Topic     string  `json:"topic"`
	Producers int     `json:"producers,omitempty"`
	Members   int     `json:"members,omitempty"`
	Msgs      int64   `json:"msgs"` // messages the workload was to move
	Size      int     `json:"size"`
	Secs      float64 `json:"secs"`
	MsgsPerS  float64 `json:"msgs_per_s"`
	MBPerS    float64 `json:"mb_per_s"` // value bytes, 10^6 per MB
	Errors    int64   `json:"errors"`   // failed publishes; acks refused (revoked partition, or 409 from the broker)

	// consume and latency
	Acked      int64 `json:"acked,omitempty"`      // distinct messages acked and committed
	Duplicates int64 `json:"duplicates,omitempty"` // deliveries of a message already received

	// latency: microseconds from the intended send time (co_*, corrected
	// for coordinated omission) and from the actual send time (p*)
	Rate     int     `json:"rate,omitempty"`
	Received int64   `json:"received,omitempty"`
	P50      float64 `json:"p50_us,omitempty"`
	P90      float64 `json:"p90_us,omitempty"`
	P99      float64 `json:"p99_us,omitempty"`
	P999     float64 `json:"p999_us,omitempty"`
	Max      float64 `json:"max_us,omitempty"`
	CoP50    float64 `json:"co_p50_us,omitempty"`
	CoP90    float64 `json:"co_p90_us,omitempty"`
	CoP99    float64 `json:"co_p99_us,omitempty"`
	CoP999   float64 `json:"co_p999_us,omitempty"`
	CoMax    float64 `json:"co_max_us,omitempty"`

	// The broker's memory in KiB after the workload; absent when the
	// broker is not a local process (BrokerPID 0).
	ServerRSSKB *int64 `json:"server_rss_kb,omitempty"`
	ServerHWMKB *int64 `json:"server_hwm_kb,omitempty"`
}

// finish fills the rates and the broker's memory.
func (r *Result) finish(cfg Config, moved int64, elapsed time.Duration) {
	r.Peer = "goqueue"
	r.Size = cfg.Size
	r.Secs = elapsed.Seconds()
	if r.Secs > 0 {
		r.MsgsPerS = float64(moved) / r.Secs
		r.MBPerS = r.MsgsPerS * float64(cfg.Size) / 1e6
	}
	if cfg.BrokerPID != 0 {
		if m, err := ReadMemory(cfg.BrokerPID); err == nil {
			r.ServerRSSKB, r.ServerHWMKB = &m.RSS, &m.Peak
		}
	}
}

// newTopic creates a fresh topic for one workload.
func newTopic(ctx context.Context, admin *client.Client, cfg Config, workload string) (string, error) {
	name := fmt.Sprintf("%s-%s-%d", cfg.TopicPrefix, workload, time.Now().UnixMilli())
	_, err := admin.CreateTopic(ctx, api.CreateTopicRequest{Name: name, Partitions: cfg.Partitions})
	if err != nil {
		return "", fmt.Errorf("bench: create topic: %w", err)
	}
	return name, nil
}

// startProgress calls cfg.Progress if set; the returned stop is never nil.
func startProgress(cfg Config, desc string, total int64, done *atomic.Int64) func() {
	if cfg.Progress == nil {
		return func() {}
	}
	return cfg.Progress(desc, total, done)
}

// watch cancels ctx with ErrStalled when done has not moved for cfg.Stall.
// It returns when ctx is done; the caller waits for it.
func watch(ctx context.Context, cancel context.CancelCauseFunc, cfg Config, done *atomic.Int64, total int64) {
	tick := time.NewTicker(min(cfg.Stall/4, time.Second))
	defer tick.Stop()
	last, since := done.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if n := done.Load(); n != last {
				last, since = n, now
			} else if now.Sub(since) >= cfg.Stall {
				cancel(fmt.Errorf("%w for %v: %d of %d messages", ErrStalled, cfg.Stall, n, total))
				return
			}
		}
	}
}

// admin, producer and members build every workload's clients from c, so all
// of them reach the broker the same way (its addresses and API key).
func (c Config) admin() (*client.Client, error) {
	return client.NewWithConfig(&client.Config{Brokers: c.Brokers, APIKey: c.APIKey})
}

func (c Config) producer(linger time.Duration) (*client.Producer, error) {
	return client.NewProducer(&client.ProducerConfig{Brokers: c.Brokers, APIKey: c.APIKey, Linger: linger, HTTPClient: c.httpClient, NoStream: c.NoStream})
}

// members starts c.Members consumers of topic in group; the caller closes
// each of them.
func (c Config) members(group, topic string) ([]*client.Consumer, error) {
	members := make([]*client.Consumer, 0, c.Members)
	for range c.Members {
		m, err := client.NewConsumer(&client.ConsumerConfig{
			Brokers: c.Brokers, APIKey: c.APIKey, GroupID: group, Topics: []string{topic},
			MaxInFlight: c.MaxInFlight, PollWait: 100 * time.Millisecond, HTTPClient: c.httpClient,
			NoStream: c.NoStream,
		})
		if err != nil {
			for _, m := range members {
				m.Close()
			}
			return nil, err
		}
		members = append(members, m)
	}
	return members, nil
}
