package chaostest

import (
	"cmp"
	"fmt"
	"slices"
)

// How an ownership interval ended.
const (
	endRevoked = 'R' // OnRevoked returned: the member gave the partition back
	endLost    = 'L' // OnLost: the broker had already fenced the member
	endKilled  = 'K' // SIGKILL
	endExit    = 'E' // the process exited without revoking it
)

// interval is one member's ownership of one partition, from its OnAssigned
// (or its first delivery, when a poll handed out messages of a newly
// assigned partition before the heartbeat's callback ran) to its end.
type interval struct {
	member     int
	p          int32
	start, end int64
	how        byte
	// implicit: opened by a delivery and not yet confirmed by OnAssigned.
	implicit bool
	// lastActive is the latest delivery or ack in it. A lost member learns
	// of its loss late, so its ownership is taken to end at its last act.
	lastActive int64
}

// delivery is one message handed to one member.
type delivery struct {
	member         int
	p              int32
	off, value, ns int64
	iv             *interval
	acked          bool // Ack was called while the member owned the partition, and not refused
	// ackSent: Ack was called and not refused as revoked, owned or not (the
	// client takes an ack between OnRevoked and the release): a late one
	// may still be refused as lost, and Close counts it.
	ackSent bool
	// pollStart is when the poll that returned it was sent: the broker
	// handed it out at some time between then and ns.
	pollStart int64
}

// verdict is what check found.
type verdict struct {
	deliveries, duplicates, intervals int
	kills, losses                     int
	// ackedThenRevoked counts redeliveries of messages acked before a
	// graceful revocation: acks the member's commit-before-release lost.
	ackedThenRevoked int
	// stale counts deliveries to a member, from a poll sent before its
	// current ownership of the partition began, of messages the broker
	// then delivered again to the same member: handed out under an
	// ownership that was revoked while the poll was in flight.
	stale    int
	problems []string
}

