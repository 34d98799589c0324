package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// logBuf collects a transport's log lines for a test to wait on.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

// tlsNode is one transport of a TLS test and what reached it.
type tlsNode struct {
	tr        *Transport
	log       *logBuf
	delivered chan multiraft.Envelope
	handled   atomic.Int64 // calls answered
}

// startTLS runs one transport per entry of cfgs (node i+1 with cfgs[i];
// nil: plain TCP) on 127.0.0.1, each answering calls with "ok".
func startTLS(t *testing.T, cfgs ...*tls.Config) []*tlsNode {
	t.Helper()
	peers := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for i := range cfgs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[uint64(i+1)], peers[uint64(i+1)] = ln, ln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	var nodes []*tlsNode
	for i, c := range cfgs {
		id := uint64(i + 1)
		n := &tlsNode{log: &logBuf{}, delivered: make(chan multiraft.Envelope, 16)}
		tr, err := New(Config{
			NodeID: id, Listener: lns[id], Peers: peers, TLS: c,
			Deliver: func(_ uint64, envs []multiraft.Envelope) {
				for _, e := range envs {
					n.delivered <- e
				}
			},
			Handle: func(context.Context, uint64, []byte) []byte {
				n.handled.Add(1)
				return []byte("ok")
			},
			KeepAlive: 20 * time.Millisecond,
			Logger:    slog.New(slog.NewTextHandler(n.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatal(err)
		}
		n.tr = tr
		g.Go(func() error { return tr.Run(gctx) })
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
		goleak.VerifyNone(t)
	})
	return nodes
}

func heartbeat(group, to uint64) multiraft.Envelope {
	return multiraft.Envelope{Group: group, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(to), From: new(uint64(9))}}
}

func nodeTLS(ca *testkit.PKI, leaf testkit.Leaf) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, RootCAs: ca.Pool()}
}

