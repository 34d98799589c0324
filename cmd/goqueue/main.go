// Command goqueue is the GoQueue broker. With no subcommand it serves:
// data under ./data, HTTP on localhost:8080, unless flags or GOQUEUE_*
// environment variables say otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/abd-ulbasit/goqueue/pkg/gcfloor"
)

func main() {
	os.Exit(run(os.Args[1:], environ, os.Stdout, os.Stderr))
}

// exitConfig is the exit status of a configuration that was refused.
const exitConfig = 2

// run is main without the process: it parses args, serves until a signal,
// and returns the exit status.
func run(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	var (
		cfg      config
		problems []error
	)
	root := &cobra.Command{
		Use:   "goqueue",
		Short: "GoQueue: a durable, partitioned message broker with consumer groups",
		Long: `goqueue with no subcommand starts the broker.

Every flag can also be set through its environment variable (--fsync-interval
is GOQUEUE_FSYNC_INTERVAL) and in a YAML file given with --config (or
GOQUEUE_CONFIG), under the flag's name. A flag given on the command line wins,
then the environment, then the file. goqueue config prints the result.`,
		Version:       version(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := checkSettings(cmd.Flags(), lookupEnv, &cfg, &problems); err != nil {
				return &configError{err}
			}
			log := cfg.logger(stderr)
			ctx, stop := signalContext(log)
			defer stop()
			defer gcfloor.Start(heapFloor(cfg.gcHeapFloor, lookupEnv))()
			return serve(ctx, &cfg, log)
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	flagSet(root.Flags(), &cfg, &problems)
	root.Flags().SortFlags = false
	addCLI(root, lookupEnv, os.Stdin, stdout, stderr)
	root.AddCommand(configCmd(lookupEnv, stdout))

	err := root.Execute()
	var ce *configError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "goqueue: invalid configuration (nothing was started):\n  %s\n",
			strings.ReplaceAll(ce.err.Error(), "\n", "\n  "))
		return exitConfig
	default:
		return reportError(stderr, err)
	}
}

// configError is a configuration refused before anything started.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }

// signalContext is cancelled at the first SIGINT or SIGTERM; a second one
// exits the process at once, for a shutdown that hangs.
func signalContext(log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case s := <-sigs:
			log.Info("shutting down; send the signal again to force exit", "signal", s.String())
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			log.Warn("forced exit")
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		<-exited
		cancel()
	}
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
