package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Exit statuses of the client subcommands, for scripts. Serving uses 0, 1
// and exitConfig (2) the same way.
const (
	exitFailure     = 1 // anything not listed below
	exitUsage       = 2 // bad flags or arguments (as exitConfig for serving)
	exitNotFound    = 3 // the topic, partition or group does not exist
	exitConflict    = 4 // already exists, not empty, fenced, ...
	exitUnavailable = 5 // no broker answered, or it is shutting down
	exitInterrupted = 130
)

// errInterrupted ends a command stopped by SIGINT or SIGTERM (exit 130).
var errInterrupted = errors.New("interrupted")

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// reportError prints err for a person, with what to do about it, and returns
// the exit status scripts can rely on.
func reportError(stderr io.Writer, err error) int {
	var (
		ue *usageError
		ae *api.Error
	)
	code, hint := exitFailure, ""
	switch {
	case errors.As(err, &ue):
		code, hint = exitUsage, "see goqueue <command> --help"
	case errors.Is(err, errInterrupted):
		return exitInterrupted // the user knows: no message
	case errors.Is(err, context.Canceled):
		code = exitInterrupted
	case errors.As(err, &ae):
		switch {
		case ae.Status == 404:
			code = exitNotFound
			switch ae.Code {
			case api.ErrTopicNotFound.Code:
				hint = "list topics with `goqueue topic list`, or create it with `goqueue topic create NAME --partitions N`"
			case api.ErrGroupNotFound.Code:
				hint = "list groups with `goqueue group list`"
			case api.ErrNotFound.Code:
				hint = "the broker does not serve this endpoint; is it an older version?"
			}
		case ae.Status == 409:
			code = exitConflict
			if ae.Code == api.ErrGroupNotEmpty.Code {
				hint = "stop the group's consumers first (`goqueue group describe GROUP` lists them)"
			}
		case ae.Status == 503 || ae.Status == 429:
			code, hint = exitUnavailable, "retry in a moment"
		case ae.Status == 400 || ae.Status == 413:
			code = exitUsage
		case ae.Code == api.ErrPartitionLost.Code:
			hint = "no retry mends a lost partition: delete the topic (`goqueue topic delete NAME`) and create it again; `goqueue topic describe NAME` shows which partitions are lost"
		}
	case errors.Is(err, client.ErrUnreachable):
		code, hint = exitUnavailable, "is the broker running? start it with `goqueue`, or point --broker / GOQUEUE_BROKER at it"
	}
	fmt.Fprintf(stderr, "goqueue: %v\n", err)
	if hint != "" {
		fmt.Fprintf(stderr, "  hint: %s\n", hint)
	}
	return code
}

// isCode reports whether err carries the wire error code of target.
func isCode(err error, target *api.Error) bool { return errors.Is(err, target) }