func (v *verdict) failf(format string, args ...any) {
	if len(v.problems) < 20 {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

// check proves, from the members' logs, the promises of the package doc
// for messages numbered 0..n-1.
func check(n int, members []memberLog) *verdict {
	v := &verdict{}
	var (
		ivs  []*interval
		dels []*delivery
	)
	for _, m := range members {
		mi, md := replay(v, m)
		ivs, dels = append(ivs, mi...), append(dels, md...)
		if m.killed {
			v.kills++
		}
	}
	v.intervals, v.deliveries = len(ivs), len(dels)
	checkExclusive(v, ivs)
	redone := checkDeliveries(v, n, dels)
	checkLostAcks(v, members, redone)
	return v
}

// checkLostAcks fails if a member's Close reported more acknowledgements
// lost (client.AckLostError: "they will be delivered again") than there
// were deliveries it sent an ack for that a delivery of the same message
// followed.
func checkLostAcks(v *verdict, members []memberLog, redone map[int]int64) {
	for _, m := range members {
		var lost int64
		for _, e := range m.events {
			if e.kind == 'Q' {
				lost += e.value
			}
		}
		if lost > redone[m.id] {
			v.failf("member %d: Close reported %d acknowledgements lost, but only %d of its acknowledged deliveries were followed by another", m.id, lost, redone[m.id])
		}
	}
}

// replay turns one member's log into its ownership intervals and
// deliveries, in log order.
func replay(v *verdict, m memberLog) ([]*interval, []*delivery) {
	var (
		ivs  []*interval
		dels []*delivery
		open = make(map[int32]*interval)
		last = make(map[[2]int64]*delivery) // latest delivery of (partition, offset)
	)
	closeIv := func(iv *interval, how byte, at int64) {
		iv.how, iv.end = how, at
		if how == endLost {
			iv.end = max(iv.start, iv.lastActive)
		}
		delete(open, iv.p)
		ivs = append(ivs, iv)
	}
	var pollStart int64
	for _, e := range m.events {
		iv := open[e.p]
		switch e.kind {
		case 'P':
			pollStart = e.ns
		case 'A':
			if iv != nil {
				iv.implicit = false
			} else {
				open[e.p] = &interval{member: m.id, p: e.p, start: e.ns}
			}
		case 'R', 'L':
			if iv == nil {
				continue
			}
			if iv.implicit {
				v.failf("member %d: delivered partition %d from %d without being assigned it (next: %c)", m.id, e.p, iv.start, e.kind)
			}
			if e.kind == 'L' {
				v.losses++
			}
			closeIv(iv, e.kind, e.ns)
		case 'D':
			if iv == nil {
				iv = &interval{member: m.id, p: e.p, start: e.ns, implicit: true}
				open[e.p] = iv
			}
			iv.lastActive = e.ns
			d := &delivery{member: m.id, p: e.p, off: e.off, value: e.value, ns: e.ns, iv: iv, pollStart: pollStart}
			dels = append(dels, d)
			last[[2]int64{int64(e.p), e.off}] = d
		case 'K', 'X':
			d := last[[2]int64{int64(e.p), e.off}]
			if d != nil {
				d.ackSent = e.kind == 'K'
			}
			if iv == nil {
				continue // after revocation: the ack may never reach the broker
			}
			iv.lastActive = e.ns
			if d != nil && d.iv == iv {
				d.acked = e.kind == 'K'
			}
		}
	}
	how := byte(endExit)
	if m.killed {
		how = endKilled
	}
	for _, p := range sortedKeys(open) {
		closeIv(open[p], how, m.end)
	}
	return ivs, dels
}

// checkExclusive fails if two members' intervals of one partition overlap.
func checkExclusive(v *verdict, ivs []*interval) {
	byPart := make(map[int32][]*interval)
	for _, iv := range ivs {
		byPart[iv.p] = append(byPart[iv.p], iv)
	}
	for _, p := range sortedKeys(byPart) {
		list := byPart[p]
		slices.SortFunc(list, func(a, b *interval) int { return cmp.Compare(a.start, b.start) })
		var longest *interval // of the intervals so far, the one ending last
		for _, iv := range list {
			if longest != nil && longest.member != iv.member && iv.start < longest.end {
				v.failf("partition %d: member %d owned it from %d while member %d owned it until %d (%c), %.1f ms of overlap",
					p, iv.member, iv.start, longest.member, longest.end, longest.how, float64(longest.end-iv.start)/1e6)
			}
			if longest == nil || iv.end > longest.end {
				longest = iv
			}
		}
	}
}

// checkDeliveries fails if a message was never delivered and acknowledged,
// or was delivered again although its previous delivery could not have
// been lost in flight: a redelivery is only allowed after a delivery at a
// member that was killed or lost before its ack reached the broker, or
// that had the partition revoked (or exited) before acking it. It returns,
// per member, how many of the deliveries it sent an ack for were followed
// by another delivery of the same message.
func checkDeliveries(v *verdict, n int, dels []*delivery) (redone map[int]int64) {
	redone = make(map[int]int64)
	byValue := make([][]*delivery, n)
	for _, d := range dels {
		if d.value < 0 || d.value >= int64(n) {
			v.failf("member %d: delivered unknown message %d at %d/%d", d.member, d.value, d.p, d.off)
			continue
		}
		byValue[d.value] = append(byValue[d.value], d)
	}
	missing, unacked := 0, 0
	for value, list := range byValue {
		if len(list) == 0 {
			if missing++; missing <= 5 {
				v.failf("message %d was never delivered", value)
			}
			continue
		}
		slices.SortFunc(list, func(a, b *delivery) int { return cmp.Compare(a.ns, b.ns) })
		acked := false
		for i, d := range list {
			acked = acked || d.acked
			if i == 0 {
				continue
			}
			v.duplicates++
			prev := list[i-1]
			if prev.ackSent {
				redone[prev.member]++
			}
			if prev.p != d.p || prev.off != d.off {
				v.failf("message %d delivered as %d/%d and as %d/%d", value, prev.p, prev.off, d.p, d.off)
			}
			switch {
			case prev.iv == d.iv && prev.pollStart < prev.iv.start:
				v.stale++
			case prev.iv == d.iv:
				v.failf("message %d delivered twice to member %d in one ownership of partition %d", value, d.member, d.p)
			case prev.iv.how == endKilled || prev.iv.how == endLost:
			case !prev.acked:
			default:
				v.ackedThenRevoked++
				v.failf("message %d (%d/%d) delivered again to member %d at %d although member %d acked it before giving the partition back (%c at %d)",
					value, d.p, d.off, d.member, d.ns, prev.member, prev.iv.how, prev.iv.end)
			}
		}
		if !acked {
			if unacked++; unacked <= 5 {
				v.failf("message %d was delivered %d times and never acknowledged", value, len(list))
			}
		}
	}
	if missing > 5 || unacked > 5 || v.ackedThenRevoked > 0 {
		v.failf("in all %d messages never delivered, %d never acknowledged, %d redelivered after an ack and a graceful revocation",
			missing, unacked, v.ackedThenRevoked)
	}
	return redone
}

func sortedKeys[V any](m map[int32]V) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