// Two nodes with certificates from one CA carry Raft messages both ways and
// calls over mutual TLS.
func TestTLSCarriesMessagesAndCalls(t *testing.T) {
	ca := testkit.NewPKI(t, "cluster CA")
	nodes := startTLS(t, nodeTLS(ca, ca.Issue(t, nil, "127.0.0.1")), nodeTLS(ca, ca.Issue(t, nil, "127.0.0.1", "localhost")))
	nodes[0].tr.Send([]multiraft.Envelope{heartbeat(7, 2)})
	nodes[1].tr.Send([]multiraft.Envelope{heartbeat(8, 1)})
	for i, want := range []uint64{8, 7} {
		select {
		case e := <-nodes[i].delivered:
			if e.Group != want {
				t.Fatalf("node %d got group %d's message, want %d's", i+1, e.Group, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("node %d: nothing delivered:\n%s", i+1, nodes[i].log.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for from, to := range map[int]uint64{0: 2, 1: 1} {
		if ans, err := nodes[from].tr.Call(ctx, to, []byte("hi")); err != nil || string(ans) != "ok" {
			t.Fatalf("call %d→%d: %q %v", from+1, to, ans, err)
		}
	}
}

// A TLS node answers only a peer whose certificate its CA signed for the
// host of the node the peer says it is: a plain connection, a certificate
// from another CA, no certificate, and a good certificate for another host
// all get no answer, and nothing reaches the node's Handle. The same call
// with a good certificate is answered, so the refusals are the checks'.
func TestTLSRefusesStrangers(t *testing.T) {
	ca, other := testkit.NewPKI(t, "cluster CA"), testkit.NewPKI(t, "another CA")
	good := ca.Issue(t, nil, "127.0.0.1")
	nodes := startTLS(t, nodeTLS(ca, good), nodeTLS(ca, ca.Issue(t, nil, "127.0.0.1")))
	addr := nodes[0].tr.cfg.Peers[2]
	plain := func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
	// withTLS presents cert, if any, whatever CAs node 2 asks for (a Go
	// client would otherwise send none signed by another CA).
	withTLS := func(cert ...testkit.Leaf) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			c := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if len(cert) == 0 {
					return &tls.Certificate{}, nil
				}
				return &cert[0].TLS, nil
			}
			return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
		}
	}
	// call sends node 2 a call greeting as node 1 and reads the answer.
	call := func(dial func() (net.Conn, error)) ([]byte, error) {
		c, err := dial()
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(appendBlob(appendGreeting(nil, callMagic, 1), []byte("hi"))); err != nil {
			return nil, err
		}
		return readBlob(c)
	}
	for _, tc := range []struct {
		name string
		dial func() (net.Conn, error)
		log  string // what node 2 logs of it
	}{
		{"plain TCP", plain, "first record does not look like a TLS handshake"},
		{"another CA", withTLS(other.Issue(t, nil, "127.0.0.1")), "certificate signed by unknown authority"},
		{"no certificate", withTLS(), "client didn't provide a certificate"},
		{"another host", withTLS(ca.Issue(t, nil, "10.9.9.9", "node1.example")), "does not name node 1's host"},
	} {
		if ans, err := call(tc.dial); err == nil {
			t.Errorf("%s: answered %q", tc.name, ans)
		}
		testkit.Eventually(t, 5*time.Second, func() bool { return nodes[1].log.has(tc.log) }, "%s: node 2 does not log %q:\n%s", tc.name, tc.log, nodes[1].log.String())
	}
	if n := nodes[1].handled.Load(); n != 0 {
		t.Fatalf("node 2 handled %d calls from strangers", n)
	}
	if ans, err := call(withTLS(good)); err != nil || string(ans) != "ok" {
		t.Fatalf("the good certificate's call: %q %v", ans, err)
	}
}

// A node does not talk to a peer whose certificate another CA signed, in
// either direction: node 1 (the dialer) refuses node 2's certificate and
// node 2 refuses node 1's, and no message crosses.
func TestTLSRefusesAPeerOfAnotherCA(t *testing.T) {
	ca, other := testkit.NewPKI(t, "cluster CA"), testkit.NewPKI(t, "another CA")
	nodes := startTLS(t, nodeTLS(ca, ca.Issue(t, nil, "127.0.0.1")), nodeTLS(other, other.Issue(t, nil, "127.0.0.1")))
	nodes[0].tr.Send([]multiraft.Envelope{heartbeat(7, 2)})
	nodes[1].tr.Send([]multiraft.Envelope{heartbeat(8, 1)})
	testkit.Eventually(t, 10*time.Second, func() bool { return nodes[0].log.has("peer's certificate refused") }, "node 1 does not refuse node 2's certificate")
	testkit.Eventually(t, 10*time.Second, func() bool { return nodes[1].log.has("refused a connection") }, "node 2 does not refuse node 1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := nodes[0].tr.Call(ctx, 2, nil); err == nil {
		t.Fatal("node 2 answered node 1's call")
	}
	for i, n := range nodes {
		select {
		case e := <-n.delivered:
			t.Fatalf("node %d was delivered group %d's message", i+1, e.Group)
		default:
		}
	}
}

// A TLS node and a plain one never connect: the plain node's hello is no
// TLS handshake, and the TLS node's handshake gets no hello back.
func TestTLSAndPlainDoNotMix(t *testing.T) {
	ca := testkit.NewPKI(t, "cluster CA")
	nodes := startTLS(t, nil, nodeTLS(ca, ca.Issue(t, nil, "127.0.0.1")))
	nodes[0].tr.Send([]multiraft.Envelope{heartbeat(7, 2)})
	testkit.Eventually(t, 10*time.Second, func() bool { return nodes[1].log.has("first record does not look like a TLS handshake") }, "node 2 does not refuse node 1's plain hello")
	select {
	case e := <-nodes[1].delivered:
		t.Fatalf("node 2 was delivered group %d's message over plain TCP", e.Group)
	default:
	}
}

// New refuses a TLS config without a certificate or CA, and a peer address
// without a host (nothing for a certificate to name).
func TestTLSConfigChecked(t *testing.T) {
	ca := testkit.NewPKI(t, "cluster CA")
	leaf := ca.Issue(t, nil, "127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		tls   *tls.Config
		peers map[uint64]string
		want  string
	}{
		{&tls.Config{RootCAs: ca.Pool()}, nil, "needs Certificates"},
		{&tls.Config{Certificates: []tls.Certificate{leaf.TLS}}, nil, "RootCAs"},
		{nodeTLS(ca, leaf), map[uint64]string{2: ":7000"}, "names no host"},
	} {
		_, err := New(Config{NodeID: 1, Listener: ln, Peers: tc.peers, TLS: tc.tls, Deliver: func(uint64, []multiraft.Envelope) {}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.want, err, tc.want)
		}
	}
}
