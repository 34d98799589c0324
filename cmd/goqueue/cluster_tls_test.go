package main

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// startTLSCluster starts three nodes whose HTTP API serves TLS and whose
// inter-broker link is mutual TLS, each node presenting its HTTP
// certificate there too (only --cluster-tls-ca given), and the fault
// control on.
func startTLSCluster(t *testing.T) *clusterProcs {
	t.Helper()
	dir := t.TempDir()
	ca := testkit.NewPKI(t, "goqueue test CA")
	cert, key := ca.Issue(t, nil, "127.0.0.1").WriteFiles(t, dir, "node")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	t.Cleanup(hc.CloseIdleConnections)
	return startClusterProcsWith(t, 3, clusterSetup{
		flags: []string{"--tls-cert", cert, "--tls-key", key, "--cluster-tls-ca", ca.WriteCA(t, dir, "ca")},
		env:   []string{faultsEnv + "=1"},
		hc:    hc,
	})
}

// A cluster whose HTTP API and inter-broker link are both TLS forms,
// refuses a plain connection to its cluster port, serves the fault control
// over HTTPS, and survives a partition leader's SIGKILL under a Go
// producer (TLS, acks from a majority) exactly as the plain cluster does
// (replicatedFailover): every acknowledged record kept once, the killed
// node restarted and caught up over the TLS link, all copies equal.
func TestBinaryClusterTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startTLSCluster(t)
	for id, p := range c.procs {
		if !strings.HasPrefix(p.URL, "https://") || !strings.Contains(p.Log(), "inter-broker link serves mutual TLS") {
			t.Fatalf("node %d does not serve TLS: %s\n%s", id, p.URL, p.Log())
		}
	}
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)

	// A stranger speaking the plain protocol to node 1's cluster port,
	// claiming to be node 2, gets no hello back.
	var clusterAddr string
	for e := range strings.SplitSeq(c.peers, ",") {
		if a, ok := strings.CutPrefix(e, "1="); ok {
			clusterAddr = a
		}
	}
	conn, err := net.DialTimeout("tcp", clusterAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	hello := binary.BigEndian.AppendUint64([]byte("gqR1"), 2)
	if _, err := conn.Write(hello); err == nil {
		if n, err := conn.Read(make([]byte, 64)); err == nil {
			t.Fatalf("node 1's cluster port answered a plain hello with %d bytes", n)
		}
	}
	conn.Close()
	c.eventually(5*time.Second, "node 1 logs the plain connection it refused", func() bool {
		return strings.Contains(c.procs[1].Log(), "refused a connection")
	})

	// The fault control answers over HTTPS (the chaos tests drive it so).
	var got faultCut
	if st := c.do(2, "POST", faultPath, `{"cut":[3]}`, &got); st != http.StatusOK || len(got.Cut) != 1 {
		t.Fatalf("fault control over HTTPS: %d %+v", st, got)
	}
	if st := c.do(2, "POST", faultPath, `{"cut":[]}`, &got); st != http.StatusOK || len(got.Cut) != 0 {
		t.Fatalf("heal over HTTPS: %d %+v", st, got)
	}

	replicatedFailover(t, c)
}
