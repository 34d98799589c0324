package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// progressMin is the input size from which produce shows a progress bar.
const progressMin = 1 << 20

// produceCmd is `goqueue produce TOPIC`: one message per input line.
func (c *cli) produceCmd() *cobra.Command {
	var (
		file      string
		key       string
		keySep    string
		partition int32
		progress  bool
		quiet     bool
		headers   []string
		timestamp string
		jsonLines bool
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Publish one message per line of stdin (or --file)",
		Long: `produce publishes each input line as one message (the newline is not part
of it; empty lines are skipped). --key gives every message the same key;
--key-separator splits each line into KEY SEP VALUE instead. Keyed messages
go to the partition the broker's murmur2 partitioner picks; keyless ones are
spread a request at a time (Kafka's sticky partitioner: all of a request's
keyless lines go to one partition, the next request's to another), so a
small input may land in one partition. --header k=v
(repeatable) and --timestamp (RFC 3339 or ms since the epoch) apply to every
message. With --json-lines each line is a JSON object
{"key","value","headers","timestamp","partition"} (value: a string is sent as
its text, anything else as its JSON; timestamp in ms); only value is needed.

A progress bar is shown on stderr for inputs of 1 MiB or more read from a
file (--progress forces it, --quiet hides it).`,
		Args: exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if key != "" && keySep != "" || jsonLines && (key != "" || keySep != "") {
				return usageErrorf("give one of --key, --key-separator and --json-lines")
			}
			var common client.Record
			for _, h := range headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok || k == "" {
					return usageErrorf("--header %q: want KEY=VALUE", h)
				}
				common.Headers = append(common.Headers, client.Header{Key: k, Value: []byte(v)})
			}
			if timestamp != "" {
				ms, err := parseTime("--timestamp", timestamp)
				if err != nil {
					return err
				}
				common.Timestamp = time.UnixMilli(ms)
			}
			in, size := c.stdin, int64(-1)
			if file != "" && file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usageErrorf("cannot read --file: %v", err)
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				in = f
			}
			var bar *progressbar.ProgressBar
			if !quiet && (progress || size >= progressMin) {
				bar = progressbar.NewOptions64(size,
					progressbar.OptionSetWriter(c.stderr), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("producing "+topic), progressbar.OptionThrottle(100e6),
					progressbar.OptionClearOnFinish())
				r := progressbar.NewReader(in, bar)
				in = &r
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			p, err := client.NewProducer(&client.ProducerConfig{Brokers: c.brokers, APIKey: c.apiKey})
			if err != nil {
				return err
			}
			defer p.Close()

			var (
				mu       sync.Mutex
				firstErr error
				perPart  = make(map[int32]int64)
				done     int64
			)
			cb := func(at client.Position, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				perPart[at.Partition]++
				done++
			}
			failed := func() error {
				mu.Lock()
				defer mu.Unlock()
				return firstErr
			}
			sc := bufio.NewScanner(in)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			sent := int64(0)
			for sc.Scan() {
				line := sc.Bytes()
				if len(line) == 0 {
					continue
				}
				rec := &client.Record{Value: bytes.Clone(line), Headers: common.Headers, Timestamp: common.Timestamp}
				switch {
				case jsonLines:
					if err := fromJSONLine(rec, line); err != nil {
						return usageErrorf("line %d: %v", sent+1, err)
					}
				case key != "":
					rec.Key = []byte(key)
				case keySep != "":
					k, v, ok := bytes.Cut(line, []byte(keySep))
					if !ok {
						return usageErrorf("line %d has no key separator %q", sent+1, keySep)
					}
					rec.Key, rec.Value = bytes.Clone(k), bytes.Clone(v)
				}
				if cmd.Flags().Changed("partition") && rec.Partition == nil {
					rec.Partition = &partition
				}
				p.PublishAsync(ctx, topic, rec, cb)
				sent++
				if sent%4096 == 0 {
					if err := failed(); err != nil {
						return err
					}
				}
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("reading input: %w", err)
			}
			if ctx.Err() != nil {
				return errInterrupted
			}
			if err := p.Flush(ctx); err != nil {
				return err
			}
			if bar != nil {
				_ = bar.Finish()
			}
			if err := failed(); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"topic": topic, "messages": done, "partitions": perPart})
			}
			fmt.Fprintf(c.stderr, "produced %d messages to %s\n", done, topic)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "read lines from this file instead of stdin")
	f.StringVarP(&key, "key", "k", "", "key for every message")
	f.StringVar(&keySep, "key-separator", "", "split each line into key and value at the first SEP")
	f.Int32VarP(&partition, "partition", "p", 0, "publish to this partition (default: by key, or spread a request at a time)")
	f.BoolVar(&progress, "progress", false, "always show a progress bar")
	f.BoolVarP(&quiet, "quiet", "q", false, "never show a progress bar")
	f.StringArrayVarP(&headers, "header", "H", nil, "header KEY=VALUE for every message (repeatable)")
	f.StringVar(&timestamp, "timestamp", "", "timestamp of every message: RFC 3339 or ms since the epoch (default: now)")
	f.BoolVar(&jsonLines, "json-lines", false, `each line is {"key","value","headers","timestamp","partition"}`)
	return cmd
}

// jsonLine is one line of produce --json-lines.
type jsonLine struct {
	Key       *string           `json:"key"`
	Value     json.RawMessage   `json:"value"`
	Headers   map[string]string `json:"headers"`
	Timestamp int64             `json:"timestamp"`
	Partition *int32            `json:"partition"`
}

// fromJSONLine fills rec from a JSON line: a string value is sent as its
// text, any other JSON value as its JSON text (as the HTTP API stores it).
func fromJSONLine(rec *client.Record, line []byte) error {
	var l jsonLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return fmt.Errorf("not a JSON object of key, value, headers, timestamp, partition: %v", err)
	}
	var text string
	switch {
	case len(l.Value) == 0 || string(l.Value) == "null":
		rec.Value = nil
	case json.Unmarshal(l.Value, &text) == nil:
		rec.Value = []byte(text)
	default:
		rec.Value = bytes.Clone(l.Value)
	}
	if l.Key != nil {
		rec.Key = []byte(*l.Key)
	}
	keys := make([]string, 0, len(l.Headers))
	for k := range l.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rec.Headers = slices.Clone(rec.Headers)
	for _, k := range keys {
		rec.Headers = append(rec.Headers, client.Header{Key: k, Value: []byte(l.Headers[k])})
	}
	if l.Timestamp != 0 {
		rec.Timestamp = time.UnixMilli(l.Timestamp)
	}
	rec.Partition = l.Partition
	return nil
}
