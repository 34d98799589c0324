package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// The cluster TLS flags build the link's TLS config from their files, or
// from the HTTP API's certificate and key when only --cluster-tls-ca is
// given, from flags, the environment or the configuration file alike; a
// half-configured or unusable setup fails the start with what to fix.
func TestClusterTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca, other := testkit.NewPKI(t, "cluster CA"), testkit.NewPKI(t, "another CA")
	caFile := ca.WriteCA(t, dir, "ca")
	cert, key := ca.Issue(t, nil, "127.0.0.1", "node1.example").WriteFiles(t, dir, "node1")
	httpCert, httpKey := ca.Issue(t, nil, "127.0.0.1").WriteFiles(t, dir, "http")
	serverOnly, serverOnlyKey := ca.Issue(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "127.0.0.1").WriteFiles(t, dir, "server-only")
	otherHost, otherHostKey := ca.Issue(t, nil, "10.9.9.9").WriteFiles(t, dir, "other-host")
	foreign, foreignKey := other.Issue(t, nil, "127.0.0.1").WriteFiles(t, dir, "foreign")
	cluster := []string{"--node-id", "1", "--peers", "1=127.0.0.1:7001,2=127.0.0.1:7002"}
	with := func(args ...string) []string { return append(append([]string(nil), cluster...), args...) }

	c, err := parse(t, with("--cluster-tls-ca", caFile, "--cluster-tls-cert", cert, "--cluster-tls-key", key), nil)
	if err != nil || c.cluster.tls.config == nil || c.cluster.tls.config.RootCAs == nil || len(c.cluster.tls.config.Certificates) != 1 {
		t.Fatalf("flags: %+v %v", c.cluster.tls, err)
	}
	// Only the CA: the node presents its HTTP certificate.
	c, err = parse(t, with("--tls-cert", httpCert, "--tls-key", httpKey), map[string]string{"GOQUEUE_CLUSTER_TLS_CA": caFile})
	if err != nil || c.cluster.tls.config == nil {
		t.Fatalf("env and the HTTP certificate: %+v %v", c.cluster.tls, err)
	}
	if leaf, _ := x509.ParseCertificate(c.cluster.tls.config.Certificates[0].Certificate[0]); leaf == nil || leaf.Subject.CommonName != "127.0.0.1" || len(leaf.DNSNames) != 0 {
		t.Fatalf("the link does not present the HTTP certificate: %+v", leaf)
	}
	file := writeFile(t, "goqueue.yaml", "cluster-tls-ca: "+caFile+"\nclusterTlsCert: "+cert+"\ncluster-tls-key: "+key+"\n")
	if c, _, err := load(t, with("--config", file), nil); err != nil || c.cluster.tls.config == nil {
		t.Fatalf("configuration file: %+v %v", c.cluster.tls, err)
	}
	// No cluster TLS flag: a plain link, even with HTTPS.
	if c, err := parse(t, with("--tls-cert", httpCert, "--tls-key", httpKey), nil); err != nil || c.cluster.tls.config != nil {
		t.Fatalf("HTTPS alone: %+v %v", c.cluster.tls, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-tls-ca", caFile}, "need --node-id and --peers"},
		{with("--cluster-tls-cert", cert), "must be given together"},
		{with("--cluster-tls-key", key), "must be given together"},
		{with("--cluster-tls-cert", cert, "--cluster-tls-key", key), "needs --cluster-tls-ca"},
		{with("--tls-cert", httpCert, "--tls-key", httpKey, "--cluster-tls-cert", cert, "--cluster-tls-key", key), "needs --cluster-tls-ca"},
		{with("--cluster-tls-ca", caFile), "needs this node's certificate"},
		{with("--cluster-tls-ca", caFile, "--cluster-tls-cert", cert, "--cluster-tls-key", httpKey), "private key does not match"},
		{with("--cluster-tls-ca", cert+".missing", "--cluster-tls-cert", cert, "--cluster-tls-key", key), "no such file"},
		{with("--cluster-tls-ca", key, "--cluster-tls-cert", cert, "--cluster-tls-key", key), "holds no PEM certificate"},
		{with("--cluster-tls-ca", caFile, "--cluster-tls-cert", foreign, "--cluster-tls-key", foreignKey), "unknown authority"},
		{with("--cluster-tls-ca", caFile, "--cluster-tls-cert", serverOnly, "--cluster-tls-key", serverOnlyKey), "TLS client's certificate"},
		{with("--cluster-tls-ca", caFile, "--cluster-tls-cert", otherHost, "--cluster-tls-key", otherHostKey), "does not name this node's host 127.0.0.1"},
		{[]string{"--node-id", "1", "--peers", "1=127.0.0.1:7001,2=:7002", "--cluster-tls-ca", caFile, "--cluster-tls-cert", cert, "--cluster-tls-key", key}, "node 2: \":7002\": the host must be one the other nodes can dial"},
	} {
		if c, err := parse(t, tc.args, nil); err == nil || !strings.Contains(err.Error(), tc.want) || c.cluster.tls.config != nil {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The node says whether its inter-broker link is TLS, and warns of a plain
// one beside an HTTPS API or beyond localhost.
func TestClusterLinkLogged(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config
		addr string
		want string // "" : nothing logged
	}{
		{"tls", config{cluster: clusterConfig{tls: clusterTLS{config: &tls.Config{}}}}, "0.0.0.0:7001", "level=INFO msg=\"inter-broker link serves mutual TLS\""},
		{"https beside", config{tlsCert: "c.pem"}, "127.0.0.1:7001", "level=WARN msg=\"the HTTP API serves TLS but the inter-broker link is plain TCP"},
		{"beyond localhost", config{}, "10.0.0.1:7001", "level=WARN msg=\"inter-broker link beyond localhost without TLS"},
		{"localhost", config{}, "127.0.0.1:7001", ""},
	} {
		var buf bytes.Buffer
		logClusterLink(slog.New(slog.NewTextHandler(&buf, nil)), &tc.cfg, tc.addr)
		if got := buf.String(); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: logged %q, want %q", tc.name, got, tc.want)
		}
	}
}
