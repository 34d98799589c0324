package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/abd-ulbasit/goqueue/api"
)

// topicCmd is `goqueue topic create|list|describe|alter|delete`.
func (c *cli) topicCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "Create, list, describe, alter and delete topics"}
	var req api.CreateTopicRequest
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			cl, err := c.admin()
			if err != nil {
				return err
			}
			t, err := cl.CreateTopic(cmd.Context(), req)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(t)
			}
			fmt.Fprintf(c.stdout, "created topic %s with %d partition%s\n", t.Name, t.Partitions, plural(int(t.Partitions)))
			return nil
		},
	}
	f := create.Flags()
	f.Int32VarP(&req.Partitions, "partitions", "p", 0, "number of partitions (0: the broker's --partitions)")
	f.Int64Var(&req.RetentionHours, "retention-hours", 0, "keep messages this long (0: broker default, -1: forever)")
	f.Var(newSize(&req.RetentionBytes, 0), "retention-bytes", "per-partition size limit, e.g. 10GiB (0: broker default, -1: unbounded)")
	f.StringVar(&req.Fsync, "fsync", "", "always, interval or never (default: the broker's)")
	f.Var(newSize32(&req.MaxMessageBytes, 0), "max-message-bytes", "largest message, e.g. 2MiB (0: broker default)")
	f.Int32Var(&req.ReplicationFactor, "replication-factor", 0, "copies of each partition in a cluster, at most its node count (0: 3 with 3 or more nodes, else 1)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			ts, err := cl.Topics(cmd.Context())
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(api.TopicList{Topics: ts})
			}
			rows := make([][]string, 0, len(ts))
			for _, t := range ts {
				var msgs int64
				for _, p := range t.PartitionInfo {
					msgs += p.HighWatermark - p.EarliestOffset
				}
				rows = append(rows, []string{t.Name, itoa(int64(t.Partitions)), itoa(msgs), t.Fsync, retention(t.RetentionHours, t.RetentionBytes)})
			}
			return c.table([]string{"TOPIC", "PARTITIONS", "MESSAGES", "FSYNC", "RETENTION"}, rows)
		},
	}
	describe := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's settings and each partition's offsets",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			t, err := cl.Topic(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(t)
			}
			fmt.Fprintf(c.stdout, "%s\n\n", topicSettings(t))
			// In a cluster each partition's offsets are its leader's (the
			// client asks the leaders), and the leader is shown.
			clustered := false
			for _, p := range t.PartitionInfo {
				clustered = clustered || p.Leader != 0
			}
			rows := make([][]string, 0, len(t.PartitionInfo))
			for _, p := range t.PartitionInfo {
				row := []string{itoa(int64(p.Partition)), itoa(p.EarliestOffset), itoa(p.HighWatermark),
					itoa(p.HighWatermark - p.EarliestOffset), itoa(p.Bytes), itoa(int64(p.Segments))}
				switch {
				case clustered && p.Lost:
					row = append(row, "lost") // never again: see PARTITION_LOST
				case clustered:
					row = append(row, itoa(int64(p.Leader)))
				}
				rows = append(rows, row)
			}
			head := []string{"PARTITION", "EARLIEST", "HIGH-WATERMARK", "MESSAGES", "BYTES", "SEGMENTS"}
			if clustered {
				head = append(head, "LEADER")
			}
			return c.table(head, rows)
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and all its messages",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			if err := cl.DeleteTopic(cmd.Context(), args[0]); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(c.stdout, "deleted topic %s\n", args[0])
			return nil
		},
	}
	var alterReq api.AlterTopicRequest
	alter := &cobra.Command{
		Use:   "alter NAME [--partitions N] [--retention-hours H] [--retention-bytes B] [--max-message-bytes B]",
		Short: "Change a topic after its creation: partitions (increase only), retention, max message size",
		Long: `alter changes a topic's settings. More partitions: keys then map to other
partitions (the partitioner takes the count), and consumer groups of the topic
rebalance to take the new ones, read from their earliest offset. Retention
(-1: forever / unbounded) applies at the next retention check; the largest
message size to the next publish. A setting given as 0 or default goes back to
the broker's default, as a topic created without it has it (its value now: the
topic keeps it if the broker's default changes later).`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// 0 is the broker's default, as at creation; sent as null.
			set := cmd.Flags().Changed
			alterReq.Default = api.TopicDefaults{
				RetentionHours:  set("retention-hours") && alterReq.RetentionHours == 0,
				RetentionBytes:  set("retention-bytes") && alterReq.RetentionBytes == 0,
				MaxMessageBytes: set("max-message-bytes") && alterReq.MaxMessageBytes == 0,
			}
			if alterReq == (api.AlterTopicRequest{}) {
				return usageErrorf("say what to change: --partitions, --retention-hours, --retention-bytes or --max-message-bytes")
			}
			cl, err := c.admin()
			if err != nil {
				return err
			}
			t, err := cl.AlterTopic(cmd.Context(), args[0], alterReq)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(t)
			}
			fmt.Fprintln(c.stdout, topicSettings(t))
			return nil
		},
	}
	af := alter.Flags()
	af.Int32Var(&alterReq.Partitions, "partitions", 0, "the new partition count (more than now)")
	af.Int64Var(&alterReq.RetentionHours, "retention-hours", 0, "keep messages this many hours (-1: forever; 0 or default: the broker's default)")
	af.Var(newSize(&alterReq.RetentionBytes, 0), "retention-bytes", "keep at most this many bytes per partition, e.g. 10GiB (-1: unbounded; 0 or default: the broker's default)")
	af.Var(newSize32(&alterReq.MaxMessageBytes, 0), "max-message-bytes", "largest message (key + value + headers), e.g. 2MiB (0 or default: the broker's default)")
	for _, name := range []string{"retention-hours", "retention-bytes", "max-message-bytes"} {
		f := af.Lookup(name)
		f.Value = orDefault{f.Value}
	}
	cmd.AddCommand(create, list, describe, alter, del)
	return cmd
}

// orDefault is the flag of a topic setting that also takes the word
// default, read as 0: the broker's default.
type orDefault struct{ pflag.Value }

func (f orDefault) Set(s string) error {
	if s == "default" {
		s = "0"
	}
	return f.Value.Set(s)
}

// exactArgs requires n positional arguments, named in the error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			if n == 0 {
				return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
			}
			return usageErrorf("usage: %s %s", cmd.CommandPath(), names)
		}
		return nil
	}
}

// topicSettings is the line of t's settings that describe and alter print,
// one line for both so that alter confirms all that describe shows.
func topicSettings(t *api.Topic) string {
	return fmt.Sprintf("topic %s: %d partition%s, retention %s, fsync %s, max message %d bytes",
		t.Name, t.Partitions, plural(int(t.Partitions)), retention(t.RetentionHours, t.RetentionBytes), t.Fsync, t.MaxMessageBytes)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// retention says how long a topic keeps messages, and up to what size of
// each partition when it has a size bound.
func retention(hours, bytes int64) string {
	size := fmt.Sprintf("%d bytes a partition", bytes)
	switch {
	case hours < 0 && bytes < 0:
		return "forever"
	case hours < 0:
		return size
	}
	s := fmt.Sprintf("%dh", hours)
	if hours%24 == 0 {
		s = fmt.Sprintf("%dd", hours/24)
	}
	if bytes >= 0 {
		s += " or " + size
	}
	return s
}
