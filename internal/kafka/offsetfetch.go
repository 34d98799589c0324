package kafka

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
)

// offsetFetch returns a group's committed offsets (-1 where none is) and
// the metadata committed with each ("" where none was, as Kafka answers),
// from the same store as offsetCommit writes (GroupCommits). Without
// require_stable (v7+; always before), as Kafka answers: at once, the
// offsets last written, not waiting for writes in progress (a partition
// being written answers the offset written before). With it, as Kafka
// 4's coordinator, which waits for the offsets pending: once the writes
// in progress have ended (up to 2 s); a partition whose write failed or
// took longer answers UNSTABLE_OFFSET_COMMIT (retriable), as Kafka's
// older coordinator answered one being written, and the others their
// offsets.
func (s *Server) offsetFetch(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.SetVersion(req.Version)
	if code := s.notCoordinator(req.Group); code != 0 {
		return offsetFetchFailed(req, resp, code), nil
	}
	commits, err := s.b.GroupCommits(req.Group, req.RequireStable)
	if err != nil && !errors.Is(err, api.ErrGroupNotFound) {
		return offsetFetchFailed(req, resp, groupCode(err)), nil
	}
	offsets, metadata := commits.Offsets, commits.Metadata
	unstable := func(t string, p int32) bool { return slices.Contains(commits.Unstable[t], p) }
	want := req.Topics
	if want == nil {
		// All of them (v2+).
		parts := map[string][]int32{}
		for t, ps := range offsets {
			parts[t] = append(parts[t], slices.Collect(mapKeys(ps))...)
		}
		for t, ps := range commits.Unstable {
			parts[t] = append(parts[t], ps...)
		}
		for _, t := range slices.Sorted(mapKeys(parts)) {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = t
			rt.Partitions = slices.Sorted(slices.Values(parts[t]))
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
			if unstable(t.Topic, p) {
				sp.ErrorCode = kerr.UnstableOffsetCommit.Code
			}
			sp.Metadata = kmsg.StringPtr(metadata[t.Topic][p])
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// offsetFetchFailed answers req with code for the whole group: in the
// response's error (v2+) and in each partition asked for, where v0 and v1,
// which have no other place for it, read it (as Kafka answers them). A v0
// or v1 answer carried no partition and so no error, as if the group had
// no offset committed, to a consumer asking while the group's offsets
// were being written (UNAVAILABLE) or its coordinator moved.
func offsetFetchFailed(req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse, code int16) *kmsg.OffsetFetchResponse {
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
	return resp
}
