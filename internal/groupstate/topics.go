package groupstate

import (
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Partition is what the group needs to know of one partition of a topic,
// as the caller read it (in memory: no record is read).
type Partition struct {
	Earliest      int64 // the first offset held
	HighWatermark int64 // the offset after the last record
	Bytes         int64 // the log's stored bytes: bounds what a poll reads
}

// Topic is what the group needs to know of one topic.
type Topic struct {
	Born            int64 // created_at: a topic created again under its name is another topic
	MaxMessageBytes int32 // the largest record the topic takes
	Partitions      []Partition
}

// Topics is a view of existing topics by name. A command that takes one
// needs (at least) the topics it names, or that the group or member
// subscribes to; SetTopics takes every topic that exists.
type Topics map[string]Topic

// partition returns partition p of topic t, or PARTITION_NOT_FOUND.
func (top Topic) partition(t string, p int32) (Partition, error) {
	if p < 0 || int(p) >= len(top.Partitions) {
		return Partition{}, api.ErrPartitionNotFound.
			Withf("topic %q has partitions 0..%d; there is no partition %d", t, len(top.Partitions)-1, p).
			WithDetail("topic", t).WithDetail("partition", p).WithDetail("partitions", len(top.Partitions))
	}
	return top.Partitions[p], nil
}

// topic returns topic t as the command's view has it, unless it is not the
// topic the group knows by that name: one created again since (another
// created_at), which only SetTopics makes the group take, forgetting the
// old one's state. Until then the group acts as if t did not exist, so that
// no state of the old topic is applied to the new one's records.
func (a *Group) topic(t string) (Topic, bool) {
	top, ok := a.lookup(t)
	if !ok {
		return Topic{}, false
	}
	if born, known := a.born[t]; known && born != top.Born {
		return Topic{}, false
	}
	return top, true
}

// counts returns the partition count of every topic of ts.
func (ts Topics) counts() map[string]int32 {
	out := make(map[string]int32, len(ts))
	for t, top := range ts {
		out[t] = int32(len(top.Partitions))
	}
	return out
}

// names returns the topics of ts, sorted.
func (ts Topics) names() []string {
	out := make([]string, 0, len(ts))
	for t := range ts {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// SetTopics tells the group every topic that exists now (a topic created,
// deleted, grown, or created again under its name): the membership
// rebalances over the new partition counts, and the delivery state and
// stored offsets of partitions that no longer exist are dropped. A topic
// whose created_at is not the one the group knew (from the last SetTopics,
// the offsets restored, or the first command that named it) is a new topic: the group is told the old one was
// deleted, then the new one added, and the new one starts at its earliest
// offsets.
func (a *Group) SetTopics(now time.Time, topics Topics) Effects {
	a.begin(nil)
	a.known, a.arg = nil, topics // what is gone is gone
	var recreated []string
	for _, t := range topics.names() {
		if old, ok := a.born[t]; ok && old != topics[t].Born {
			recreated = append(recreated, t)
		}
	}
	clear(a.born)
	for t, top := range topics {
		a.born[t] = top.Born
	}
	counts := topics.counts()
	if len(recreated) > 0 {
		without := make(Topics, len(topics))
		for t, top := range topics {
			if !slices.Contains(recreated, t) {
				without[t] = top
			}
		}
		a.arg = without // the old topics are gone
		a.g.SetPartitions(now, without.counts())
		a.afterOp()
		for _, tp := range a.d.Partitions() {
			if slices.Contains(recreated, tp.Topic) {
				a.forget(tp)
			}
		}
		for _, t := range recreated {
			if _, ok := a.subs[t]; ok {
				a.subs[t] = []int64{} // created after the subscription: from the earliest
			}
		}
		a.arg = topics
	}
	a.g.SetPartitions(now, counts)
	a.afterOp()
	for _, t := range slices.Sorted(maps.Keys(a.subs)) {
		if counts[t] == 0 {
			a.subs[t] = []int64{} // if created again: from the earliest
		}
	}
	for _, tp := range a.d.Partitions() {
		if tp.Partition >= counts[tp.Topic] {
			a.forget(tp)
		}
	}
	a.known = topics
	return a.end(now)
}
