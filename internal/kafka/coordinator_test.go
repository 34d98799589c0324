package kafka

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// On node 1 of a cluster, FindCoordinator names each group's coordinator
// at its Kafka address (batched from v4; COORDINATOR_NOT_AVAILABLE for one
// without a listener or not placed yet), every group request for a group
// another node coordinates answers NOT_COORDINATOR without touching it,
// and ListGroups lists only the groups node 1 coordinates.
func TestClusterNodeRoutesGroups(t *testing.T) {
	ctx, seed, addr := startClusterNode(t, fakeCluster{id: [16]byte{7}}, "t")
	ask := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := seed.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// askAs sends req as a client of Kafka version v would, in the version
	// of req that v has (kgo sends the newest both sides have).
	askAs := func(v *kversion.Versions, req kmsg.Request) kmsg.Response {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(v))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resp, err := cl.SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	var versions []int16
	for _, v := range []*kversion.Versions{kversion.V0_9_0(), kversion.V2_8_0()} {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey = "g2-orders"
		r := askAs(v, fc).(*kmsg.FindCoordinatorResponse)
		if r.Version >= 4 || r.ErrorCode != 0 || r.NodeID != 2 || r.Host != "127.0.0.2" || r.Port != 9092 {
			t.Fatalf("FindCoordinator v%d: %+v", r.Version, r)
		}
		versions = append(versions, r.Version)
	}
	for _, v := range []*kversion.Versions{kversion.V3_0_0(), kversion.Stable()} {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKeys = []string{"mine", "g2-orders", "g3-orders", "unplaced"}
		r := askAs(v, fc).(*kmsg.FindCoordinatorResponse)
		want := []struct {
			node int32
			code int16
		}{{1, 0}, {2, 0}, {-1, kerr.CoordinatorNotAvailable.Code}, {-1, kerr.CoordinatorNotAvailable.Code}}
		if len(r.Coordinators) != len(want) {
			t.Fatalf("FindCoordinator v%d: %+v", r.Version, r.Coordinators)
		}
		for i, co := range r.Coordinators {
			if co.Key != fc.CoordinatorKeys[i] || co.NodeID != want[i].node || co.ErrorCode != want[i].code {
				t.Fatalf("FindCoordinator v%d, %s: %+v", r.Version, fc.CoordinatorKeys[i], co)
			}
		}
		versions = append(versions, r.Version)
	}
	if !slices.Equal(versions, []int16{0, 3, 4, 5}) {
		t.Fatalf("FindCoordinator versions asked: %v, want 0, 3, 4, 5", versions)
	}

	// A member of node 1's group commits offsets: ListGroups shows it.
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version, oc.Group, oc.Generation = 8, "mine", -1
	oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}}}
	if code := ask(oc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit to node 1's group: %d", code)
	}

	const g = "g2-orders"
	nc := kerr.NotCoordinator.Code
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = 9, g, 10000, 10000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version, sync.Group, sync.MemberID, sync.Generation = 5, g, "m", 1
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation = 4, g, "m", 1
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group = 5, g
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	oc.Group = g
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version, of.Group = 7, g
	of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	of1 := kmsg.NewPtrOffsetFetchRequest()
	of1.Version, of1.Group, of1.Topics = 1, g, of.Topics
	cgh := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cgh.Version, cgh.Group, cgh.MemberID, cgh.RebalanceTimeoutMillis = 1, g, "m", 10000
	cgh.SubscribedTopicNames, cgh.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Version, cgd.Groups = 1, []string{g}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups = 5, []string{g}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version, del.Groups = 2, []string{g}
	codes := map[string]func() int16{
		"JoinGroup":      func() int16 { return ask(join).(*kmsg.JoinGroupResponse).ErrorCode },
		"SyncGroup":      func() int16 { return ask(sync).(*kmsg.SyncGroupResponse).ErrorCode },
		"Heartbeat":      func() int16 { return ask(hb).(*kmsg.HeartbeatResponse).ErrorCode },
		"LeaveGroup":     func() int16 { return ask(leave).(*kmsg.LeaveGroupResponse).ErrorCode },
		"OffsetCommit":   func() int16 { return ask(oc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode },
		"OffsetFetch":    func() int16 { return ask(of).(*kmsg.OffsetFetchResponse).ErrorCode },
		"OffsetFetch v1": func() int16 { return ask(of1).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0].ErrorCode },
		"ConsumerGroupHeartbeat": func() int16 {
			return ask(cgh).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
		},
		"ConsumerGroupDescribe": func() int16 { return ask(cgd).(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode },
		"DescribeGroups":        func() int16 { return ask(dg).(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode },
		"DeleteGroups":          func() int16 { return ask(del).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode },
	}
	for name, code := range codes {
		if got := code(); got != nc {
			t.Errorf("%s of node 2's group: error %d, want NOT_COORDINATOR", name, got)
		}
	}

	lg := ask(kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "mine" {
		t.Fatalf("ListGroups on node 1: %+v", lg.Groups)
	}
}
