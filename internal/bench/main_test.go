package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// Every workload stops the goroutines it starts (producers, members,
// watchers, progress), and so does the broker the tests start.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
