package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A DLQ of a cluster may be replayed on any node, and its replay record
// is the cluster's (ClusterDLQ.Replays). Two replays of it at once, on two
// nodes, would each read the same record and both publish what it does
// not list yet: every message twice. So a replay first claims the DLQ in
// the record, by a compare-and-set on the record's version: of two
// claimants of one version, one wins and the other is answered
// REPLAY_IN_PROGRESS. The claim is a lease (replayLease): the replay
// renews it, with what it replayed so far, every replayRenewEvery while
// it runs, and clears it when done; a claim whose node died lapses and
// the next replay takes it over, with the record as last renewed (what
// the dead node replayed after that is replayed again: at least once,
// the replay count bounds it). That node, restarted, takes its own claim
// over at once: replayMu holds its replays one at a time, so a claim of
// its own it meets is of a replay that ended with its process.
//
// A claim's end (Until) is the claimant's clock's; a node whose clock is
// ahead of it by more than a lease would see a live claim lapsed. So a
// claim lapsed by this node's clock is taken over only once this node
// has also seen it go unrenewed for replayTakeoverWait of its own clock:
// a live replay renews it every replayRenewEvery, which changes the
// record's version, and is then refused REPLAY_IN_PROGRESS.

// replayLease is how long a replay's claim on a cluster's DLQ holds
// without renewal; the replay renews it, recording its progress, every
// replayRenewEvery (a metadata write each: what a crash replays twice).
// replayTakeoverWait is how long a claim lapsed by this node's clock
// must stay unrenewed before it is taken over: three renewals missed, so
// a replay's pause between two publishes is not taken for its death.
const (
	replayLease        = 15 * time.Second
	replayRenewEvery   = time.Second
	replayTakeoverWait = 3 * replayRenewEvery
)

// replayClaim is the replay under way of a cluster's DLQ: Token is its
// own, Node the node running it; it lapses at Until (Unix milliseconds).
type replayClaim struct {
	Token string `json:"token"`
	Node  uint64 `json:"node"`
	Until int64  `json:"until"`
}

// ErrReplaysChanged is ClusterDLQ.SetReplays's refusal: the record is no
// longer at the version the caller expected.
var ErrReplaysChanged = errors.New("broker: the DLQ's replay record changed")

// replayInCluster is ReplayDLQ for a DLQ that is a topic of the cluster,
// asked of any node: it claims the DLQ (unless a dry run), reads it from
// this node's copies once they reflect every dead letter acknowledged
// before, writes each message through its target partition's leader,
// wherever it is (as a dead letter is written), and keeps its record in
// the cluster's metadata, with the DLQ, so that a replay on another node,
// or after this one is gone, skips what this one replayed. Replays on one
// node wait for each other (replayMu); on two nodes, the second is
// refused REPLAY_IN_PROGRESS while the first holds its claim.
func (b *Broker) replayInCluster(c ClusterDLQ, r *replay) error {
	b.replayMu.Lock()
	defer b.replayMu.Unlock()
	cr := &clusterReplay{b: b, c: c, name: r.dlq.cfg.Name, born: r.dlq.cfg.CreatedAt}
	var err error
	if r.req.DryRun {
		_, err = cr.read()
	} else {
		err = cr.claim()
	}
	if err != nil {
		return err
	}
	for _, p := range r.dlq.parts {
		if r.req.Partition == nil || p.id == *r.req.Partition {
			if err = c.ReadPoint(cr.name, p.id); err != nil {
				break
			}
		}
	}
	if err == nil {
		r.done, r.via, r.published = &cr.done, c.AppendVia, cr.renew
		err = r.run()
	}
	var lost claimLost
	if !r.req.DryRun && !errors.As(err, &lost) {
		// Also after a failed publish: what was published is recorded.
		err = errors.Join(err, cr.put(nil))
	}
	return err
}

// claimLost is the error of a replay that found its claim gone (another
// replay's now, or the DLQ purged): it leaves the record alone.
type claimLost struct{ err error }

func (e claimLost) Error() string { return e.err.Error() }
func (e claimLost) Unwrap() error { return e.err }

// clusterReplay is one replay's hold of a cluster DLQ's record: done as
// this replay has it, at version of the record, claimed with token.
type clusterReplay struct {
	b       *Broker
	c       ClusterDLQ
	name    string
	born    int64
	done    dlqReplayed
	version uint64
	token   string
	renewAt time.Time
}

