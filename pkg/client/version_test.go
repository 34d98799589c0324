package client_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestVersionReadsWhatTheBrokerAnswers asks a real broker for /version
// through client.Version: both ends share api.VersionInfo, so every field
// the broker fills arrives.
func TestVersionReadsWhatTheBrokerAnswers(t *testing.T) {
	srv := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.Version = "v9.8.7" }))
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != "v9.8.7" || v.GoVersion != runtime.Version() {
		t.Fatalf("Version() = %+v, want version v9.8.7 and go_version %s", *v, runtime.Version())
	}
}
