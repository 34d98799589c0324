package node

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A request served on a peer arrives whole: a write's method, headers,
// body (as large as MaxPeerRequestBody; and an answer as large as
// MaxPeerBody: the call's limit holds it), caller and bounds. A body over
// MaxPeerRequestBody is not sent; a
// node that serves nothing refuses (an error that says the request was
// not served); a peer that does not answer in time gives ErrPeerNoAnswer
// (it may have served the request).
func TestPeerServeCarriesTheRequest(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	var served atomic.Int32
	var got atomic.Pointer[PeerRequest]
	serve := func(c *Config) {
		if c.ID != 3 {
			return // node 2 serves nothing
		}
		c.Serve = func(_ context.Context, req PeerRequest) PeerAnswer {
			served.Add(1)
			if req.Path == "/groups/slow/ack" {
				<-release
			}
			got.Store(&req)
			return PeerAnswer{Status: 200, Header: map[string][]string{"Content-Type": {"application/octet-stream"}}, Body: bytes.Repeat([]byte{0xff}, MaxPeerBody)}
		}
	}
	nodes, stop := startNodesWith(t, 3, []string{t.TempDir(), t.TempDir(), t.TempDir()}, serve)
	defer stop()
	defer close(release) // before stop: the transport waits for its handlers
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, nodes, 1)
	asker := nodes[0]

	scope := "group=g*"
	req := PeerRequest{Method: "POST", Path: "/groups/g/ack", Query: "x=1", Header: map[string][]string{"Accept": {"application/json"}},
		Body: bytes.Repeat([]byte{0xff}, MaxPeerRequestBody), RemoteAddr: "10.0.0.5:41234", Scope: &scope, Within: time.Second, MaxWait: time.Second}
	a, err := asker.PeerServe(ctx, 3, req)
	if err != nil || a.Status != 200 || len(a.Body) != MaxPeerBody || a.Header["Content-Type"][0] != "application/octet-stream" {
		t.Fatalf("a write of a %d-byte body answered %d bytes: %d, %d bytes, %v", MaxPeerRequestBody, MaxPeerBody, a.Status, len(a.Body), err)
	}
	if g := got.Load(); g == nil || !reflect.DeepEqual(*g, req) {
		t.Fatalf("node 3 served a different request than was sent")
	}

	big := req
	big.Body = make([]byte, MaxPeerRequestBody+1)
	if _, err := asker.PeerServe(ctx, 3, big); err == nil || errors.Is(err, ErrPeerNoAnswer) || served.Load() != 1 {
		t.Fatalf("a body over MaxPeerRequestBody: %v, node 3 served %d requests; want it refused unsent", err, served.Load())
	}
	if _, err := asker.PeerServe(ctx, 2, PeerRequest{Method: "POST", Path: "/groups/g/ack"}); err == nil || errors.Is(err, ErrPeerNoAnswer) {
		t.Fatalf("a write of a node serving nothing: %v, want a refusal", err)
	}

	start := time.Now()
	_, err = asker.PeerServe(ctx, 3, PeerRequest{Method: "POST", Path: "/groups/slow/ack", Within: 100 * time.Millisecond})
	if took := time.Since(start); !errors.Is(err, ErrPeerNoAnswer) || took < peerReadWait+100*time.Millisecond {
		t.Fatalf("a write node 3 left unanswered: %v after %v, want ErrPeerNoAnswer after Within and peerReadWait", err, took)
	}
}

// A write passed on to a peer that stops being heard from during the call
// (paused, cut off) waits until this node counts it down, not the call's
// whole bound: a paused coordinator held a curl's heartbeat for 18 s.
func TestPeerServeGivesUpAPeerCountedDown(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	hang := func(c *Config) {
		if c.ID == 3 {
			c.Serve = func(context.Context, PeerRequest) PeerAnswer {
				arrived <- struct{}{}
				<-release
				return PeerAnswer{Status: 200}
			}
		}
	}
	nodes, stop := startNodesWith(t, 3, []string{t.TempDir(), t.TempDir(), t.TempDir()}, hang)
	defer stop()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, nodes, 1)
	asker := nodes[0]

	var cut sync.WaitGroup
	defer cut.Wait()
	cut.Go(func() {
		select {
		case <-arrived:
			asker.tr.SetFault(func(from, to uint64) bool { return from != 3 && to != 3 })
		case <-ctx.Done():
		}
	})
	start := time.Now()
	_, err := asker.PeerServe(ctx, 3, PeerRequest{Method: "POST", Path: "/groups/g/heartbeat", Within: 30 * time.Second})
	took := time.Since(start)
	if !errors.Is(err, ErrPeerNoAnswer) || took > liveWindow+3*time.Second {
		t.Fatalf("a write to a node cut off during the call: %v after %v; want ErrPeerNoAnswer once it is counted down (%v)", err, took, liveWindow)
	}
}
