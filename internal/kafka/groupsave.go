package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// A classic group's membership is saved with the group at the coordinator
// (coordinator.SaveClassicMembers: replicated on a cluster node) each time
// its members or their assignments change, and restored from there by the
// node that coordinates the group next (lookup): its members go on in
// the same generation and keep their partitions when the coordinator
// moves, as Kafka's do, instead of being told UNKNOWN_MEMBER_ID and
// rewinding to their last commit (a helper counted 1,202 messages of
// 5,000 consumed twice by kcat after one node restart, stop 42). A group
// saved in the middle of a rebalance is restored rebalancing: its members
// rejoin (those that do not are expired by their session timeout), and
// the join picks a leader among them.

// savedGroup is a classic group's membership as saved.
type savedGroup struct {
	Generation   int32         `json:"generation"`
	Rebalancing  bool          `json:"rebalancing,omitempty"` // saved while not Stable
	ProtocolType string        `json:"protocol_type"`
	Protocol     string        `json:"protocol"`
	Leader       string        `json:"leader"`
	Members      []savedMember `json:"members"`
}

type savedMember struct {
	ID          string          `json:"id"`
	InstanceID  string          `json:"instance_id,omitempty"`
	ClientID    string          `json:"client_id"`
	Host        string          `json:"host"`
	SessionMs   int64           `json:"session_ms"`
	RebalanceMs int64           `json:"rebalance_ms"`
	Protocols   []savedProtocol `json:"protocols"`
	Assignment  []byte          `json:"assignment,omitempty"`
}

type savedProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata,omitempty"`
}

// classicSaves is the saves not yet made, the newest per group, and
// wakes the goroutine that makes them (saveLoop). It is guarded by the
// groups' mu, except kick.
type classicSaves struct {
	pending map[string]pendingSave
	kick    chan struct{} // buffered 1
}

type pendingSave struct {
	token   uint64
	members []byte
}

// save queues the group's membership as it is now; the caller holds the
// groups' mu. A group not held saves nothing (nothing of it is the
// coordinator's to keep).
func (g *kgroup) save() {
	if !g.held || g.saves == nil {
		return
	}
	var members []byte
	if len(g.members) > 0 {
		members = g.encode()
	}
	g.saves.pending[g.id] = pendingSave{g.token, members}
	select {
	case g.saves.kick <- struct{}{}:
	default:
	}
}

func (g *kgroup) encode() []byte {
	s := savedGroup{Generation: g.generation, Rebalancing: g.state != groupStable,
		ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader}
	for _, id := range slices.Sorted(mapKeys(g.members)) {
		m := g.members[id]
		sm := savedMember{ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, Host: m.host,
			SessionMs: m.session.Milliseconds(), RebalanceMs: m.rebalance.Milliseconds(), Assignment: m.assignment}
		for _, p := range m.protocols {
			sm.Protocols = append(sm.Protocols, savedProtocol{p.Name, p.Metadata})
		}
		s.Members = append(s.Members, sm)
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings, numbers and byte slices always encode
	}
	return b
}

// restoredGroup is the group saved in members, its members seen now, held
// under hold: Stable as saved, or rebalancing if it was saved so.
func (gs *groups) restoredGroup(id string, members []byte, hold coordinator.ClassicHold, now time.Time) (*kgroup, error) {
	var s savedGroup
	if err := json.Unmarshal(members, &s); err != nil {
		return nil, err
	}
	if len(s.Members) == 0 {
		return nil, errors.New("no members")
	}
	g := gs.newGroup(id)
	g.state, g.generation, g.protocolType, g.protocol, g.leader = groupStable, s.Generation, s.ProtocolType, s.Protocol, s.Leader
	g.held, g.token, g.skip = true, hold.Token, 1
	for _, sm := range s.Members {
		m := &member{id: sm.ID, instanceID: sm.InstanceID, clientID: sm.ClientID, host: sm.Host,
			session: time.Duration(sm.SessionMs) * time.Millisecond, rebalance: time.Duration(sm.RebalanceMs) * time.Millisecond,
			lastSeen: now, assignment: sm.Assignment}
		for _, p := range sm.Protocols {
			m.protocols = append(m.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: p.Metadata})
		}
		g.members[m.id] = m
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
	}
	g.owners = g.plan()
	if s.Rebalancing {
		g.prepareRebalance(now, group.ReasonMemberRejoined)
	}
	return g, nil
}

// saveLoop makes the queued saves until ctx ends, one group at a time
// (each save replaces the group's whole membership, and only the newest
// queued is made). A save refused as UNAVAILABLE (the group's shard
// without a majority for now) is tried again a second later unless a
// newer one came meanwhile; any other failure leaves the group's saved
// membership older than its own, which costs its members a rejoin should
// the group move before its next save.
func (gs *groups) saveLoop(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gs.saves.kick:
		case <-retry.C:
		}
		gs.mu.Lock()
		batch := gs.saves.pending
		gs.saves.pending = map[string]pendingSave{}
		gs.mu.Unlock()
		for id, p := range batch {
			if ctx.Err() != nil {
				return // shutting down: a save each would hold it up to a write timeout
			}
			err := gs.coord.SaveClassicMembers(id, p.token, p.members)
			if errors.Is(err, api.ErrUnavailable) && ctx.Err() == nil {
				gs.mu.Lock()
				if _, newer := gs.saves.pending[id]; !newer {
					gs.saves.pending[id] = p
				}
				gs.mu.Unlock()
				retry.Reset(time.Second)
			}
		}
	}
}
