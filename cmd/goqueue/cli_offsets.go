package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/api"
)

// resetFlags are the flags of `group reset-offsets` and `group
// delete-offsets`: exactly one mode, the partitions, and --execute.
type resetFlags struct {
	to        string
	timestamp string // with --to timestamp, or --to-datetime
	datetime  string
	duration  time.Duration
	shift     int64
	toOffset  int64
	offsets   []string
	fromGroup string
	topics    []string // TOPIC or TOPIC:P,P
	allTopics bool
	execute   bool
}

const resetModes = `Exactly one of:
  --to earliest | --to latest       the oldest message kept | only messages published from now on
  --to-datetime T                   the first message at or after T (RFC 3339, or ms since the epoch)
  --by-duration D                   the first message at or after D ago (e.g. 1h, 30m)
  --shift-by N                      the committed offset moved by N (negative: back)
  --to-offset N                     offset N on every chosen partition
  --offset TOPIC:PARTITION=OFFSET   exact offsets (repeatable)
  --from-group G                    G's committed offsets (a copy)
Partitions: --topic TOPIC (repeatable) or --topic TOPIC:0,2 (some partitions of one
topic); default --all-topics, every topic the group has offsets for (with
--from-group: every topic G has offsets for). Offsets past either end of a
partition stop at that end.`

// resetOffsetsCmd is `goqueue group reset-offsets GROUP`.
func (c *cli) resetOffsetsCmd() *cobra.Command {
	var f resetFlags
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--to earliest|latest | --to-datetime T | --by-duration D | --shift-by N | --to-offset N | --offset T:P=O | --from-group G) [--topic T[:P,...]] [--execute]",
		Short: "Preview, then with --execute move, a group's committed offsets (the group must have no members)",
		Long: `reset-offsets shows, per partition, the group's committed offset now and
where the reset would move it, and changes nothing. Run it again with
--execute to apply it; the group must then have no members (stop its
consumers first: GROUP_NOT_EMPTY otherwise).

` + resetModes,
		Args: exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := f.request(cmd)
			if err != nil {
				return err
			}
			return c.runReset(cmd, args[0], req)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "earliest or latest (also timestamp with --timestamp, offsets with --offset)")
	fl.StringVar(&f.datetime, "to-datetime", "", "reset to the first message at or after this time (RFC 3339 or ms since the epoch)")
	fl.StringVar(&f.timestamp, "timestamp", "", "with --to timestamp: the same as --to-datetime")
	fl.DurationVar(&f.duration, "by-duration", 0, "reset to the first message at or after this long ago (e.g. 1h)")
	fl.Int64Var(&f.shift, "shift-by", 0, "move the committed offsets by N (negative: back)")
	fl.Int64Var(&f.toOffset, "to-offset", -1, "reset every chosen partition to this offset")
	fl.StringSliceVar(&f.offsets, "offset", nil, "exact offset TOPIC:PARTITION=OFFSET (repeatable)")
	fl.StringVar(&f.fromGroup, "from-group", "", "copy this group's committed offsets")
	f.scopeFlags(cmd)
	return cmd
}

// deleteOffsetsCmd is `goqueue group delete-offsets GROUP --topic T`.
func (c *cli) deleteOffsetsCmd() *cobra.Command {
	var f resetFlags
	cmd := &cobra.Command{
		Use:   "delete-offsets GROUP --topic TOPIC[:P,...] [--execute]",
		Short: "Preview, then with --execute forget, a group's offsets of some topics",
		Long: `delete-offsets forgets the group's committed offsets of the topics (or
partitions) named: its next join starts them from its offset_reset policy
(earliest by default). Without --execute it shows what it would delete. The
group must have no members to execute it.`,
		Args: exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(f.topics) == 0 {
				return usageErrorf("delete-offsets needs --topic TOPIC (the topics whose offsets to forget)")
			}
			f.to = api.ResetToDelete
			req, err := f.request(cmd)
			if err != nil {
				return err
			}
			return c.runReset(cmd, args[0], req)
		},
	}
	f.scopeFlags(cmd)
	return cmd
}

func (f *resetFlags) scopeFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.topics, "topic", nil, "only this topic, or TOPIC:0,2 for some of its partitions (repeatable)")
	fl.BoolVar(&f.allTopics, "all-topics", false, "every topic the group has offsets for (the default)")
	fl.BoolVar(&f.execute, "execute", false, "apply the reset (without it, only show what it would do)")
}

