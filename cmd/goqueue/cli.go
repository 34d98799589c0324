package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// defaultBroker is where the CLI looks for a broker when neither --broker nor
// GOQUEUE_BROKER says otherwise: the address `goqueue` serves on by default.
const defaultBroker = "localhost:8080"

// cli is the state shared by the client subcommands: where the broker is,
// how to print, and the process's streams. Immutable once flags are parsed.
type cli struct {
	brokers   []string
	apiKey    string // sent as X-API-Key; "" when the broker needs none
	output    string // "table" or "json"
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
}

// addCLI registers the client subcommands (topic, produce, consume, group,
// dlq) on root.
func addCLI(root *cobra.Command, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
	for _, cmd := range []*cobra.Command{c.topicCmd(), c.produceCmd(), c.consumeCmd(), c.groupCmd(), c.dlqCmd(), c.benchCmd()} {
		c.bindFlags(cmd)
		root.AddCommand(cmd)
	}
}

// bindFlags adds --broker and --output to a top-level subcommand and its
// children; GOQUEUE_BROKER supplies --broker when it is not given.
func (c *cli) bindFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringSliceVarP(&c.brokers, "broker", "b", nil, "broker address host:port, repeatable or comma-separated (env GOQUEUE_BROKER; default "+defaultBroker+")")
	f.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	f.StringVar(&c.apiKey, "api-key", "", "API key for a broker started with --api-keys (env GOQUEUE_API_KEY)")
	if cmd.HasSubCommands() {
		// A group of commands: help when called alone, a usage error for
		// a subcommand that does not exist (cobra would print help and
		// exit 0, which a script would take for success).
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
		}
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("broker") {
			c.brokers = []string{defaultBroker}
			if v, ok := c.lookupEnv("GOQUEUE_BROKER"); ok && v != "" {
				c.brokers = []string{v}
			}
		}
		if v, ok := c.lookupEnv("GOQUEUE_API_KEY"); ok && !cmd.Flags().Changed("api-key") {
			c.apiKey = v
		}
		if c.output != "table" && c.output != "json" {
			return usageErrorf("--output must be table or json, not %q", c.output)
		}
		return nil
	}
}

// admin returns a Client for the configured brokers.
func (c *cli) admin() (*client.Client, error) {
	return client.NewWithConfig(&client.Config{Brokers: c.brokers, APIKey: c.apiKey})
}

// json reports whether the user asked for JSON output.
func (c *cli) json() bool { return c.output == "json" }

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned.
func (c *cli) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		for i, s := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, s)
		}
		fmt.Fprintln(tw)
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return tw.Flush()
}

// commandContext is cancelled by SIGINT or SIGTERM, so long commands
// (consume --follow, a large produce) stop cleanly.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}
