package gcfloor_test

import "github.com/abd-ulbasit/goqueue/pkg/gcfloor"

// An application consuming millions of messages a second gives its
// collector a 32 MiB floor for as long as it runs.
func ExampleStart() {
	defer gcfloor.Start(32 << 20)()
	// ... create the consumer and poll.
}
