package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/history"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// envPrefix names the environment variable of every flag:
// --fsync-interval is GOQUEUE_FSYNC_INTERVAL. A flag given on the command
// line wins over its variable.
const envPrefix = "GOQUEUE_"

// config is everything `goqueue` needs to serve.
type config struct {
	broker            broker.Config
	addr              string
	maxBodyBytes      int64
	maxBatchMsgs      int
	maxDecoding       int64
	maxFetchMemory    int64
	metricsGroupParts bool
	maxWait           time.Duration
	shutdownTimeout   time.Duration
	logLevel          slog.Level
	logFormat         string
	configFile        string // --config or GOQUEUE_CONFIG; "" for none
	pprofAddr         string // "" serves no profiles
	gcHeapFloor       int64  // the collector's smallest heap goal (gcfloor); 0: GOGC's own

	// Consumer-group delivery settings, kept apart from broker.Delivery so
	// that "0 retries" can be said (delivery reads 0 as "the default").
	maxRetries int

	// HTTP server hardening.
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int64
	maxConns          int // 0: derived from the open-file limit (connLimit)
	maxConnsPerAddr   int // 0: derived from the connection bound (connLimitPerAddr)
	tlsCert, tlsKey   string
	apiKeys           []string
	authHealth        bool

	kafka   kafkaConfig
	cluster clusterConfig
}

