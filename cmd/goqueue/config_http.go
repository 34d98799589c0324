package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"

	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// validateDelivery checks the consumer-group delivery settings and turns
// --max-retries into delivery's encoding (negative: no retries).
func (c *config) validateDelivery() []error {
	var errs []error
	dl := &c.broker.Delivery
	switch {
	case c.maxRetries < 0:
		errs = append(errs, fmt.Errorf("max retries %d must not be negative", c.maxRetries))
	case c.maxRetries == 0:
		dl.MaxRetries = -1
	default:
		dl.MaxRetries = c.maxRetries
	}
	if dl.BackoffBase <= 0 || dl.BackoffMax < dl.BackoffBase {
		errs = append(errs, fmt.Errorf("backoff base %v must be positive and at most backoff max %v", dl.BackoffBase, dl.BackoffMax))
	}
	if dl.VisibilityTimeout <= 0 {
		errs = append(errs, fmt.Errorf("visibility timeout %v must be positive", dl.VisibilityTimeout))
	}
	if dl.MaxInFlightPerMember < 1 {
		errs = append(errs, fmt.Errorf("max in flight %d must be at least 1", dl.MaxInFlightPerMember))
	}
	return errs
}

// validateHTTP checks the server's timeouts, limits, TLS files and keys.
func (c *config) validateHTTP() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.readHeaderTimeout <= 0 {
		bad("read header timeout %v must be positive", c.readHeaderTimeout)
	}
	if c.readTimeout < c.readHeaderTimeout {
		bad("read timeout %v must be at least the read header timeout %v", c.readTimeout, c.readHeaderTimeout)
	}
	// A long-poll holds its answer for up to max-wait; the write deadline
	// must leave room for it or every long-poll would be cut.
	if c.writeTimeout <= c.maxWait {
		bad("write timeout %v must be longer than max wait %v (long-polls answer within max wait)", c.writeTimeout, c.maxWait)
	}
	if c.idleTimeout <= 0 {
		bad("idle timeout %v must be positive", c.idleTimeout)
	}
	if c.maxConns < 0 {
		bad("max connections %d must be 0 (derived from the open-file limit) or positive", c.maxConns)
	}
	if c.maxConnsPerAddr < 0 {
		bad("max connections per address %d must be 0 (derived from max connections) or positive", c.maxConnsPerAddr)
	}
	if c.maxHeaderBytes < 4<<10 || c.maxHeaderBytes > 16<<20 {
		bad("max header bytes %d must be between 4KiB and 16MiB", c.maxHeaderBytes)
	}
	switch {
	case (c.tlsCert == "") != (c.tlsKey == ""):
		bad("tls cert and tls key must be given together")
	case c.tlsCert != "":
		if _, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey); err != nil {
			bad("tls cert %q and key %q: %v", c.tlsCert, c.tlsKey, err)
		}
	}
	seen := make(map[string]bool, len(c.apiKeys))
	for i, entry := range c.apiKeys {
		k, err := httpapi.ParseAPIKey(entry)
		switch {
		case err != nil:
			bad("api key %d: %v (KEY, or KEY:ACTION=PATTERN[|PATTERN...][;...] with ACTION produce, consume, group or admin)", i+1, err)
		case len(k) < 16:
			bad("api key %d is %d characters; use at least 16 (e.g. openssl rand -hex 24)", i+1, len(k))
		case seen[k]:
			bad("api key %d is given twice; give each key one scope", i+1)
		}
		seen[k] = true
	}
	return errs
}

// tlsConfig loads the certificate; validate has checked that it loads.
func (c *config) tlsConfig() (*tls.Config, error) {
	if c.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// logger builds the process logger writing to w: info and above by default
// (one line per notable event), as text or JSON.
func (c *config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
