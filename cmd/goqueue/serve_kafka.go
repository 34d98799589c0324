package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/kafka"
	"github.com/abd-ulbasit/goqueue/internal/listen"
)

// listenKafka opens the Kafka listener, if one is configured, before the
// broker recovers: a taken port fails the start at once. Connections wait in
// the backlog until the broker is open.
func listenKafka(cfg *config) (net.Listener, error) {
	if cfg.kafka.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.kafka.addr)
	if err != nil {
		return nil, fmt.Errorf("kafka listen on %s: %w", cfg.kafka.addr, err)
	}
	return ln, nil
}

// newKafka is the Kafka front end over b, with the HTTP API's TLS and keys;
// on a cluster node (cn not nil) its broker ID is the node's and it answers
// with the cluster's leaders. Its connections count against conns, with
// the HTTP API's.
func newKafka(cfg *config, b *broker.Broker, tlsCfg *tls.Config, cn *clusterBridge, conns *listen.Conns, log *slog.Logger) *kafka.Server {
	opts := kafka.Options{
		MaxRequestBytes:  int32(cfg.kafka.maxRequestBytes),
		MaxDecodingBytes: cfg.kafka.maxDecoding,
		MaxFetchMemory:   cfg.kafka.maxFetchMemory,
		IdleTimeout:      cfg.kafka.idleTimeout,
		TLS:              tlsCfg,
		APIKeys:          cfg.apiKeys,
		Logger:           log,
		DrainTimeout:     cfg.shutdownTimeout,
		Conns:            conns,
	}
	if cn != nil {
		opts.NodeID, opts.Cluster = int32(cn.ID()), cn
	}
	if len(cfg.apiKeys) > 0 && !slices.ContainsFunc(cfg.apiKeys, func(k string) bool { return !strings.Contains(k, ":") }) {
		log.Warn("kafka: every API key is scoped, and the Kafka listener takes only full-access keys: no Kafka client can authenticate",
			"kafka_addr", cfg.kafka.addr)
	}
	return kafka.New(b, opts)
}

// addrOf is ln's address, or "" without a listener (for the log).
func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
