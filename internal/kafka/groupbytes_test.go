package kafka_test

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A classic group keeps its members' protocol metadata (JoinGroup) and
// the leader's assignments (SyncGroup) past the request that brought
// them, whose bytes the connection reuses for its next request: they were
// kept as slices of it, so a later request on the leader's connection
// overwrote them, and DescribeGroups answered garbage, and a follower
// syncing after it got another request's bytes for its assignment
// (kafka-python and kadm, trying GoQueue as users, found it).
func TestGroupBytesOutliveTheirRequest(t *testing.T) {
	p := start(t)
	c, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func(corr int32, req kmsg.Request, resp kmsg.Response) {
		t.Helper()
		if _, err := c.Write(frameOf(corr, req)); err != nil {
			t.Fatal(err)
		}
		got, body := readAnswer(t, c)
		if got != corr {
			t.Fatalf("answer %d, want %d", got, corr)
		}
		resp.SetVersion(req.GetVersion())
		if req.IsFlexible() {
			body = body[1:] // no header tags
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
	}
	meta, assignment := bytes.Repeat([]byte{'M'}, 64), bytes.Repeat([]byte{'A'}, 64)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 3
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "bytes", 30000, 5000, "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", meta
	join.Protocols = append(join.Protocols, jp)
	joined := kmsg.NewPtrJoinGroupResponse()
	ask(1, join, joined)
	if joined.ErrorCode != 0 || joined.LeaderID != joined.MemberID {
		t.Fatalf("join: code %d, leader %q, member %q", joined.ErrorCode, joined.LeaderID, joined.MemberID)
	}
	// A request of the same size next is read over the join's bytes.
	other := func(corr int32, after kmsg.Request) {
		t.Helper()
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Version = 0
		dg.Groups = []string{"z"}
		// Its group's name makes it as long as after's frame.
		dg.Groups[0] = strings.Repeat("z", 1+len(frameOf(0, after))-len(frameOf(0, dg)))
		ask(corr, dg, kmsg.NewPtrDescribeGroupsResponse())
	}
	other(10, join)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 1
	sync.Group, sync.Generation, sync.MemberID = "bytes", joined.Generation, joined.MemberID
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = joined.MemberID, assignment
	sync.GroupAssignment = append(sync.GroupAssignment, sa)
	synced := kmsg.NewPtrSyncGroupResponse()
	ask(2, sync, synced)
	if synced.ErrorCode != 0 || !bytes.Equal(synced.MemberAssignment, assignment) {
		t.Fatalf("sync: code %d, assignment %q", synced.ErrorCode, synced.MemberAssignment)
	}

	other(11, sync) // and over the sync's
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version = 0
	dg.Groups = []string{"bytes"}
	described := kmsg.NewPtrDescribeGroupsResponse()
	ask(5, dg, described)
	if g := described.Groups[0]; len(g.Members) != 1 || !bytes.Equal(g.Members[0].ProtocolMetadata, meta) ||
		!bytes.Equal(g.Members[0].MemberAssignment, assignment) {
		t.Fatalf("described after later requests: %+v; want the member's metadata %q and assignment %q", g.Members, meta, assignment)
	}
}
