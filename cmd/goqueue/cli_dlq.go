package main

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// dlqCmd is `goqueue dlq list|show|replay|purge TOPIC`.
func (c *cli) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect, replay and purge a topic's dead letters (<topic>.dlq)"}
	cmd.AddCommand(c.dlqListCmd(), c.dlqShowCmd(), c.dlqReplayCmd(), c.dlqPurgeCmd())
	return cmd
}

// dlqFilter is the filters list and replay share.
type dlqFilter struct {
	group, reason, since, until string
}

func (f *dlqFilter) flags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.group, "group", "", "only dead letters of this group")
	fl.StringVar(&f.reason, "reason", "", "only this reason: rejected or max_retries_exceeded")
	fl.StringVar(&f.since, "since", "", "only those that died at or after: RFC 3339, ms since the epoch, or a duration ago (1h)")
	fl.StringVar(&f.until, "until", "", "only those that died before: RFC 3339, ms since the epoch, or a duration ago")
}

// knownReason reports whether --reason is one the broker writes (unset
// counts). A replay refuses another, as the broker's replay does; a list
// matches it against what each dead letter says, as it does --group: a
// DLQ may hold dead letters written by other means (a producer, an older
// broker), and the REASON column shows theirs.
func (f *dlqFilter) knownReason() bool {
	return f.reason == "" || f.reason == api.DLQReasonRejected || f.reason == api.DLQReasonMaxRetries
}

// times resolves --since and --until to ms since the epoch (0: unset).
func (f *dlqFilter) times() (since, until int64, err error) {
	parse := func(flag, s string) (int64, error) {
		if s == "" {
			return 0, nil
		}
		if d, err := time.ParseDuration(s); err == nil {
			return time.Now().Add(-d).UnixMilli(), nil
		}
		return parseTime(flag, s)
	}
	if since, err = parse("--since", f.since); err != nil {
		return 0, 0, err
	}
	until, err = parse("--until", f.until)
	return since, until, err
}

func (c *cli) dlqListCmd() *cobra.Command {
	var (
		max int
		f   dlqFilter
	)
	cmd := &cobra.Command{
		Use:   "list TOPIC",
		Short: "List dead letters of TOPIC with why, where from and when they died",
		Args:  exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			since, until, err := f.times()
			if err != nil {
				return err
			}
			if !f.knownReason() {
				fmt.Fprintf(c.stderr, "note: the broker dead-letters with reason %s or %s; listing those with reason %q\n",
					api.DLQReasonRejected, api.DLQReasonMaxRetries, f.reason)
			}
			all, err := c.deadLetters(cmd, args[0], -1, -1)
			if err != nil {
				return err
			}
			var rows [][]string
			n := 0
			for _, m := range all {
				h := m.Headers
				died := diedAt(m)
				if f.group != "" && h[api.DLQHeaderGroup] != f.group || f.reason != "" && h[api.DLQHeaderReason] != f.reason ||
					since != 0 && died.UnixMilli() < since || until != 0 && died.UnixMilli() >= until {
					continue
				}
				if max > 0 && n == max {
					break
				}
				n++
				if c.json() {
					if err := c.print(m, &consumeOpts{keys: true}); err != nil {
						return err
					}
					continue
				}
				replays := h[api.ReplayHeaderCount]
				if replays == "" {
					replays = "0"
				}
				rows = append(rows, []string{itoa(int64(m.Partition)), itoa(m.Offset),
					h[api.DLQHeaderOriginalPartition] + "/" + h[api.DLQHeaderOriginalOffset], h[api.DLQHeaderGroup],
					h[api.DLQHeaderDeliveryCount], replays, h[api.DLQHeaderReason], truncate(h[api.DLQHeaderLastError], 30),
					died.UTC().Format(time.RFC3339), truncate(string(m.Value), 40)})
			}
			if c.json() {
				return nil
			}
			return c.table([]string{"PARTITION", "OFFSET", "ORIGIN", "GROUP", "DELIVERIES", "REPLAYS", "REASON", "LAST-ERROR", "DIED", "VALUE"}, rows)
		},
	}
	cmd.Flags().IntVarP(&max, "max-messages", "n", 0, "list at most this many (0: all)")
	f.flags(cmd)
	return cmd
}

