package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// serve opens the broker, serves HTTP until ctx ends, then shuts down: it
// stops accepting, ends long-polls, waits up to the shutdown timeout for
// requests in progress, and closes the broker (sync and close every file).
func serve(ctx context.Context, cfg *config, log *slog.Logger) error {
	cfg.broker.Logger = log
	b, err := broker.Open(cfg.broker)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.addr, err), b.Close())
	}
	h := httpapi.New(b, httpapi.Options{
		MaxBodyBytes: cfg.maxBodyBytes,
		MaxWait:      cfg.maxWait,
		Version:      version(),
		Logger:       log,
	})
	// Requests derive their context from reqCtx, cancelled when shutdown
	// starts so that long-polls answer at once instead of holding it up.
	reqCtx, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	srv := &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String(), "data_dir", cfg.broker.DataDir)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		h.Drain()
		endRequests()
		sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("requests still in progress at the shutdown deadline; closing", "err", err)
			srv.Close()
		}
		return nil
	})
	err = g.Wait()
	if cerr := b.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close broker: %w", cerr))
	}
	if err == nil {
		log.Info("stopped cleanly")
	}
	return err
}
