package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/listen"
)

// serve listens on cfg.addr and serves until ctx ends; see serveOn.
func serve(ctx context.Context, cfg *config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	return serveOn(ctx, cfg, log, ln)
}

// serveOn serves on ln (which it closes) until ctx ends:
//
//  1. It answers at once: /livez is 200 and everything else 503 UNAVAILABLE
//     while the broker recovers its data directory.
//  2. Once the broker is open it serves the API and logs "listening".
//  3. When ctx ends it stops accepting, ends long-polls, waits up to the
//     shutdown timeout for requests in progress (then closes what remains),
//     stops the broker's loops and closes the broker, which syncs and closes
//     every file.
//
// Every goroutine it starts has returned when it returns.
func serveOn(ctx context.Context, cfg *config, log *slog.Logger, ln net.Listener) error {
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		ln.Close()
		return err
	}
	kln, err := listenKafka(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	cln, err := listenCluster(cfg)
	if err != nil {
		closeAll(ln, kln)
		return err
	}
	limit := connLimit(cfg)
	conns := listen.NewConns(limit, connLimitPerAddr(cfg, limit))
	scheme, refused := "http", refusedAnswer(conns)
	if tlsCfg != nil {
		scheme, refused = "https", nil
	}
	ln = listen.Limit(ln, conns, refused)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	pprofLn, err := listenPprof(cfg.pprofAddr)
	if err != nil {
		closeAll(ln, kln, cln)
		return err
	}
	addr := ln.Addr().String()
	warnIfExposed(log, addr, cfg)

	// Requests derive their context from reqCtx, cancelled when shutdown
	// starts so that long-polls answer at once instead of holding it up.
	reqCtx, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	sw := &switchHandler{}
	sw.set(httpapi.LimitHeaders(starting{}, int(cfg.maxHeaderBytes)))
	srv := newHTTPServer(cfg, sw, log, reqCtx)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	var pprofSrv *http.Server
	if pprofLn != nil {
		pprofSrv = newPprofServer(log)
		g.Go(func() error { return servePprof(pprofSrv, pprofLn, log) })
	}
	var h *httpapi.Server
	shutdown := func() {
		if pprofSrv != nil {
			pprofSrv.Close() // profiles in progress are cut: nothing to drain
		}
		if h != nil {
			h.Drain()
		}
		endRequests()
		sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("requests still in progress at the shutdown deadline; closing them", "err", err)
			srv.Close()
		}
		if h != nil {
			// The consumer streams: srv neither closes nor waits for the
			// connections it handed over.
			if err := h.Shutdown(sctx); err != nil {
				log.Warn("consumer streams still open at the shutdown deadline", "err", err)
			}
		}
	}

	log.Info("recovering", "addr", addr, "data_dir", cfg.broker.DataDir)
	cfg.broker.Logger = log
	b, err := broker.Open(cfg.broker)
	if err != nil {
		closeAll(kln, cln)
		shutdown()
		return errors.Join(err, g.Wait())
	}
	cn, err := openCluster(cfg, cln, b, addr, addrOf(kln), log)
	if err != nil {
		closeAll(kln)
		shutdown()
		return errors.Join(err, g.Wait(), b.Close())
	}
	h = httpapi.New(b, httpapi.Options{
		Cluster:                clusterView(cn),
		MaxBodyBytes:           cfg.maxBodyBytes,
		MaxHeaderBytes:         int(cfg.maxHeaderBytes),
		MaxBatchMessages:       cfg.maxBatchMsgs,
		MaxDecodingBytes:       cfg.maxDecoding,
		MaxFetchMemory:         cfg.maxFetchMemory,
		MetricsGroupPartitions: cfg.metricsGroupParts,
		MaxWait:                cfg.maxWait,
		StreamWriteTimeout:     cfg.writeTimeout,
		StreamReadTimeout:      cfg.readTimeout,
		Version:                version(),
		Logger:                 log,
		APIKeys:                cfg.apiKeys,
		AuthHealth:             cfg.authHealth,
	})
	if cn != nil {
		cn.api.Store(h)
	}
	sw.set(withFaultControl(h, cn, log))
	log.Info("listening", "addr", addr, "url", scheme+"://"+addr, "data_dir", cfg.broker.DataDir,
		"tls", tlsCfg != nil, "auth", len(cfg.apiKeys) > 0, "kafka_addr", addrOf(kln))

	// Serving stops (serveCtx) once the node handed off what it leads: a
	// stopping cluster node first moves its Raft groups' leadership to
	// other nodes while it still answers, so that clients follow its
	// NOT_LEADER answers instead of waiting for an election after it is
	// gone (see node.Node.HandOff).
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	// nodeFailed: the cluster node stopped on its own (a disk that failed
	// an fsync): there is nothing left to hand off, and no handOff to log.
	var nodeFailed atomic.Bool
	g.Go(func() error {
		defer stopServing()
		<-gctx.Done()
		if cn != nil && !nodeFailed.Load() {
			handOff(cn, cfg.shutdownTimeout, log)
		}
		return nil
	})
	g.Go(func() error { return b.Run(serveCtx) })
	// The cluster node stops only once the HTTP API and the Kafka listener
	// have drained: a publish they are still serving needs it to commit
	// (stopped first, it failed the write, which the client sent again:
	// twice in the log if its Raft entry had reached the followers).
	var drains sync.WaitGroup
	drains.Add(1)
	if kln != nil {
		ks := newKafka(cfg, b, tlsCfg, cn, conns, log)
		drains.Add(1)
		g.Go(func() error {
			defer drains.Done()
			return ks.Serve(serveCtx, kln)
		})
	}
	g.Go(func() error {
		defer drains.Done()
		<-serveCtx.Done()
		log.Info("draining: no new connections; waiting for requests in progress", "timeout", cfg.shutdownTimeout)
		shutdown()
		return nil
	})
	if cn != nil {
		nodeCtx, stopNode := context.WithCancel(context.Background())
		g.Go(func() error {
			defer stopNode()
			err := cn.n.Run(nodeCtx)
			if err != nil && nodeCtx.Err() == nil {
				// It stopped on its own, not because the broker stops
				// (a stop during start-up ends it with ctx's error).
				// Set before Run's error cancels gctx (errgroup cancels
				// once this returns), so the hand-off sees it.
				nodeFailed.Store(true)
				log.Error("cluster node failed; the broker stops", "err", err)
			}
			return err
		})
		g.Go(func() error {
			drains.Wait()
			stopNode()
			return nil
		})
	}
	err = g.Wait()
	if cerr := b.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close broker: %w", cerr))
	}
	if err == nil {
		log.Info("stopped cleanly")
	}
	return err
}