// flagSet binds every setting to a flag on fs, with the embedded defaults.
// Bad values are not fatal here: they are collected in *problems, so that
// every problem of a configuration is reported at once.
func flagSet(fs *pflag.FlagSet, c *config, problems *[]error) {
	d := broker.DefaultConfig()
	c.broker = d
	fs.StringVar(&c.configFile, "config", "", "YAML file of settings (keys: the flags' names); env and flags override it (env GOQUEUE_CONFIG)")
	fs.StringVar(&c.broker.DataDir, "data-dir", d.DataDir, "directory of meta.db and the partition logs")
	fs.StringVar(&c.addr, "addr", "localhost:8080", "HTTP listen address (host:port; port 0 picks a free one)")
	fs.StringVar(&c.broker.Fsync, "fsync", d.Fsync, "default fsync policy of topics: always, interval or never")
	fs.DurationVar(&c.broker.FsyncInterval, "fsync-interval", d.FsyncInterval, "how often dirty logs are synced under --fsync interval")
	fs.Int32Var(&c.broker.DefaultPartitions, "partitions", d.DefaultPartitions, "partitions of a topic created without a count")
	fs.Int32Var(&c.broker.MaxPartitions, "max-partitions", d.MaxPartitions, "the most partitions one topic may have")
	fs.Int64Var(&c.broker.RetentionHours, "retention-hours", d.RetentionHours, "default retention of topics in hours; -1 keeps forever")
	fs.Var(newSize(&c.broker.RetentionBytes, d.RetentionBytes), "retention-bytes", "default retention of a partition in bytes (e.g. 10GiB); -1 is unbounded")
	fs.Var(newSize(&c.broker.SegmentBytes, d.SegmentBytes), "segment-bytes", "roll a segment file past this size (e.g. 64MiB)")
	fs.DurationVar(&c.broker.SegmentAge, "segment-age", d.SegmentAge, "roll a segment older than this; 0 rolls by size only")
	fs.IntVar(&c.broker.MaxOpenSegments, "max-open-segments", d.MaxOpenSegments, "sealed segment files kept open while unused, across all partitions (least recently used closed first)")
	fs.Var(newSize32(&c.broker.MaxMessageBytes, d.MaxMessageBytes), "max-message-bytes", "default largest message (key + value + headers) of a topic")
	fs.DurationVar(&c.broker.TimestampBeforeMax, "timestamp-before-max", d.TimestampBeforeMax, "refuse message timestamps further than this before the broker's clock; 0: no bound")
	fs.DurationVar(&c.broker.TimestampAfterMax, "timestamp-after-max", d.TimestampAfterMax, "refuse message timestamps further than this after the broker's clock; 0: no bound")
	fs.DurationVar(&c.broker.RetentionCheckInterval, "retention-check-interval", d.RetentionCheckInterval, "how often retention deletes old segments")
	fs.DurationVar(&c.broker.OffsetsRetention, "offsets-retention", d.OffsetsRetention, "delete a consumer group and its committed offsets once it has had no members and no join, commit or reset for this long (Kafka's offsets.retention.minutes); 0 keeps them for ever")
	fs.DurationVar(&c.broker.History.Interval, "lag-sample-interval", history.DefaultInterval, "how often each group's lag is sampled for the lag history (kept 24 h)")
	lim := &c.broker.Limits
	*lim = broker.DefaultLimits()
	fs.IntVar(&lim.MaxTopics, "max-topics", lim.MaxTopics, "most topics clients may create (409 TOO_MANY_TOPICS); DLQs may pass it")
	fs.IntVar(&lim.MaxGroups, "max-groups", lim.MaxGroups, "most consumer groups (409 TOO_MANY_GROUPS)")
	fs.IntVar(&lim.MaxGroupMembers, "max-group-members", lim.MaxGroupMembers, "most members of one group (409 TOO_MANY_MEMBERS)")
	fs.Var(newSize(&c.maxBodyBytes, httpapi.DefaultMaxBodyBytes), "max-body-bytes", "largest HTTP request body")
	fs.IntVar(&c.maxBatchMsgs, "max-batch-messages", httpapi.DefaultMaxBatchMessages, "most messages in one JSON publish (413 TOO_MANY_MESSAGES)")
	fs.Var(newSize(&c.broker.MaxDecompressBytes, broker.DefaultMaxDecompressBytes), "max-decompress-bytes", "most bytes of compressed batches' records decompressed at once, to check what Kafka producers send and to read stored batches for fetches, group polls, DLQ moves and replays (beyond: TOO_MANY_REQUESTS over HTTP, REQUEST_TIMED_OUT over Kafka; both are retried)")
	fs.Var(newSize(&c.maxDecoding, httpapi.DefaultMaxDecodingBytes), "max-decoding-bytes", "most bytes of request bodies held at once over all requests (beyond: 429 with Retry-After); at least --max-body-bytes")
	fs.Var(newSize(&c.maxFetchMemory, httpapi.DefaultMaxFetchMemory), "max-fetch-memory", "most bytes of HTTP fetch answers (as encoded) and group polls' messages held at once until written (beyond: 429 with Retry-After); at least 16MiB, a fetch's largest max_bytes")
	fs.BoolVar(&c.metricsGroupParts, "metrics-group-partitions", false, "add per group × partition series to /metrics (goqueue_group_partition_*); by default a group's series are per topic")
	fs.DurationVar(&c.maxWait, "max-wait", httpapi.DefaultMaxWait, "cap on the wait_ms of a fetch or a group poll")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a shutdown waits for requests in progress")

	g := &c.broker.Groups
	*g = group.Config{SessionTimeout: group.DefaultSessionTimeout, MinSessionTimeout: group.DefaultMinSessionTimeout,
		MaxSessionTimeout: group.DefaultMaxSessionTimeout, HeartbeatInterval: group.DefaultHeartbeatInterval,
		MaxRebalanceTimeout: group.DefaultMaxRebalanceTimeout, DefaultAssignor: api.AssignorCooperativeSticky}
	fs.DurationVar(&g.SessionTimeout, "session-timeout", g.SessionTimeout, "session timeout of members that join without one")
	fs.DurationVar(&g.MinSessionTimeout, "min-session-timeout", g.MinSessionTimeout, "smallest session timeout a member may ask for")
	fs.DurationVar(&g.MaxSessionTimeout, "max-session-timeout", g.MaxSessionTimeout, "largest session timeout a member may ask for")
	fs.DurationVar(&g.HeartbeatInterval, "heartbeat-interval", g.HeartbeatInterval, "heartbeat interval told to members (at most a third of their session timeout)")
	fs.DurationVar(&g.MaxRebalanceTimeout, "max-rebalance-timeout", g.MaxRebalanceTimeout, "largest rebalance timeout a member may ask for")
	fs.StringVar(&g.DefaultAssignor, "assignor", g.DefaultAssignor, "assignor of groups whose first member names none: range, roundrobin, sticky or cooperative-sticky")
	dl := &c.broker.Delivery
	*dl = delivery.Defaults()
	fs.IntVar(&c.maxRetries, "max-retries", dl.MaxRetries, "default redeliveries of a nacked or timed-out message before it is dead-lettered; 0 dead-letters at the first failure")
	fs.DurationVar(&dl.BackoffBase, "backoff-base", dl.BackoffBase, "delay before the first redelivery of a nacked message; doubles per retry")
	fs.DurationVar(&dl.BackoffMax, "backoff-max", dl.BackoffMax, "longest delay between redeliveries")
	fs.DurationVar(&dl.VisibilityTimeout, "visibility-timeout", dl.VisibilityTimeout, "default time a polled message stays in flight before it is redelivered")
	fs.IntVar(&dl.MaxInFlightPerMember, "max-in-flight", dl.MaxInFlightPerMember, "default cap of unacknowledged messages per member")

	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) file; with --tls-key, serve HTTPS")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringSliceVar(&c.apiKeys, "api-keys", nil, "comma-separated API keys; if set, every request needs one (X-API-Key or Authorization: Bearer). KEY has full access; KEY:produce=orders*;consume=orders*;group=billing*;admin=ops|audit* is scoped (see README). Prefer the environment variable: flags show in ps")
	fs.BoolVar(&c.authHealth, "auth-health", false, "require the API key on /healthz, /livez and /readyz too")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send a request's headers")
	fs.DurationVar(&c.readTimeout, "read-timeout", time.Minute, "time a client has to send a whole request, body included")
	fs.DurationVar(&c.writeTimeout, "write-timeout", 2*time.Minute, "longest a request may take, from its headers to the end of the answer (above --max-wait)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	// 32 KiB, nginx's and Kestrel's: net/http reads up to twice this of a
	// block, and a connection still sending one holds up to about twenty
	// times what was read until --read-header-timeout (README).
	fs.Var(newSize(&c.maxHeaderBytes, 32<<10), "max-header-bytes", "largest request line and header block (431 HEADERS_TOO_LARGE); a client still sending one can hold about 40 times this in memory")

	fs.IntVar(&c.maxConns, "max-connections", 0, "most client connections open at once over the HTTP and Kafka listeners (beyond: HTTP gets 503 UNAVAILABLE, Kafka a closed connection); 0: three quarters of the open-file limit, at most 10000")
	fs.IntVar(&c.maxConnsPerAddr, "max-connections-per-addr", 0, "most of those connections from one client address (an IPv4 address or an IPv6 /64), so that one address cannot take them all (beyond: as past --max-connections); 0: a quarter of --max-connections' bound, but at least 16 (or the whole bound, if smaller)")

	kafkaFlags(fs, &c.kafka)
	clusterFlags(fs, &c.cluster)

	fs.Var((*levelValue)(&c.logLevel), "log-level", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this host:port (keep it on localhost); empty serves none")
	fs.Var(newSize(&c.gcHeapFloor, defaultGCHeapFloor), "gc-heap-floor", "the Go collector's smallest heap goal: a small heap is collected when it reaches this, not each 4 MB (fewer collections, lower tail latency); 0 or a GOGC variable leaves GOGC's own")

	fs.VisitAll(func(f *pflag.Flag) {
		f.Value = &lenient{Value: f.Value, name: "--" + f.Name, problems: problems}
	})
	fs.Lookup("api-keys").DefValue = "" // wrapped, pflag no longer sees that [] is empty; --help would show "(default [])"
}

// applyEnv sets every flag not given on the command line from its
// GOQUEUE_* variable, if set, and returns the flags it set.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool), problems *[]error) []string {
	var set []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := envName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		set = append(set, f.Name)
		if err := setQuietly(f, v); err != nil {
			*problems = append(*problems, fmt.Errorf("%s=%q: %v", name, v, err))
		}
	})
	return set
}