// read reads the record into done and version, and returns it as stored.
func (cr *clusterReplay) read() ([]byte, error) {
	record, version, err := cr.c.Replays(cr.name)
	if err != nil {
		return nil, err
	}
	cr.done, cr.version = dlqReplayed{Born: cr.born}, version
	if len(record) > 0 {
		if err := json.Unmarshal(record, &cr.done); err != nil {
			return nil, fmt.Errorf("broker: replay record of %s: %w", cr.name, err)
		}
	}
	return record, nil
}

// claim claims the DLQ for this replay, taking over a claim that lapsed
// or is this node's own (of a replay its process ended with).
// Errors: REPLAY_IN_PROGRESS while another replay holds it, Replays's and
// SetReplays's.
func (cr *clusterReplay) claim() error {
	if _, err := cr.read(); err != nil {
		return err
	}
	if cl := cr.done.Claim; cl != nil && cl.Node != cr.c.ID() {
		if cr.b.now().UnixMilli() < cl.Until {
			return inProgress(cr.name, cl)
		}
		seen := cr.version
		cr.b.sleep(replayTakeoverWait)
		if _, err := cr.read(); err != nil {
			return err
		}
		if cl := cr.done.Claim; cl != nil && cl.Node != cr.c.ID() && cr.version != seen {
			// Renewed (or claimed again) meanwhile: live, whatever
			// this node's clock says of its end.
			return inProgress(cr.name, cl)
		}
	}
	cr.token = rand.Text()
	return cr.put(cr.lease())
}

// lease is this replay's claim, renewed from now.
func (cr *clusterReplay) lease() *replayClaim {
	now := cr.b.now()
	cr.renewAt = now.Add(replayRenewEvery)
	return &replayClaim{Token: cr.token, Node: cr.c.ID(), Until: now.Add(replayLease).UnixMilli()}
}

// renew records what the replay did so far and extends its claim, once
// replayRenewEvery has passed since the last time.
func (cr *clusterReplay) renew() error {
	if cr.b.now().Before(cr.renewAt) {
		return nil
	}
	return cr.put(cr.lease())
}

// put writes done with claim (nil: the replay is over) at version. Refused
// because the record changed, it reads it again: the record it wrote (an
// attempt whose outcome was unknown went through) is written; one still
// claimed by this replay is written again at its version; one another
// replay claimed, which took this one's over once it lapsed, is
// REPLAY_IN_PROGRESS, and what this replay did since its last renewal
// is not recorded.
func (cr *clusterReplay) put(claim *replayClaim) error {
	d := cr.done
	d.Claim = claim
	record, err := json.Marshal(&d)
	if err != nil {
		return err
	}
	for range 3 {
		version, err := cr.c.SetReplays(cr.name, record, cr.version)
		if !errors.Is(err, ErrReplaysChanged) {
			if err == nil {
				cr.version = version
			}
			return err
		}
		stored, version, rerr := cr.c.Replays(cr.name)
		if rerr != nil {
			return rerr
		}
		if bytes.Equal(stored, record) {
			cr.version = version
			return nil
		}
		if len(stored) == 0 {
			// No record: the DLQ was purged, and created again by a
			// dead letter since.
			return claimLost{api.ErrTopicNotFound.Withf("%s was purged during this replay; what it replayed since it last recorded its progress is not recorded", cr.name).
				WithDetail("topic", cr.name)}
		}
		var now dlqReplayed
		if err := json.Unmarshal(stored, &now); err != nil {
			return fmt.Errorf("broker: replay record of %s: %w", cr.name, err)
		}
		if cl := now.Claim; cl == nil || cl.Token != cr.token {
			if cl == nil {
				cl = &replayClaim{}
			}
			return claimLost{inProgress(cr.name, cl)}
		}
		cr.version = version
	}
	return api.ErrUnavailable.Withf("the replay record of %s kept changing; retry", cr.name)
}

// inProgress is REPLAY_IN_PROGRESS for cl, another replay's claim on dlq
// (its zero value: a replay that has finished meanwhile).
func inProgress(dlq string, cl *replayClaim) error {
	if cl.Token == "" {
		return api.ErrReplayInProgress.Withf("another replay of %s took over this one; what this one replayed since it last recorded its progress is not recorded; retry", dlq)
	}
	until := time.UnixMilli(cl.Until).UTC()
	return api.ErrReplayInProgress.Withf("node %d is replaying %s (its claim lapses at %s unless it renews it); retry once it is done", cl.Node, dlq, until.Format(time.RFC3339)).
		WithDetail("node", cl.Node).WithDetail("until", until.Format(time.RFC3339))
}
