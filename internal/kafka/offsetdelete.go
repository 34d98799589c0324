package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// offsetDelete forgets a group's committed offsets of the partitions
// named (kafka-consumer-groups --delete-offsets, kadm's DeleteOffsets), as
// Kafka does: while the group has members too, but for the partitions of
// a topic a member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC). That is what
// the API is for: dropping the offsets of a topic a live group no longer
// consumes, whose lag otherwise grows for good. A classic group whose
// members speak another protocol than consumer (their subscriptions
// opaque) is NON_EMPTY_GROUP, and one with a member whose subscription
// does not decode counts every topic named as subscribed, as in Kafka; a
// partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION. Classic
// subscriptions are the listener's soft state: right after a restart or
// a failover, before the members rejoin, there are none (README).
func (s *Server) offsetDelete(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	resp.SetVersion(req.Version)
	if resp.ErrorCode = s.notCoordinator(req.Group); resp.ErrorCode != 0 {
		return resp, nil
	}
	if _, err := s.b.DescribeGroup(req.Group); err != nil {
		resp.ErrorCode = groupCode(err) // GROUP_ID_NOT_FOUND
		return resp, nil
	}
	also, every, opaque := s.groups.subscribed(req.Group)
	if opaque {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp, nil
	}
	if every {
		for _, rt := range req.Topics {
			also = append(also, rt.Topic)
		}
	}
	named, codes := broker.Assignment{}, map[string]map[int32]int16{}
	for _, rt := range req.Topics {
		if codes[rt.Topic] == nil { // a topic may be named twice
			codes[rt.Topic] = map[int32]int16{}
		}
		count := int32(-1) // the topic does not exist
		if ti, err := s.b.Topic(rt.Topic); err == nil {
			count = int32(len(ti.Partitions))
		}
		for _, rp := range rt.Partitions {
			if rp.Partition < 0 || rp.Partition >= count {
				codes[rt.Topic][rp.Partition] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			named[rt.Topic] = append(named[rt.Topic], rp.Partition)
		}
	}
	kept, err := s.b.DeleteOffsets(req.Group, named, also)
	if err != nil {
		resp.ErrorCode = groupCode(err)
		return resp, nil
	}
	for t, ps := range kept {
		for _, p := range ps {
			codes[t][p] = kerr.GroupSubscribedToTopic.Code
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, codes[rt.Topic][rp.Partition]
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// subscribed returns the topics the members of classic group id subscribe
// to; every if a member's subscription does not decode (Kafka then takes
// every topic as subscribed); opaque if the members speak another protocol
// type than consumer, whose subscriptions are not Kafka's to read.
func (gs *groups) subscribed(id string) (topics []string, every, opaque bool) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.lookup(id)
	if g == nil || len(g.members) == 0 {
		return nil, false, false
	}
	if g.protocolType != protocolTypeConsumer {
		return nil, false, true
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.metadata(g.protocol)) != nil {
			return nil, true, false
		}
		topics = append(topics, meta.Topics...)
	}
	return topics, false, false
}
