package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestOperationsSettings(t *testing.T) {
	c, err := parse(t, nil, map[string]string{
		"GOQUEUE_API_KEYS":            "0123456789abcdef-a,0123456789abcdef-b",
		"GOQUEUE_AUTH_HEALTH":         "true",
		"GOQUEUE_READ_HEADER_TIMEOUT": "2s",
		"GOQUEUE_MAX_HEADER_BYTES":    "8KiB",
		"GOQUEUE_SESSION_TIMEOUT":     "45s",
		"GOQUEUE_MAX_RETRIES":         "0",
		"GOQUEUE_VISIBILITY_TIMEOUT":  "1m",
		"GOQUEUE_LOG_FORMAT":          "json",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.apiKeys) != 2 || c.apiKeys[1] != "0123456789abcdef-b" || !c.authHealth ||
		c.readHeaderTimeout != 2*time.Second || c.maxHeaderBytes != 8<<10 {
		t.Errorf("http settings: keys %q auth health %v header timeout %v header bytes %d",
			c.apiKeys, c.authHealth, c.readHeaderTimeout, c.maxHeaderBytes)
	}
	if c.broker.Groups.SessionTimeout != 45*time.Second || c.broker.Delivery.VisibilityTimeout != time.Minute {
		t.Errorf("group settings: %+v %+v", c.broker.Groups, c.broker.Delivery)
	}
	if c.broker.Delivery.MaxRetries >= 0 {
		t.Errorf("--max-retries 0 must reach delivery as 'no retries' (negative), got %d", c.broker.Delivery.MaxRetries)
	}
	if c.logFormat != "json" {
		t.Errorf("log format %q", c.logFormat)
	}

	d, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.broker.Delivery.MaxRetries != 3 || d.broker.Groups.HeartbeatInterval != 10*time.Second ||
		d.broker.Groups.DefaultAssignor != "cooperative-sticky" || d.writeTimeout <= d.maxWait || len(d.apiKeys) != 0 {
		t.Errorf("defaults: %+v", d)
	}
}

// A connection still sending its header block holds up to about twenty
// times what net/http has read of it (the header map it is building) until
// --read-header-timeout; net/http reads twice --max-header-bytes. By
// default the broker reads at most 64 KiB of a block: 300 connections
// sending "X-Pad-N: v" lines held 387 MiB of RSS when it read 128 KiB,
// 220 MiB at 64 KiB.
func TestDefaultHeaderReadBound(t *testing.T) {
	d, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(&d, http.NotFoundHandler(), slog.New(slog.DiscardHandler), context.Background())
	if srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("net/http reads up to %d bytes of a header block by default, want %d (--max-header-bytes %d)",
			srv.MaxHeaderBytes, 64<<10, d.maxHeaderBytes)
	}
}

func TestOperationsProblemsReportedTogether(t *testing.T) {
	_, err := parse(t, []string{
		"--write-timeout", "10s", // not above --max-wait (30s)
		"--tls-cert", "/nonexistent.pem", // without --tls-key
		"--api-keys", "short",
		"--log-format", "xml",
		"--max-header-bytes", "1KiB",
		"--backoff-base", "0s",
		"--max-in-flight", "0",
		"--assignor", "random",
	}, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"write timeout", "tls cert and tls key", "api key 1", "log format", "max header bytes",
		"backoff base", "max in flight", "random"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problem %q not reported in:\n%v", want, err)
		}
	}
}

func TestTLSFilesMustLoad(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/c.pem", []byte("not a certificate"), 0o600)
	_, err := parse(t, []string{"--tls-cert", dir + "/c.pem", "--tls-key", dir + "/c.pem"}, nil)
	if err == nil || !strings.Contains(err.Error(), "tls cert") {
		t.Fatalf("err = %v", err)
	}
	cert, key, _ := selfSigned(t)
	if _, err := parse(t, []string{"--tls-cert", cert, "--tls-key", key}, nil); err != nil {
		t.Fatal(err)
	}
}

// Every flag is documented in the README's configuration table.
func TestEveryFlagInREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Configuration")
	var c config
	var problems []error
	fs := pflag.NewFlagSet("goqueue", pflag.ContinueOnError)
	flagSet(fs, &c, &problems)
	fs.VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(section, "`--"+f.Name+"`") {
			t.Errorf("--%s is not in the README's configuration section", f.Name)
		}
	})
}

func TestScopedAPIKeys(t *testing.T) {
	c, err := parse(t, nil, map[string]string{
		"GOQUEUE_API_KEYS": "0123456789abcdef-a,0123456789abcdef-b:produce=orders*;consume=orders*|payments;group=billing*",
	})
	if err != nil || len(c.apiKeys) != 2 {
		t.Fatalf("keys %q: %v", c.apiKeys, err)
	}
	for _, bad := range []string{
		"0123456789abcdef-b:write=orders",                 // no such action
		"0123456789abcdef-b:produce",                      // no patterns
		"short:produce=orders",                            // the key part is too short
		"0123456789abcdef-b,0123456789abcdef-b:produce=x", // one key, two scopes
	} {
		if _, err := parse(t, []string{"--api-keys", bad}, nil); err == nil || !strings.Contains(err.Error(), "api key") {
			t.Errorf("--api-keys %q: %v", bad, err)
		}
	}
}
