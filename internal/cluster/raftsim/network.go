package raftsim

import (
	"container/heap"
	"math/rand/v2"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// Faults are the network's misbehaviours; each probability applies to each
// message independently. Delays are in simulated time units; a random delay
// per message also reorders them.
type Faults struct {
	Drop      float64 // probability a message is lost
	Duplicate float64 // probability a message is delivered twice
	MinDelay  int64
	MaxDelay  int64
	// LongDelay is the probability of a delay up to 10×MaxDelay, which sends
	// a message far past the ones sent after it.
	LongDelay float64
}

// Network carries envelopes between simulated nodes: every message is
// encoded and decoded as on a real wire (so nothing aliases the sender's
// memory), delayed, maybe dropped or duplicated, and blocked across a cut
// link. Owned by the Cluster.
type Network struct {
	faults Faults
	rng    *rand.Rand
	queue  msgQueue
	seq    uint64             // tie-break, so delivery order is deterministic
	cut    map[[2]uint64]bool // directed links that deliver nothing

	Sent, Dropped, Duplicated uint64
}

type inflight struct {
	at       int64
	seq      uint64
	from, to uint64
	group    uint64
	quiesce  bool
	wake     bool
	ping     bool   // a node-level keepalive, not for any group
	boot     uint64 // a keepalive's: its sender's boot
	wire     []byte
}

type msgQueue []*inflight

func (q msgQueue) Len() int { return len(q) }
func (q msgQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q msgQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *msgQueue) Push(x any)   { *q = append(*q, x.(*inflight)) }
func (q *msgQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func newNetwork(rng *rand.Rand, f Faults) *Network {
	return &Network{faults: f, rng: rng, cut: map[[2]uint64]bool{}}
}

// send queues env from node from; it reports whether the message left (a
// cut link or a drop loses it, which the sender cannot tell apart).
func (n *Network) send(now int64, from uint64, env multiraft.Envelope) bool {
	n.Sent++
	to := multiraft.NodeOf(env.Msg.GetTo())
	if n.cut[[2]uint64{from, to}] || n.rng.Float64() < n.faults.Drop {
		n.Dropped++
		return false
	}
	wire, err := proto.Marshal(env.Msg)
	if err != nil {
		panic(err)
	}
	return n.queueCopies(now, &inflight{from: from, to: to, group: env.Group, quiesce: env.Quiesce, wake: env.Wake, wire: wire})
}

// ping sends a node-level keepalive from → to, through the same faults;
// boot is the sender's.
func (n *Network) ping(now int64, from, to, boot uint64) {
	if n.cut[[2]uint64{from, to}] || n.rng.Float64() < n.faults.Drop {
		return
	}
	n.queueCopies(now, &inflight{from: from, to: to, ping: true, boot: boot})
}

// queueCopies queues m (twice if duplicated), each copy with its own delay.
func (n *Network) queueCopies(now int64, m *inflight) bool {
	copies := 1
	if n.rng.Float64() < n.faults.Duplicate {
		copies = 2
		if !m.ping {
			n.Duplicated++
		}
	}
	for range copies {
		d := n.faults.MinDelay
		if span := n.faults.MaxDelay - n.faults.MinDelay; span > 0 {
			d += n.rng.Int64N(span + 1)
		}
		if n.rng.Float64() < n.faults.LongDelay {
			d += n.rng.Int64N(10*n.faults.MaxDelay + 1)
		}
		n.seq++
		c := *m
		c.at, c.seq = now+d, n.seq
		heap.Push(&n.queue, &c)
	}
	return true
}

// due pops the messages to deliver at or before now. A link cut after a
// message left still stops it: the cut models a failed path, not a lost send.
func (n *Network) due(now int64) []*inflight {
	var out []*inflight
	for n.queue.Len() > 0 && n.queue[0].at <= now {
		m := heap.Pop(&n.queue).(*inflight)
		if n.cut[[2]uint64{m.from, m.to}] {
			n.Dropped++
			continue
		}
		out = append(out, m)
	}
	return out
}

func (m *inflight) envelope() multiraft.Envelope {
	msg := new(pb.Message)
	if err := proto.Unmarshal(m.wire, msg); err != nil {
		panic(err)
	}
	return multiraft.Envelope{Group: m.group, Msg: msg, Quiesce: m.quiesce, Wake: m.wake}
}

// Cut blocks both directions between a and b.
func (n *Network) Cut(a, b uint64) {
	n.cut[[2]uint64{a, b}] = true
	n.cut[[2]uint64{b, a}] = true
}

// Isolate cuts node a off from every node in others.
func (n *Network) Isolate(a uint64, others []uint64) {
	for _, b := range others {
		if b != a {
			n.Cut(a, b)
		}
	}
}

// Heal restores every link.
func (n *Network) Heal() { clear(n.cut) }

// SetFaults changes the misbehaviour of messages sent from now on.
func (n *Network) SetFaults(f Faults) { n.faults = f }
