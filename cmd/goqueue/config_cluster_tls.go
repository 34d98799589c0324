package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/pflag"
)

// clusterTLS is the inter-broker link's mutual TLS: --cluster-tls-ca turns
// it on; the certificate and key default to the HTTP API's (--tls-cert,
// --tls-key), so a node with one certificate for both needs one more flag.
type clusterTLS struct {
	cert, key, ca string

	config *tls.Config // built by validate; nil: the link is plain TCP
}

func clusterTLSFlags(fs *pflag.FlagSet, c *clusterTLS) {
	fs.StringVar(&c.ca, "cluster-tls-ca", "", "PEM file of the CA that signs every node's certificate; turns on mutual TLS on the inter-broker link")
	fs.StringVar(&c.cert, "cluster-tls-cert", "", "PEM certificate (chain) this node presents to the others on the inter-broker link; default --tls-cert")
	fs.StringVar(&c.key, "cluster-tls-key", "", "PEM private key file of --cluster-tls-cert; default --tls-key")
}

// validate checks the cluster TLS flags together with the cluster's (cl,
// validated) and the HTTP API's certificate and key, the defaults, and
// builds the TLS config. It loads the files and checks what would
// otherwise fail only at a peer's handshake: the certificate must chain to
// the CA, serve as both a TLS server's and client's, and name this node's
// host in --peers.
func (c *clusterTLS) validate(cl *clusterConfig, httpCert, httpKey string) []error {
	c.config = nil
	given := c.ca != "" || c.cert != "" || c.key != ""
	switch {
	case !given:
		return nil
	case cl.nodeID == 0 && cl.peers == "":
		return []error{errors.New("cluster tls flags need --node-id and --peers (a single broker has no inter-broker link)")}
	case !cl.enabled():
		return nil // the cluster flags' own problems are reported
	case c.cert == "" && (httpCert == "") != (httpKey == ""):
		return nil // the HTTP TLS flags' problem is reported
	case (c.cert == "") != (c.key == ""):
		return []error{errors.New("cluster tls cert and cluster tls key must be given together")}
	case c.ca == "":
		return []error{errors.New("cluster tls cert needs --cluster-tls-ca, the CA that signs every node's certificate: the inter-broker link's TLS is mutual")}
	}
	certFile, keyFile := c.cert, c.key
	if certFile == "" {
		if httpCert == "" {
			return []error{fmt.Errorf("cluster tls ca %q needs this node's certificate: --cluster-tls-cert and --cluster-tls-key (or --tls-cert and --tls-key)", c.ca)}
		}
		certFile, keyFile = httpCert, httpKey
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return []error{fmt.Errorf("cluster tls cert %q and key %q: %v", certFile, keyFile, err)}
	}
	pem, err := os.ReadFile(c.ca)
	if err != nil {
		return []error{fmt.Errorf("cluster tls ca: %v", err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return []error{fmt.Errorf("cluster tls ca %q holds no PEM certificate", c.ca)}
	}
	// Every peer address names a host for a certificate to name
	// (checkPeerAddr).
	var errs []error
	if err := checkNodeCert(cert, pool, cl.peerAddrs[cl.nodeID]); err != nil {
		errs = append(errs, fmt.Errorf("cluster tls cert %q: %v", certFile, err))
	}
	if len(errs) == 0 {
		c.config = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
	}
	return errs
}

// checkNodeCert checks that cert, this node's, is one its peers will
// accept: signed by the CA in pool, for use as a TLS server (it accepts)
// and client (it dials), naming the host of addr.
func checkNodeCert(cert tls.Certificate, pool *x509.CertPool, addr string) error {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return err
		}
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	for _, use := range []struct {
		usage x509.ExtKeyUsage
		what  string
	}{{x509.ExtKeyUsageServerAuth, "server"}, {x509.ExtKeyUsageClientAuth, "client"}} {
		opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: time.Now(), KeyUsages: []x509.ExtKeyUsage{use.usage}}
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("not valid as a TLS %s's certificate under --cluster-tls-ca (every node both dials and accepts; give it extendedKeyUsage serverAuth,clientAuth): %v", use.what, err)
		}
	}
	host, _, _ := net.SplitHostPort(addr)
	if err := leaf.VerifyHostname(host); err != nil {
		return fmt.Errorf("does not name this node's host %s from --peers, which the other nodes check: %v", host, err)
	}
	return nil
}
