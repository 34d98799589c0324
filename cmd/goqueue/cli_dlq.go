package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// dlqCmd is `goqueue dlq list|replay TOPIC`.
func (c *cli) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect and replay a topic's dead letters (<topic>.dlq)"}
	var max int
	list := &cobra.Command{
		Use:   "list TOPIC",
		Short: "List dead letters of TOPIC with why they died",
		Args:  exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.admin()
			if err != nil {
				return err
			}
			dlq := api.DLQName(args[0])
			info, err := cl.Topic(cmd.Context(), dlq)
			if isCode(err, api.ErrTopicNotFound) {
				// No DLQ yet: nothing has died. That is an empty list
				// for a topic that exists, not an error.
				if _, err := cl.Topic(cmd.Context(), args[0]); err != nil {
					return err
				}
				info, err = &api.Topic{}, nil
			}
			if err != nil {
				return err
			}
			var all []*client.Message
			for _, p := range info.PartitionInfo {
				off := p.EarliestOffset
				for off < p.HighWatermark && (max == 0 || len(all) < max) {
					msgs, r, err := cl.Fetch(cmd.Context(), dlq, p.Partition, client.FetchOptions{Offset: off, Max: 500})
					if err != nil {
						return err
					}
					all = append(all, msgs...)
					if r.NextOffset <= off {
						break
					}
					off = r.NextOffset
				}
			}
			if max > 0 && len(all) > max {
				all = all[:max]
			}
			if c.json() {
				for _, m := range all {
					if err := c.print(m, true); err != nil {
						return err
					}
				}
				return nil
			}
			rows := make([][]string, 0, len(all))
			for _, m := range all {
				h := m.Headers
				rows = append(rows, []string{itoa(int64(m.Partition)), itoa(m.Offset),
					h[api.DLQHeaderOriginalPartition] + "/" + h[api.DLQHeaderOriginalOffset], h[api.DLQHeaderGroup],
					h[api.DLQHeaderDeliveryCount], h[api.DLQHeaderReason], h[api.DLQHeaderLastError],
					m.Timestamp.Format(time.RFC3339), truncate(string(m.Value), 40)})
			}
			return c.table([]string{"PARTITION", "OFFSET", "ORIGIN", "GROUP", "DELIVERIES", "REASON", "LAST-ERROR", "DIED", "VALUE"}, rows)
		},
	}
	list.Flags().IntVarP(&max, "max-messages", "n", 0, "list at most this many (0: all)")
	var req api.DLQReplayRequest
	replay := &cobra.Command{
		Use:   "replay TOPIC",
		Short: "Publish TOPIC's dead letters back to TOPIC (or --target)",
		Args:  exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			fmt.Fprintf(c.stdout, "replayed %d dead letters of %s; next offset %d\n", r.Replayed, api.DLQName(args[0]), r.NextOffset)
			return nil
		},
	}
	f := replay.Flags()
	f.StringVar(&req.Target, "target", "", "publish to this topic instead of the original")
	f.Int64Var(&req.Offset, "offset", 0, "start at this offset in each DLQ partition")
	f.IntVarP(&req.Max, "max-messages", "n", 0, "replay at most this many (0: all)")
	cmd.AddCommand(list, replay)
	return cmd
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