func (c *cli) dlqShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show TOPIC PARTITION OFFSET",
		Short: "Show one dead letter whole: key, value, every header",
		Args:  exactArgs(3, "TOPIC PARTITION OFFSET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err1 := strconv.ParseInt(args[1], 10, 32)
			off, err2 := strconv.ParseInt(args[2], 10, 64)
			if err1 != nil || err2 != nil || p < 0 || off < 0 {
				return usageErrorf("PARTITION and OFFSET are numbers, e.g. goqueue dlq show orders 0 42")
			}
			msgs, err := c.deadLetters(cmd, args[0], int32(p), off)
			if err != nil {
				return err
			}
			if len(msgs) == 0 || msgs[0].Offset != off {
				return api.ErrOffsetOutOfRange.Withf("%s has no dead letter at partition %d offset %d", api.DLQName(args[0]), p, off)
			}
			m := msgs[0]
			if c.json() {
				return c.print(m, &consumeOpts{keys: true})
			}
			fmt.Fprintf(c.stdout, "%s partition %d offset %d, died %s\n", api.DLQName(args[0]), m.Partition, m.Offset, diedAt(m).UTC().Format(time.RFC3339Nano))
			if m.Key != nil {
				fmt.Fprintf(c.stdout, "key: %s\n", m.Key)
			}
			keys := make([]string, 0, len(m.Headers))
			for k := range m.Headers {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintln(c.stdout, "headers:")
			for _, k := range keys {
				fmt.Fprintf(c.stdout, "  %s: %s\n", k, m.Headers[k])
			}
			fmt.Fprintf(c.stdout, "value (%d bytes):\n%s\n", len(m.Value), m.Value)
			return nil
		},
	}
}

func (c *cli) dlqReplayCmd() *cobra.Command {
	var (
		req       api.DLQReplayRequest
		f         dlqFilter
		partition int32
	)
	cmd := &cobra.Command{
		Use:   "replay TOPIC",
		Short: "Publish TOPIC's dead letters again, to the group that failed each (or --to-topic, --target)",
		Long: `replay publishes dead letters of TOPIC.dlq again, without their DLQ headers:
by default back to their partition of TOPIC for the group that dead-lettered
them only (other groups skip them); --to-topic for every group of TOPIC;
--target T to another topic. Each dead letter is replayed once (--again
replays those replayed before too); one replayed --max-replays times already
is left in the DLQ as poison. --dry-run lists what would be replayed.`,
		Args: exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !f.knownReason() {
				return usageErrorf("--reason %q: want %s or %s", f.reason, api.DLQReasonRejected, api.DLQReasonMaxRetries)
			}
			var err error
			if req.Since, req.Until, err = f.times(); err != nil {
				return err
			}
			req.Group, req.Reason = f.group, f.reason
			if cmd.Flags().Changed("partition") {
				req.Partition = &partition
			}
			cl, err := c.admin()
			if err != nil {
				return err
			}
			r, err := cl.ReplayDLQ(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(r)
			}
			verb := "replayed"
			if r.DryRun {
				verb = "would replay"
			}
			if len(r.Messages) > 0 {
				rows := make([][]string, 0, len(r.Messages))
				for _, d := range r.Messages {
					to := "group " + d.Group
					switch {
					case req.Target != "":
						to = "topic " + req.Target
					case req.ToTopic || d.Group == "":
						to = "topic " + d.OriginalTopic
					}
					rows = append(rows, []string{itoa(int64(d.Partition)), itoa(d.Offset),
						fmt.Sprintf("%s/%d/%d", d.OriginalTopic, d.OriginalPartition, d.OriginalOffset), d.Reason, strconv.Itoa(d.Replays + 1), to})
				}
				if err := c.table([]string{"PARTITION", "OFFSET", "ORIGIN", "REASON", "REPLAY", "TO"}, rows); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.stdout, "%s %d dead letters of %s; %d replayed before (--again), %d poison (replayed %d times); next offset %d\n",
				verb, r.Replayed, api.DLQName(args[0]), r.Skipped, r.Poison, maxReplays(req.MaxReplays), r.NextOffset)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Target, "target", "", "publish to this topic instead (every group of it sees them)")
	fl.BoolVar(&req.ToTopic, "to-topic", false, "publish back to TOPIC for every group, not only the one that failed them")
	fl.Int32Var(&partition, "partition", 0, "only this DLQ partition")
	fl.Int64Var(&req.Offset, "offset", 0, "start at this offset in each DLQ partition")
	fl.Int64Var(&req.EndOffset, "end-offset", 0, "stop before this DLQ offset (0: at the end)")
	fl.IntVarP(&req.Max, "max-messages", "n", 0, "replay at most this many (0: 1000)")
	fl.BoolVar(&req.Again, "again", false, "also replay dead letters replayed before")
	fl.IntVar(&req.MaxReplays, "max-replays", 0, fmt.Sprintf("leave a dead letter replayed this many times already (default %d)", api.DefaultMaxReplays))
	fl.BoolVar(&req.DryRun, "dry-run", false, "list what would be replayed; change nothing")
	f.flags(cmd)
	return cmd
}

