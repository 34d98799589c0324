package httpapi_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine of the broker or its HTTP server outlives a test's Stop.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
