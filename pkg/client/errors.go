package client

import (
	"errors"

	"github.com/abd-ulbasit/goqueue/api"
)

// isCode reports whether err carries the wire error code of target.
func isCode(err error, target *api.Error) bool { return errors.Is(err, target) }