func maxReplays(n int) int {
	if n == 0 {
		return api.DefaultMaxReplays
	}
	return n
}

func (c *cli) dlqPurgeCmd() *cobra.Command {
	var execute bool
	cmd := &cobra.Command{
		Use:   "purge TOPIC [--execute]",
		Short: "Delete every dead letter of TOPIC (shows how many without --execute)",
		Args:  exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			dlq := api.DLQName(args[0])
			info, err := cl.Topic(cmd.Context(), dlq)
			if isCode(err, api.ErrTopicNotFound) {
				if _, err := cl.Topic(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "%s has no dead letters\n", args[0])
				return nil
			}
			if err != nil {
				return err
			}
			var n int64
			for _, p := range info.PartitionInfo {
				n += p.HighWatermark - p.EarliestOffset
			}
			if !execute {
				fmt.Fprintf(c.stdout, "would purge %d dead letters of %s\n", n, dlq)
				fmt.Fprintf(c.stderr, "preview only: nothing changed; add --execute to purge them\n")
				return nil
			}
			if err := cl.PurgeDLQ(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "purged %d dead letters of %s\n", n, dlq)
			return nil
		},
	}
	cmd.Flags().BoolVar(&execute, "execute", false, "purge (without it, only say how many would go)")
	return cmd
}

// deadLetters reads TOPIC's DLQ: every message, or with partition ≥ 0 the
// one at offset. A DLQ that does not exist yet (nothing died) is empty; an
// unknown TOPIC is TOPIC_NOT_FOUND.
func (c *cli) deadLetters(cmd *cobra.Command, topic string, partition int32, offset int64) ([]*client.Message, error) {
	cl, err := c.admin()
	if err != nil {
		return nil, err
	}
	dlq := api.DLQName(topic)
	info, err := cl.Topic(cmd.Context(), dlq)
	if isCode(err, api.ErrTopicNotFound) {
		_, err := cl.Topic(cmd.Context(), topic)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if partition >= 0 {
		msgs, _, err := cl.Fetch(cmd.Context(), dlq, partition, client.FetchOptions{Offset: offset, Max: 1})
		return msgs, err
	}
	var all []*client.Message
	for _, p := range info.PartitionInfo {
		for off := p.EarliestOffset; off < p.HighWatermark; {
			msgs, r, err := cl.Fetch(cmd.Context(), dlq, p.Partition, client.FetchOptions{Offset: off, Max: 500})
			if err != nil {
				return nil, err
			}
			all = append(all, msgs...)
			if r.NextOffset <= off {
				break
			}
			off = r.NextOffset
		}
	}
	return all, nil
}

// diedAt is when a dead letter died: its died-at header, or for one
// written before that header existed, its original timestamp.
func diedAt(m *client.Message) time.Time {
	if ms, err := strconv.ParseInt(m.Headers[api.DLQHeaderDiedAt], 10, 64); err == nil {
		return time.UnixMilli(ms)
	}
	return m.Timestamp
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
