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
	cmd.AddCommand(list, describe, c.resetOffsetsCmd(), c.deleteOffsetsCmd(), del)
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
