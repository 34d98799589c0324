package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/api"
)

// groupCmd is `goqueue group list|describe|reset-offsets|delete`.
func (c *cli) groupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Inspect consumer groups and move their offsets"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups with their state, members and lag",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			gs, err := cl.Groups(cmd.Context())
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(api.GroupList{Groups: gs})
			}
			rows := make([][]string, 0, len(gs))
			for _, g := range gs {
				rows = append(rows, []string{g.GroupID, g.State, itoa(g.Generation), itoa(int64(len(g.Members))), g.Assignor, itoa(g.Lag)})
			}
			return c.table([]string{"GROUP", "STATE", "GENERATION", "MEMBERS", "ASSIGNOR", "LAG"}, rows)
		},
	}
	describe := &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members and, per partition, owner, offsets, lag and messages in flight",
		Args:  exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			g, err := cl.Group(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(g)
			}
			return c.describeGroup(g)
		},
	}
	var (
		to        string
		topics    []string
		timestamp string
		offsets   []string
	)
	reset := &cobra.Command{
		Use:   "reset-offsets GROUP --to earliest|latest|timestamp|offsets",
		Short: "Move a group's committed offsets (the group must have no members)",
		Long: `reset-offsets sets where an empty group resumes:
  --to earliest                 the oldest message still kept
  --to latest                   only messages published from now on
  --to timestamp --timestamp T  the first message at or after T (RFC 3339 or ms since the epoch)
  --to offsets --offset TOPIC:PARTITION=OFFSET ...
--topic limits it to some topics (default: every topic the group has offsets for).
Stop the group's consumers first: a group with members answers GROUP_NOT_EMPTY.`,
		Args: exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.ResetOffsetsRequest{To: to, Topics: topics}
			switch to {
			case "earliest", "latest":
			case "timestamp":
				ms, err := parseTime(timestamp)
				if err != nil {
					return err
				}
				req.Timestamp = ms
			case "offsets":
				o, err := parseOffsets(offsets)
				if err != nil {
					return err
				}
				req.Offsets = o
			default:
				return usageErrorf("--to must be earliest, latest, timestamp or offsets, not %q", to)
			}
			cl, err := c.admin()
			if err != nil {
				return err
			}
			got, err := cl.ResetOffsets(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(api.OffsetsResponse{GroupID: args[0], Offsets: got})
			}
			return c.offsetTable(got)
		},
	}
	f := reset.Flags()
	f.StringVar(&to, "to", "", "earliest, latest, timestamp or offsets (required)")
	f.StringSliceVar(&topics, "topic", nil, "only these topics (repeatable)")
	f.StringVar(&timestamp, "timestamp", "", "with --to timestamp: RFC 3339 time or ms since the epoch")
	f.StringSliceVar(&offsets, "offset", nil, "with --to offsets: TOPIC:PARTITION=OFFSET (repeatable)")
	del := &cobra.Command{
		Use:   "delete GROUP",
		Short: "Delete a group with no members, and its offsets",
		Args:  exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			if err := cl.DeleteGroup(cmd.Context(), args[0]); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(c.stdout, "deleted group %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, describe, reset, del)
	return cmd
}

// describeGroup prints a group as people read it: a summary, its members,
// then one row per partition.
func (c *cli) describeGroup(g *api.GroupDescription) error {
	fmt.Fprintf(c.stdout, "group %s: %s, generation %d, assignor %s, lag %d, rebalances %d\n\n",
		g.GroupID, g.State, g.Generation, g.Assignor, g.Lag, g.Rebalances.Count)
	if len(g.Members) > 0 {
		rows := make([][]string, 0, len(g.Members))
		for _, m := range g.Members {
			parts := assignmentString(m.AssignedPartitions)
			if m.Idle {
				parts = "(idle: more members than partitions)"
			}
			rows = append(rows, []string{m.MemberID, m.ClientHost, m.InstanceID, parts, strconv.Itoa(m.InFlight)})
		}
		if err := c.table([]string{"MEMBER", "HOST", "INSTANCE", "PARTITIONS", "IN-FLIGHT"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout)
	}
	ps := append([]api.PartitionStatus(nil), g.Partitions...)
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Topic != ps[j].Topic {
			return ps[i].Topic < ps[j].Topic
		}
		return ps[i].Partition < ps[j].Partition
	})
	rows := make([][]string, 0, len(ps))
	for _, p := range ps {
		owner, committed := p.Owner, itoa(p.CommittedOffset)
		if owner == "" {
			owner = "-"
		}
		if p.CommittedOffset < 0 {
			committed = "-"
		}
		rows = append(rows, []string{p.Topic, itoa(int64(p.Partition)), owner, committed, itoa(p.HighWatermark),
			itoa(p.Lag), (time.Duration(p.TimeLagMS) * time.Millisecond).String(), strconv.Itoa(p.InFlight)})
	}
	return c.table([]string{"TOPIC", "PARTITION", "MEMBER", "COMMITTED", "HIGH-WATERMARK", "LAG", "TIME-LAG", "IN-FLIGHT"}, rows)
}

// offsetTable prints offsets one row per partition.
func (c *cli) offsetTable(o api.Offsets) error {
	var rows [][]string
	for topic, ps := range o {
		for p, off := range ps {
			rows = append(rows, []string{topic, itoa(int64(p)), itoa(off)})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i][0] != rows[j][0] {
			return rows[i][0] < rows[j][0]
		}
		a, _ := strconv.Atoi(rows[i][1])
		b, _ := strconv.Atoi(rows[j][1])
		return a < b
	})
	return c.table([]string{"TOPIC", "PARTITION", "OFFSET"}, rows)
}

// assignmentString is "orders[0,1] payments[2]".
func assignmentString(a api.Assignment) string {
	topics := make([]string, 0, len(a))
	for t := range a {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	var b strings.Builder
	for i, t := range topics {
		if i > 0 {
			b.WriteByte(' ')
		}
		ps := make([]string, len(a[t]))
		for j, p := range a[t] {
			ps[j] = itoa(int64(p))
		}
		fmt.Fprintf(&b, "%s[%s]", t, strings.Join(ps, ","))
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// parseTime reads an RFC 3339 time or ms since the epoch.
func parseTime(s string) (int64, error) {
	if s == "" {
		return 0, usageErrorf("--to timestamp needs --timestamp")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, usageErrorf("--timestamp %q is neither RFC 3339 (2024-01-02T15:04:05Z) nor ms since the epoch", s)
	}
	return t.UnixMilli(), nil
}

// parseOffsets reads TOPIC:PARTITION=OFFSET items.
func parseOffsets(items []string) (api.Offsets, error) {
	if len(items) == 0 {
		return nil, usageErrorf("--to offsets needs at least one --offset TOPIC:PARTITION=OFFSET")
	}
	o := make(api.Offsets)
	for _, it := range items {
		tp, off, ok1 := strings.Cut(it, "=")
		topic, part, ok2 := strings.Cut(tp, ":")
		p, err1 := strconv.ParseInt(part, 10, 32)
		n, err2 := strconv.ParseInt(off, 10, 64)
		if !ok1 || !ok2 || topic == "" || err1 != nil || err2 != nil {
			return nil, usageErrorf("--offset %q: want TOPIC:PARTITION=OFFSET, e.g. orders:0=42", it)
		}
		if o[topic] == nil {
			o[topic] = make(map[int32]int64)
		}
		o[topic][int32(p)] = n
	}
	return o, nil
}
