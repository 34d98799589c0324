package chaostest

import (
	"cmp"
	"slices"
)

// position is where an acknowledged produce put one message; p is -1 for
// a message the producer never had acknowledged.
type position struct {
	p   int32
	off int64
}

// commit is a commit the broker took, as a member logged it.
type commit struct {
	member int
	p      int32
	off    int64
	ns     int64
}

// kafkaVerdict is what checkKafka found.
type kafkaVerdict struct {
	verdict
	commits, refused int
}

// checkKafka proves, from the Kafka members' logs and where the producer's
// acknowledged messages went, that
//   - every acknowledged message was delivered, from the partition and
//     offset its produce was answered with (none lost, none moved);
//   - no partition had two owners at once: a member owns a partition from
//     its OnPartitionsAssigned to its OnPartitionsRevoked, its kill or its
//     exit; a member that lost it (fenced by the broker while alive, told
//     late) owned it until the last commit the broker took from it, since
//     a fenced member may go on reading but must not commit;
//   - every delivery and every commit the broker took happened while the
//     member owned the partition;
//   - the commits the broker took of each partition, in time order, never
//     go backwards;
//   - the generation (classic) or member epoch (KIP-848) a member is
//     assigned partitions in is positive and never goes backwards.
//
// Duplicates are allowed (at least once); they are counted.
func checkKafka(produced []position, members []memberLog) *kafkaVerdict {
	v := &kafkaVerdict{}
	var (
		ivs     []*interval
		dels    []*delivery
		commits []commit
	)
	for _, m := range members {
		mi, md, mc := v.replay(m)
		ivs, dels, commits = append(ivs, mi...), append(dels, md...), append(commits, mc...)
		if m.killed {
			v.kills++
		}
	}
	v.intervals, v.deliveries, v.commits = len(ivs), len(dels), len(commits)
	checkExclusive(&v.verdict, ivs)
	v.checkDelivered(produced, dels)
	v.checkCommitsForward(commits)
	return v
}

// replay turns one member's log into its ownership intervals, deliveries
// and taken commits.
func (v *kafkaVerdict) replay(m memberLog) ([]*interval, []*delivery, []commit) {
	var (
		ivs     []*interval
		dels    []*delivery
		commits []commit
		open    = make(map[int32]*interval)
		epoch   int64
	)
	closeIv := func(iv *interval, how byte, at int64) {
		iv.how, iv.end = how, at
		if how == endLost {
			iv.end = max(iv.start, iv.lastActive)
		}
		delete(open, iv.p)
		ivs = append(ivs, iv)
	}
	for _, e := range m.events {
		iv := open[e.p]
		switch e.kind {
		case 'G':
			if e.value < epoch || e.value <= 0 {
				v.failf("member %d: assigned in epoch %d after epoch %d", m.id, e.value, epoch)
			}
			epoch = e.value
		case 'A':
			if iv != nil {
				v.failf("member %d: assigned partition %d in epoch %d while it owned it since %d", m.id, e.p, epoch, iv.start)
				continue
			}
			open[e.p] = &interval{member: m.id, p: e.p, start: e.ns}
		case 'R', 'L':
			if iv == nil {
				continue // kgo reports what it lost, owned or not
			}
			if e.kind == 'L' {
				v.losses++
			}
			closeIv(iv, e.kind, e.ns)
		case 'D':
			if iv == nil {
				v.failf("member %d: delivered %d/%d at %d without owning partition %d", m.id, e.p, e.off, e.ns, e.p)
				continue
			}
			dels = append(dels, &delivery{member: m.id, p: e.p, off: e.off, value: e.value, ns: e.ns, iv: iv})
		case 'K':
			if iv == nil {
				v.failf("member %d: the broker took its commit of %d/%d at %d, after it gave the partition up", m.id, e.p, e.off, e.ns)
				continue
			}
			iv.lastActive = e.ns
			commits = append(commits, commit{member: m.id, p: e.p, off: e.off, ns: e.ns})
		case 'X':
			v.refused++
		}
	}
	how := byte(endExit)
	if m.killed {
		how = endKilled
	}
	for _, p := range sortedKeys(open) {
		closeIv(open[p], how, m.end)
	}
	return ivs, dels, commits
}

// checkDelivered fails if an acknowledged message was never delivered, or
// was delivered from another place than its produce was answered with.
func (v *kafkaVerdict) checkDelivered(produced []position, dels []*delivery) {
	seen := make([]int, len(produced))
	for _, d := range dels {
		if d.value < 0 || d.value >= int64(len(produced)) {
			v.failf("member %d: delivered unknown message %d at %d/%d", d.member, d.value, d.p, d.off)
			continue
		}
		if at := produced[d.value]; at.p >= 0 && (at.p != d.p || at.off != d.off) {
			v.failf("message %d was produced to %d/%d and delivered from %d/%d", d.value, at.p, at.off, d.p, d.off)
		}
		if seen[d.value]++; seen[d.value] > 1 {
			v.duplicates++
		}
	}
	missing := 0
	for value, at := range produced {
		if at.p >= 0 && seen[value] == 0 {
			if missing++; missing <= 5 {
				v.failf("message %d, produced to %d/%d, was never delivered", value, at.p, at.off)
			}
		}
	}
	if missing > 5 {
		v.failf("in all %d acknowledged messages never delivered", missing)
	}
}

// checkCommitsForward fails if a partition's taken commits, in the order
// the members logged them, ever go backwards. Each member commits only
// while it owns the partition and logs the commit before it can give the
// partition up, so log order is the broker's order.
func (v *kafkaVerdict) checkCommitsForward(commits []commit) {
	slices.SortStableFunc(commits, func(a, b commit) int { return cmp.Compare(a.ns, b.ns) })
	last := map[int32]commit{}
	for _, c := range commits {
		if prev, ok := last[c.p]; ok && c.off < prev.off {
			v.failf("partition %d: committed offset went back from %d (member %d at %d) to %d (member %d at %d)",
				c.p, prev.off, prev.member, prev.ns, c.off, c.member, c.ns)
		}
		last[c.p] = c
	}
}
