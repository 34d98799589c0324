package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// listenPprof opens the profiling listener of --pprof-addr, or returns nil
// when the flag is unset (profiling is off by default).
func listenPprof(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	return ln, nil
}

// newPprofServer serves net/http/pprof on a listener of its own, never on
// the API's: profiles show code, memory and timings, so they are reachable
// only where the operator chose (localhost, by the README's advice) and
// they bypass nothing of the API's auth. /debug/pprof/cmdline is left out
// on purpose: the command line may hold --api-keys.
func newPprofServer(log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// No write timeout: a CPU profile or trace answers after its
		// ?seconds=, which the caller chooses.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// servePprof serves srv on ln until srv is closed.
func servePprof(srv *http.Server, ln net.Listener, log *slog.Logger) error {
	addr := ln.Addr().String()
	if !isLoopback(addr) {
		log.Warn("serving pprof beyond localhost: anyone who can reach the port can profile the broker", "pprof_addr", addr)
	}
	log.Info("pprof listening", "pprof_addr", addr, "url", "http://"+addr+"/debug/pprof/")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve pprof: %w", err)
	}
	return nil
}

// isLoopback reports whether the host of addr (host:port) is a loopback IP.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
