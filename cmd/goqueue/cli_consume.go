package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// consumeOpts are the flags of `goqueue consume`.
type consumeOpts struct {
	group         string
	fromBeginning bool
	follow        bool
	max           int
	partition     int32
	idle          time.Duration
	keys          bool
	headers       bool
	from          string // where a read without a group starts: see startSpec
	format        string // kcat-style, see formatMessage; "" prints the value
}

// consumeCmd is `goqueue consume TOPIC`.
func (c *cli) consumeCmd() *cobra.Command {
	var o consumeOpts
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print messages of a topic, alone or as a member of a consumer group",
		Long: `consume prints one message per line (its value; --keys adds KEY<TAB>). With
--output json it prints one JSON object per line instead.

With --group it joins that consumer group, reads the partitions the group
gives it from the group's committed offsets, and acknowledges each message
once printed, so lag falls as it goes. Without --group it reads every
partition directly, from the end (or the start with --from-beginning, or
--from SPEC) and commits nothing. SPEC is earliest, latest, an offset (42),
the last N messages of each partition (-10), or a time: @2026-01-02T15:04:05Z,
@1767366245000 (ms since the epoch) or @-1h (that long ago).

--format prints each message as a kcat-style template: %t topic, %p
partition, %o offset, %k key, %s value, %h headers (k=v,k2=v2), %T
timestamp (ms), %d delivery count, %% a percent sign, \n and \t; e.g.
--format '%p/%o %k=%s\n'. --headers prints the headers before the value.

It stops after -n messages, or when it has caught up and nothing arrived
for --idle (default 1s); --follow keeps waiting for new messages until
interrupted.`,
		Args: exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := commandContext(cmd)
			defer stop()
			var err error
			switch {
			case o.group != "" && o.from != "":
				return usageErrorf("--from reads without a group; a group starts from its committed offsets (move them with goqueue group reset-offsets)")
			case o.group != "" && cmd.Flags().Changed("partition"):
				// It was ignored: the member read every partition the
				// group gave it, and acknowledged them.
				return usageErrorf("--partition reads without a group; a group's member reads the partitions the group assigns it")
			case o.max < 0:
				return usageErrorf("--max-messages %d: want 0 (no limit) or more", o.max)
			}
			if o.group != "" {
				err = c.consumeGroup(ctx, args[0], &o)
			} else {
				err = c.consumeDirect(ctx, args[0], &o, cmd.Flags().Changed("partition"))
			}
			if ctx.Err() != nil && cmd.Context().Err() == nil {
				return errInterrupted // Ctrl-C: what was printed was acknowledged; exit 130
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this group, acknowledging what is printed")
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the oldest message (a new group starts there anyway)")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep waiting for new messages until interrupted")
	f.IntVarP(&o.max, "max-messages", "n", 0, "stop after this many messages (0: no limit)")
	f.Int32VarP(&o.partition, "partition", "p", 0, "without --group: read only this partition")
	f.DurationVar(&o.idle, "idle", time.Second, "without --follow: stop after this long with nothing new")
	f.BoolVar(&o.keys, "keys", false, "print KEY<TAB>VALUE")
	f.BoolVar(&o.headers, "headers", false, "print HEADERS<TAB> before the value (k=v,k2=v2)")
	f.StringVar(&o.from, "from", "", "without --group: start at earliest, latest, OFFSET, -N (the last N), @TIME or @-DURATION")
	f.StringVar(&o.format, "format", "", "print each message with this kcat-style template (%t %p %o %k %s %h %T %d)")
	return cmd
}

