package kafka

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
)

// offsetFetch returns a group's committed offsets (-1 where none is) and
// the metadata committed with each ("" where none was, as Kafka answers),
// from the same store as offsetCommit writes.
func (s *Server) offsetFetch(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.SetVersion(req.Version)
	if code := s.notCoordinator(req.Group); code != 0 {
		// Before v2 only the partitions carry an error.
		resp.ErrorCode = code
		for _, t := range req.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.ErrorCode = p, -1, -1, code
				sp.Metadata = kmsg.StringPtr("")
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	offsets, metadata, err := s.b.GroupCommits(req.Group)
	if err != nil && !errors.Is(err, api.ErrGroupNotFound) {
		resp.ErrorCode = groupCode(err)
		return resp, nil
	}
	want := req.Topics
	if want == nil {
		// All of them (v2+).
		for _, t := range slices.Sorted(mapKeys(offsets)) {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = t
			rt.Partitions = slices.Sorted(mapKeys(offsets[t]))
			want = append(want, rt)
		}
	}
	for _, t := range want {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = t.Topic
		for _, p := range t.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch = p, -1, -1
			if off, ok := offsets[t.Topic][p]; ok {
				sp.Offset = off
			}
			sp.Metadata = kmsg.StringPtr(metadata[t.Topic][p])
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
