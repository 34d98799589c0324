package delivery

// TP names one partition of a topic.
type TP struct {
	Topic     string
	Partition int32
}

// partition is one group's delivery state on one partition.
//
// Invariants: committed ≤ next; every offset below committed is settled;
// acked holds the settled offsets ≥ committed and never committed itself;
// every delivered, unsettled offset, all in [committed, next), is either
// leased (in [off, end) of one of leases, and neither settled nor in
// entries) or has exactly one entry in entries; an offset ≥ next that is not
// in acked has never been delivered since the last Restore.
type partition struct {
	tp        TP
	committed int64
	next      int64
	acked     rangeSet
	entries   map[int64]*entry
	leases    leaseList
	waiting   timers // entries in state waiting, by due time then offset
	inFlight  int    // entries in state inFlight
	leased    int    // offsets in flight through leases: the sum of their live

	redelivered  int64 // deliveries with a count above 1, since NewGroup
	deadLettered int64 // confirmed dead letters, since NewGroup
}

func newPartition(tp TP, committed int64) *partition {
	return &partition{tp: tp, committed: committed, next: committed, entries: make(map[int64]*entry)}
}

// settle records off as done (acknowledged or dead-lettered) and advances the
// committed offset over the settled prefix.
func (p *partition) settle(off int64) {
	if off == p.committed {
		// The run of settled offsets after off may reach past next (Restore
		// settles offsets never delivered since); next must follow.
		p.committed = p.acked.advance(off + 1)
		p.next = max(p.next, p.committed)
		return
	}
	p.acked.add(off)
}

// settleRange is settle of every offset of [from, to), none of them
// settled yet.
func (p *partition) settleRange(from, to int64) {
	if from == p.committed {
		p.committed = p.acked.advance(to)
		p.next = max(p.next, p.committed)
		return
	}
	p.acked.addRange(from, to)
}

// unsettled returns the first offset ≥ off that is not settled. A lease
// may span long settled runs (acked ranges restored from a snapshot), so
// walking its messages must jump over them, not step through them.
func (p *partition) unsettled(off int64) int64 {
	return p.acked.after(max(off, p.committed))
}

// settled reports whether off needs no further delivery.
func (p *partition) settled(off int64) bool {
	return off < p.committed || p.acked.contains(off)
}
