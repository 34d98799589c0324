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

// groupCmd is `goqueue group list|describe|reset-offsets|delete-offsets|delete`.
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
				rows = append(rows, []string{g.GroupID, g.State, itoa(g.Generation), itoa(int64(len(g.Members))), orDash(g.Assignor), itoa(g.Lag), topicsOf(&g)})
			}
			return c.table([]string{"GROUP", "STATE", "GENERATION", "MEMBERS", "ASSIGNOR", "LAG", "TOPICS"}, rows)
		},
	}
	var watch time.Duration
	describe := &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members and, per partition, owner, offsets, lag and messages in flight",
		Args:  exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			for {
				g, err := cl.Group(ctx, args[0])
				if err != nil {
					if ctx.Err() != nil {
						return errInterrupted
					}
					return err
				}
				if watch > 0 && !c.json() {
					fmt.Fprint(c.stdout, "\x1b[H\x1b[2J") // clear the screen, as watch(1) does
				}
				if c.json() {
					err = c.printJSON(g)
				} else {
					err = c.describeGroup(g)
				}
				if err != nil || watch <= 0 {
					return err
				}
				select {
				case <-ctx.Done():
					return errInterrupted
				case <-time.After(watch):
				}
			}
		},
	}
	describe.Flags().DurationVarP(&watch, "watch", "w", 0, "print again every this often (e.g. 2s) until interrupted")
	lag := &cobra.Command{
		Use:   "lag",
		Short: "Lag of every group, per partition, largest first",
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
			type row struct {
				group string
				p     api.PartitionStatus
			}
			var all []row
			for _, g := range gs {
				for _, p := range g.Partitions {
					all = append(all, row{g.GroupID, p})
				}
			}
			sort.SliceStable(all, func(i, j int) bool {
				a, b := all[i], all[j]
				if a.p.Lag != b.p.Lag {
					return a.p.Lag > b.p.Lag
				}
				if a.group != b.group {
					return a.group < b.group
				}
				if a.p.Topic != b.p.Topic {
					return a.p.Topic < b.p.Topic
				}
				return a.p.Partition < b.p.Partition
			})
			if c.json() {
				out := make([]map[string]any, 0, len(all))
				for _, r := range all {
					out = append(out, map[string]any{"group": r.group, "topic": r.p.Topic, "partition": r.p.Partition,
						"committed_offset": r.p.CommittedOffset, "high_watermark": r.p.HighWatermark, "lag": r.p.Lag, "time_lag_ms": r.p.TimeLagMS})
				}
				return c.printJSON(out)
			}
			rows := make([][]string, 0, len(all))
			for _, r := range all {
				committed := "-"
				if r.p.CommittedOffset >= 0 {
					committed = itoa(r.p.CommittedOffset)
				}
				rows = append(rows, []string{r.group, r.p.Topic, itoa(int64(r.p.Partition)), committed, itoa(r.p.HighWatermark),
					itoa(r.p.Lag), (time.Duration(r.p.TimeLagMS) * time.Millisecond).String(), orDash(r.p.Owner)})
			}
			return c.table([]string{"GROUP", "TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "TIME-LAG", "MEMBER"}, rows)
		},
	}
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
	cmd.AddCommand(list, describe, lag, c.resetOffsetsCmd(), c.deleteOffsetsCmd(), del)
	return cmd
}

// describeGroup prints a group as people read it: a summary, its members,
// then one row per partition.
func (c *cli) describeGroup(g *api.GroupDescription) error {
	assignor := ""
	if g.Assignor != "" {
		assignor = ", assignor " + g.Assignor
	}
	fmt.Fprintf(c.stdout, "group %s: %s, generation %d%s, lag %d, rebalances %d\n",
		g.GroupID, g.State, g.Generation, assignor, g.Lag, g.Rebalances.Count)
	if g.ExpiresAt != 0 {
		fmt.Fprintf(c.stdout, "expires %s with its offsets unless a member joins or it commits or resets before (--offsets-retention)\n",
			time.UnixMilli(g.ExpiresAt).UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(c.stdout)
	if len(g.Members) > 0 {
		rows := make([][]string, 0, len(g.Members))
		for _, m := range g.Members {
			parts := assignmentString(m.AssignedPartitions)
			if m.Idle {
				parts = "(idle: more members than partitions)"
			}
			rows = append(rows, []string{m.MemberID, m.ClientHost, orDash(m.InstanceID), parts, strconv.Itoa(m.InFlight)})
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
	if err := c.table([]string{"TOPIC", "PARTITION", "MEMBER", "COMMITTED", "HIGH-WATERMARK", "LAG", "TIME-LAG", "IN-FLIGHT"}, rows); err != nil {
		return err
	}
	if len(g.Rebalances.Recent) == 0 {
		return nil
	}
	fmt.Fprintln(c.stdout, "\nrecent rebalances:")
	rows = rows[:0]
	for _, r := range g.Rebalances.Recent {
		took := "in progress"
		if r.EndedAt > 0 {
			took = (time.Duration(r.EndedAt-r.StartedAt) * time.Millisecond).String()
		}
		moved := make([]string, 0, len(r.Moved))
		for _, m := range r.Moved {
			moved = append(moved, fmt.Sprintf("%s/%d %s→%s", m.Topic, m.Partition, orDash(m.From), orDash(m.To)))
		}
		rows = append(rows, []string{itoa(r.Generation), r.Reason, time.UnixMilli(r.StartedAt).UTC().Format(time.RFC3339), took,
			truncate(orDash(strings.Join(moved, " ")), 80)})
	}
	return c.table([]string{"GENERATION", "REASON", "STARTED", "TOOK", "MOVED"}, rows)
}

// orDash is s, or "-" for an empty cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// topicsOf lists the topics a group reads or has offsets for.
func topicsOf(g *api.GroupDescription) string {
	seen := map[string]bool{}
	var ts []string
	for _, m := range g.Members {
		for _, t := range m.Topics {
			if !seen[t] {
				seen[t], ts = true, append(ts, t)
			}
		}
	}
	for _, p := range g.Partitions {
		if !seen[p.Topic] {
			seen[p.Topic], ts = true, append(ts, p.Topic)
		}
	}
	sort.Strings(ts)
	return orDash(strings.Join(ts, ","))
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