// print writes one message: as JSON with -o json, else as o.format, else
// [KEY<TAB>][HEADERS<TAB>]VALUE.
func (c *cli) print(m *client.Message, o *consumeOpts) error {
	if c.json() {
		b, err := json.Marshal(jsonMessage(m))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	var b []byte
	switch {
	case o.format != "":
		b = formatMessage(nil, o.format, m)
	default:
		if o.keys {
			b = append(append(b, m.Key...), '\t')
		}
		if o.headers {
			b = append(appendHeaders(b, m.Headers), '\t')
		}
		b = append(append(b, m.Value...), '\n')
	}
	_, err := c.stdout.Write(b)
	return err
}

// jsonOut is a message as -o json prints it: the value as text, and, as the
// HTTP API does, bytes that are not valid UTF-8 in key_base64 or
// value_base64, and headers the object cannot say exactly in header_list
// (json.Marshal put U+FFFD in place of such bytes).
type jsonOut struct {
	Topic         string            `json:"topic"`
	Partition     int32             `json:"partition"`
	Offset        int64             `json:"offset"`
	Key           *string           `json:"key,omitempty"`
	KeyBase64     []byte            `json:"key_base64,omitempty"`
	Value         *string           `json:"value,omitempty"`
	ValueBase64   []byte            `json:"value_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	HeaderList    []api.Header      `json:"header_list,omitempty"`
	Timestamp     int64             `json:"timestamp"`
	DeliveryCount int               `json:"delivery_count,omitempty"`
}

func jsonMessage(m *client.Message) jsonOut {
	out := jsonOut{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Headers: m.Headers,
		Timestamp: m.Timestamp.UnixMilli(), DeliveryCount: m.DeliveryCount}
	text := func(b []byte) *string { s := string(b); return &s }
	switch {
	case m.Key == nil:
	case utf8.Valid(m.Key):
		out.Key = text(m.Key)
	default:
		out.KeyBase64 = m.Key
	}
	if utf8.Valid(m.Value) {
		out.Value = text(m.Value) // a null value prints as "", as it always has
	} else {
		out.ValueBase64 = m.Value
	}
	for k, v := range m.Headers {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			out.Headers, out.HeaderList = nil, headerList(m.Headers)
			break
		}
	}
	return out
}

// headerList is h as the HTTP API's header_list, sorted by key.
func headerList(h map[string]string) []api.Header {
	out := make([]api.Header, 0, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		var e api.Header
		if utf8.ValidString(k) {
			e.Key = &k
		} else {
			e.KeyBase64 = []byte(k)
		}
		if v := h[k]; utf8.ValidString(v) {
			e.Value = &v
		} else {
			e.ValueBase64 = []byte(v)
		}
		out = append(out, e)
	}
	return out
}

// consumeGroup reads as a group member, acking each printed message, and
// commits and leaves at the end.
func (c *cli) consumeGroup(ctx context.Context, topic string, o *consumeOpts) (err error) {
	cfg := &client.ConsumerConfig{
		Brokers: c.brokers, APIKey: c.apiKey, GroupID: o.group, Topics: []string{topic},
		PollWait: min(o.idle, time.Second), ClientID: "goqueue-cli",
	}
	if o.fromBeginning {
		cfg.OffsetReset = api.OffsetResetEarliest
	}
	cons, err := client.NewConsumer(cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cons.Close()) }()
	count, lastNew := 0, time.Now()
	for o.max == 0 || count < o.max {
		want := 500
		if o.max > 0 {
			want = min(want, o.max-count)
		}
		msgs, err := cons.Poll(ctx, want)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			if !o.follow && time.Since(lastNew) >= o.idle {
				break
			}
			continue
		}
		lastNew = time.Now()
		for _, m := range msgs {
			if o.max > 0 && count >= o.max {
				break // never printed: left in flight, redelivered after Close
			}
			if err := c.print(m, o); err != nil {
				return err
			}
			if err := cons.Ack(m); err != nil && !errors.Is(err, client.ErrRevoked) {
				return err
			}
			count++
		}
	}
	return cons.CommitAllContext(ctx)
}

// skipLost tells the user that partition of topic, lost, is not read.
func (c *cli) skipLost(topic string, partition int32) {
	fmt.Fprintf(c.stderr, "goqueue: partition %s/%d is lost (PARTITION_LOST: see `goqueue topic describe %s`); reading the others\n", topic, partition, topic)
}

// consumeDirect reads partitions without a group; a lost partition
// (PARTITION_LOST) is left out, said on stderr, unless it is the one asked
// for.
func (c *cli) consumeDirect(ctx context.Context, topic string, o *consumeOpts, onePartition bool) error {
	cl, err := c.admin()
	if err != nil {
		return err
	}
	info, err := cl.Topic(ctx, topic)
	if err != nil {
		return err
	}
	spec := o.from
	if spec == "" {
		spec = "latest"
		if o.fromBeginning {
			spec = "earliest"
		}
	}
	start, err := parseStart(spec, time.Now())
	if err != nil {
		return err
	}
	next := make(map[int32]int64)
	for _, p := range info.PartitionInfo {
		if onePartition && p.Partition != o.partition {
			continue
		}
		if p.Lost && !onePartition {
			// As a Kafka consumer reads the partitions that have a
			// leader: the others are still worth reading.
			c.skipLost(topic, p.Partition)
			continue
		}
		off, err := start.resolve(ctx, cl, topic, p)
		if err != nil {
			return err
		}
		next[p.Partition] = off
	}
	if onePartition && len(next) == 0 {
		return api.ErrPartitionNotFound.Withf("topic %q has partitions 0..%d; there is no partition %d", topic, info.Partitions-1, o.partition)
	}
	count, lastNew := 0, time.Now()
	for {
		got := 0
		for p := range info.Partitions {
			off, ok := next[p]
			if !ok {
				continue
			}
			fo := client.FetchOptions{Offset: off, Max: 500}
			if o.max > 0 {
				fo.Max = min(fo.Max, o.max-count)
			}
			if len(next) == 1 {
				fo.WaitMS = min(o.idle, time.Second).Milliseconds()
			}
			msgs, r, err := cl.Fetch(ctx, topic, p, fo)
			if isCode(err, api.ErrPartitionLost) && !onePartition {
				c.skipLost(topic, p) // lost since the start
				delete(next, p)
				continue
			}
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if err := c.print(m, o); err != nil {
					return err
				}
				count++
			}
			got += len(msgs)
			next[p] = r.NextOffset
			if o.max > 0 && count >= o.max {
				return nil
			}
		}
		if got > 0 {
			lastNew = time.Now()
			continue
		}
		if !o.follow && time.Since(lastNew) >= o.idle {
			return nil
		}
		if len(next) > 1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