// setQuietly sets a flag bound by flagSet without marking it given on the
// command line; a bad value leaves the flag as it was.
func setQuietly(f *pflag.Flag, v string) error {
	l := f.Value.(*lenient)
	if sv, ok := l.Value.(pflag.SliceValue); ok {
		// Set appends after its first call; a file's list and then the
		// environment's must replace each other instead.
		return sv.Replace(strings.Split(v, ","))
	}
	old := l.Value.String()
	if err := l.Value.Set(v); err != nil {
		l.Value.Set(old)
		return err
	}
	return nil
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// validate checks what the broker's own validation does not, and returns
// every problem, including those met while parsing, joined.
func (c *config) validate(problems []error) error {
	errs := append([]error(nil), problems...)
	if err := c.broker.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, port, err := net.SplitHostPort(c.addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q must be host:port: %v", c.addr, err))
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: port %q must be a number from 0 to 65535", c.addr, port))
	}
	if c.maxBodyBytes < int64(c.broker.MaxMessageBytes) {
		errs = append(errs, fmt.Errorf("max body bytes %d must be at least max message bytes %d", c.maxBodyBytes, c.broker.MaxMessageBytes))
	}
	if l := c.broker.Limits; l.MaxTopics < 1 || l.MaxGroups < 1 || l.MaxGroupMembers < 1 {
		errs = append(errs, fmt.Errorf("max topics %d, max groups %d and max group members %d must be at least 1", l.MaxTopics, l.MaxGroups, l.MaxGroupMembers))
	}
	if c.maxBatchMsgs < 1 {
		errs = append(errs, fmt.Errorf("max batch messages %d must be at least 1", c.maxBatchMsgs))
	}
	if c.maxDecoding < c.maxBodyBytes {
		errs = append(errs, fmt.Errorf("max decoding bytes %d must be at least max body bytes %d", c.maxDecoding, c.maxBodyBytes))
	}
	if c.maxWait <= 0 {
		errs = append(errs, fmt.Errorf("max wait %v must be positive", c.maxWait))
	}
	if c.shutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %v must be positive", c.shutdownTimeout))
	}
	if c.gcHeapFloor < 0 {
		errs = append(errs, fmt.Errorf("gc heap floor %d must be 0 (none) or positive", c.gcHeapFloor))
	}
	if c.pprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.pprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("pprof addr %q must be host:port: %v", c.pprofAddr, err))
		}
	}
	errs = append(errs, c.validateDelivery()...)
	errs = append(errs, c.validateHTTP()...)
	errs = append(errs, c.kafka.validate()...)
	errs = append(errs, c.cluster.validate()...)
	errs = append(errs, c.cluster.tls.validate(&c.cluster, c.tlsCert, c.tlsKey)...)
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q must be text or json", c.logFormat))
	}
	return errors.Join(errs...)
}

