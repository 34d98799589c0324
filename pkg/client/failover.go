package client

import (
	"context"
	"errors"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A request that only one cluster node may serve (a partition's leader, a
// group's coordinator) is sent where the client last saw that node; any
// other node answers with a redirect naming the one that serves it. When
// that node dies the others go on naming it until its Raft group elects
// another, 2–4 s later, then name no node until they learn the new one.
// Within doAt's few quick tries (0.75 s) alone the request failed: an
// acknowledgement so lost had its messages delivered again, a publish was
// refused during every election.

// failoverWait is how long a redirected request is tried again after the
// node serving it stopped answering or a redirect showed a cluster: an
// election (2–4 s) and the new node taking over, with room to spare.
var failoverWait = 8 * time.Second // a variable: a test shortens it

// redirects says how one kind of request is redirected: which answer names
// the node that serves it, and what the client remembers of that node.
type redirects struct {
	// to reports whether err is this kind's redirect, and the HTTP
	// address it names ("" when the cluster knows of no node yet).
	to func(err error) (addr string, ok bool)
	// moved records base as the node to ask next time, lost forgets
	// base once it stopped answering; either may be nil.
	moved, lost func(base string)
}

// chase is doAt sent to base ("" for any broker) that follows redirects, up
// to maxLeaderHops in a row, and waits out a failover: once a redirect or
// an UNAVAILABLE answer came or the node it was sent to stopped answering,
// a request refused as unavailable, unreachable or redirected to no node
// (or to the node that died) is asked of any broker again, every
// retryDelay, for up to failoverWait from the redirect or, later, the
// failure. It returns the base URL that answered last. On a single broker
// no answer redirects: it is doAt, and waits out an UNAVAILABLE broker
// (recovering, restarting) for failoverWait too.
func (t *transport) chase(ctx context.Context, base string, rd redirects, method, path, contentType string, body []byte, out any) (string, error) {
	var (
		since  time.Time // when the cluster showed (a redirect, a dead node)
		failed string    // the base URL that stopped answering
		rounds int
		cut    bool // an attempt went unanswered (see afterSilence)
	)
	for hop := 0; ; hop++ {
		err := t.doAt(ctx, base, method, path, contentType, body, out)
		cut = cut || errors.Is(err, errSilent)
		err = afterSilence(method, cut, err)
		addr, redirected := rd.to(err)
		// An answer that there is no node to serve it yet (an election
		// under way: a node just restarted, maybe on an empty disk, has
		// no leader to name) shows a failover as a redirect does.
		if (redirected || errors.Is(err, api.ErrUnavailable)) && since.IsZero() {
			since = time.Now()
		}
		// Until its Raft group elects another, nodes go on naming the
		// node that died: that is no node yet.
		if redirected && addr != "" && hop < maxLeaderHops && t.baseURL(addr) != failed {
			base = t.baseURL(addr)
			if rd.moved != nil {
				rd.moved(base)
			}
			continue
		}
		if base != "" && errors.Is(err, ErrUnreachable) {
			if rd.lost != nil {
				rd.lost(base)
			}
			if base != failed {
				// The wait runs from the failure, not from a redirect
				// that came before it (a long poll may have been out
				// at the node for longer than the wait since).
				since, failed = time.Now(), base
			}
		}
		if since.IsZero() || time.Since(since) >= failoverWait || !(redirected || retryElsewhere(err)) {
			return base, err
		}
		if err := sleep(ctx, retryDelay(rounds)); err != nil {
			return base, err
		}
		// A new round may follow redirects again: nodes named the dead
		// one until its group elected another.
		base, hop, rounds = "", -1, rounds+1
	}
}