// request turns the flags into a request, checking that exactly one mode
// was chosen.
func (f *resetFlags) request(cmd *cobra.Command) (api.ResetOffsetsRequest, error) {
	req := api.ResetOffsetsRequest{DryRun: !f.execute}
	changed := cmd.Flags().Changed
	var modes []string
	for _, name := range []string{"to", "to-datetime", "by-duration", "shift-by", "to-offset", "from-group"} {
		if changed(name) {
			modes = append(modes, "--"+name)
		}
	}
	if changed("offset") && !(changed("to") && f.to == api.ResetToOffsets) {
		modes = append(modes, "--offset")
	}
	if f.to == api.ResetToDelete {
		modes = append(modes, "delete")
	}
	if len(modes) != 1 {
		if len(modes) == 0 {
			return req, usageErrorf("say where to: --to earliest|latest, --to-datetime, --by-duration, --shift-by, --to-offset, --offset or --from-group")
		}
		return req, usageErrorf("choose one of %s", strings.Join(modes, ", "))
	}
	if f.allTopics && len(f.topics) > 0 {
		return req, usageErrorf("--all-topics and --topic exclude each other")
	}
	for _, t := range f.topics {
		name, parts, hasParts := strings.Cut(t, ":")
		if name == "" {
			return req, usageErrorf("--topic %q: want TOPIC or TOPIC:0,2", t)
		}
		req.Topics = append(req.Topics, name)
		if !hasParts {
			continue
		}
		if len(f.topics) > 1 {
			return req, usageErrorf("--topic %q: partitions can be chosen for one topic at a time", t)
		}
		for _, p := range strings.Split(parts, ",") {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil || n < 0 {
				return req, usageErrorf("--topic %q: partitions are numbers, e.g. orders:0,2", t)
			}
			req.Partitions = append(req.Partitions, int32(n))
		}
	}
	switch {
	case f.to == api.ResetToDelete:
		req.To = api.ResetToDelete
	case changed("to"):
		switch f.to {
		case api.ResetToEarliest, api.ResetToLatest:
			req.To = f.to
		case api.ResetToTimestamp:
			ms, err := parseTime("--timestamp", f.timestamp)
			if err != nil {
				return req, err
			}
			req.To, req.Timestamp = api.ResetToTimestamp, ms
		case api.ResetToOffsets:
			o, err := parseOffsets(f.offsets)
			if err != nil {
				return req, err
			}
			req.To, req.Offsets = api.ResetToOffsets, o
		default:
			return req, usageErrorf("--to must be earliest or latest, not %q (see --help for the other modes)", f.to)
		}
	case changed("to-datetime"):
		ms, err := parseTime("--to-datetime", f.datetime)
		if err != nil {
			return req, err
		}
		req.To, req.Timestamp = api.ResetToTimestamp, ms
	case changed("by-duration"):
		if f.duration <= 0 {
			return req, usageErrorf("--by-duration must be positive, e.g. 1h")
		}
		req.To, req.DurationMS = api.ResetToDuration, f.duration.Milliseconds()
	case changed("shift-by"):
		if f.shift == 0 {
			return req, usageErrorf("--shift-by must not be 0")
		}
		req.To, req.Shift = api.ResetToShift, f.shift
	case changed("to-offset"):
		if f.toOffset < 0 || len(req.Topics) != 1 || len(req.Partitions) == 0 {
			return req, usageErrorf("--to-offset N needs N ≥ 0 and --topic TOPIC:PARTITIONS (e.g. --topic orders:0,1)")
		}
		req.To, req.Offsets = api.ResetToOffsets, api.Offsets{req.Topics[0]: {}}
		for _, p := range req.Partitions {
			req.Offsets[req.Topics[0]][p] = f.toOffset
		}
		req.Topics, req.Partitions = nil, nil
	case changed("offset"):
		o, err := parseOffsets(f.offsets)
		if err != nil {
			return req, err
		}
		req.To, req.Offsets = api.ResetToOffsets, o
		if len(req.Topics) > 0 {
			return req, usageErrorf("--offset names its partitions; leave out --topic")
		}
	case changed("from-group"):
		req.To, req.FromGroup = api.ResetToGroup, f.fromGroup
	}
	return req, nil
}

// runReset sends req and prints what changed (or would change).
func (c *cli) runReset(cmd *cobra.Command, group string, req api.ResetOffsetsRequest) error {
	cl, err := c.admin()
	if err != nil {
		return err
	}
	r, err := cl.ResetOffsets(cmd.Context(), group, req)
	if err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(r)
	}
	offset := func(o int64) string {
		if o < 0 {
			return "-"
		}
		return itoa(o)
	}
	rows := make([][]string, 0, len(r.Changes))
	for _, ch := range r.Changes {
		rows = append(rows, []string{ch.Topic, itoa(int64(ch.Partition)), offset(ch.From), offset(ch.To)})
	}
	if err := c.table([]string{"TOPIC", "PARTITION", "CURRENT", "NEW"}, rows); err != nil {
		return err
	}
	if r.DryRun {
		fmt.Fprintf(c.stderr, "preview only: nothing changed; add --execute to apply it to group %s\n", group)
	}
	return nil
}

// parseTime reads an RFC 3339 time or ms since the epoch.
func parseTime(flag, s string) (int64, error) {
	if s == "" {
		return 0, usageErrorf("%s needs a time (RFC 3339 or ms since the epoch)", flag)
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, usageErrorf("%s %q is neither RFC 3339 (2024-01-02T15:04:05Z) nor ms since the epoch", flag, s)
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