// lenient wraps a flag's value: a bad value is recorded as a problem instead
// of stopping the parse at the first one.
type lenient struct {
	pflag.Value
	name     string
	problems *[]error
}

func (l *lenient) Set(s string) error {
	old := l.Value.String()
	if err := l.Value.Set(s); err != nil {
		*l.problems = append(*l.problems, fmt.Errorf("%s %q: %v", l.name, s, err))
		l.Value.Set(old) // some values are clobbered by a failed Set; the old one always parses
	}
	return nil
}

// levelValue is a slog.Level flag.
type levelValue slog.Level

func (l *levelValue) String() string { return slog.Level(*l).String() }
func (l *levelValue) Type() string   { return "level" }
func (l *levelValue) Set(s string) error {
	var v slog.Level
	if err := v.UnmarshalText([]byte(s)); err != nil {
		return errors.New("must be debug, info, warn or error")
	}
	*l = levelValue(v)
	return nil
}

// environ looks a variable up in the process environment.
func environ(name string) (string, bool) { return os.LookupEnv(name) }

// defaultGCHeapFloor is --gc-heap-floor's default. A broker's live heap
// is a few MB under load, which GOGC=100 collected every 25 ms at 20,000
// msg/s; with a 32 MiB goal it collects about an eighth as often, for
// about 30 MiB more memory at most (pkg/gcfloor).
const defaultGCHeapFloor = 32 << 20

// heapFloor is the heap goal floor a process asked for floor runs with
// (the broker's --gc-heap-floor, bench's): none when the GOGC variable is
// set (not empty, which the runtime reads as unset), which says how the
// operator wants the collector run (GOGC=off included).
func heapFloor(floor int64, lookupEnv func(string) (string, bool)) uint64 {
	if v, _ := lookupEnv("GOGC"); v != "" || floor <= 0 {
		return 0
	}
	return uint64(floor)
}
