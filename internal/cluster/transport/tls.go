package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/abd-ulbasit/goqueue/internal/listen"
)

// Mutual TLS on the cluster link. Every connection, the Raft stream and
// calls alike, is TLS 1.3 in both directions: each node presents its
// certificate and checks its peer's against Config.TLS.RootCAs. Trust in
// the CA alone would let any node, or anything else holding a certificate
// from that CA, speak as any other node, so a certificate must also name
// the host of the --peers address of the node it speaks for: the dialer
// checks the host it dials (as any TLS client does), the acceptor checks
// the host of the node the greeting claims. Nodes sharing a host can speak
// for each other; the boundary is the host, as it is for the HTTP API.

// tlsSetup checks cfg.TLS and wraps the listener; t.ln is the listener to
// accept on either way.
func (t *Transport) tlsSetup() error {
	// Out of file descriptors, Accept fails until connections close: that
	// must not stop the listener (nor, with it, the node).
	t.ln = listen.Patient(t.cfg.Listener, t.cfg.Logger)
	c := t.cfg.TLS
	if c == nil {
		return nil
	}
	if len(c.Certificates) == 0 || c.RootCAs == nil {
		return errors.New("transport: TLS needs Certificates (this node's) and RootCAs (the CA of every node's)")
	}
	for id, addr := range t.cfg.Peers {
		if host, _, err := net.SplitHostPort(addr); err != nil || host == "" {
			return fmt.Errorf("transport: TLS: node %d's address %q names no host for its certificate to name", id, addr)
		}
	}
	t.ln = tls.NewListener(t.ln, &tls.Config{
		Certificates: c.Certificates,
		ClientCAs:    c.RootCAs,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	})
	return nil
}

// dial connects to p: TCP, then the TLS handshake (within DialTimeout as
// well) when the link is TLS.
func (t *Transport) dial(ctx context.Context, p *peer) (net.Conn, error) {
	d := &net.Dialer{Timeout: t.cfg.DialTimeout}
	if t.cfg.TLS == nil {
		return d.DialContext(ctx, "tcp", p.addr)
	}
	host, _, _ := net.SplitHostPort(p.addr) // tlsSetup checked it
	td := &tls.Dialer{NetDialer: d, Config: &tls.Config{
		Certificates: t.cfg.TLS.Certificates,
		RootCAs:      t.cfg.TLS.RootCAs,
		ServerName:   host,
		MinVersion:   tls.VersionTLS13,
	}}
	c, err := td.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("transport: TLS to node %d at %s: %w", p.id, p.addr, err)
	}
	return c, nil
}

// verifyPeer checks, on a link with TLS, that the certificate an accepted
// connection presented names the host of node from, which its greeting
// claims to be. The handshake (on the greeting's read) has verified the
// certificate against the CA already.
func (t *Transport) verifyPeer(c net.Conn, from uint64) error {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil
	}
	p, ok := t.peers[from]
	if !ok {
		return fmt.Errorf("no node %d", from)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errors.New("no certificate") // RequireAndVerifyClientCert makes this unreachable
	}
	host, _, _ := net.SplitHostPort(p.addr)
	if err := certs[0].VerifyHostname(host); err != nil {
		return fmt.Errorf("its certificate does not name node %d's host: %w", from, err)
	}
	return nil
}