// handOffLimit bounds how long a stopping node hands off leadership: a
// transfer to a voter in step takes a round trip and an election among
// caught-up peers; what is not moved by then fails over as after a crash.
const handOffLimit = 5 * time.Second

// handOff moves the leadership of what the node leads to other nodes (see
// node.Node.HandOff), within handOffLimit and the shutdown timeout.
func handOff(cn *clusterBridge, shutdownTimeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), min(handOffLimit, shutdownTimeout))
	defer cancel()
	began := time.Now()
	left, err := cn.n.HandOff(ctx)
	if err != nil {
		log.Warn("handing off leadership failed; what this node led fails over by election", "err", err)
		return
	}
	log.Info("handed off leadership to other nodes", "still_led", left, "took", time.Since(began).Round(time.Millisecond))
}

// warnIfExposed logs when the broker listens beyond the loopback interface
// without TLS or API keys: possible, but it should be a decision.
func warnIfExposed(log *slog.Logger, addr string, cfg *config) {
	if isLoopback(addr) {
		return
	}
	if len(cfg.apiKeys) == 0 {
		log.Warn("listening beyond localhost without API keys: anyone who can reach the port can read and write", "addr", addr)
	}
	if cfg.tlsCert == "" {
		log.Warn("listening beyond localhost without TLS", "addr", addr)
	}
}
