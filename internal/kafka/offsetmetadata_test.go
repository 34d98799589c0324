package kafka_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The metadata string committed with an offset comes back from
// OffsetFetch, after a restart too, from a commit without member as from
// a KIP-848 member's; one over 4096 bytes is refused
// OFFSET_METADATA_TOO_LARGE (Kafka's default offset.metadata.max.bytes)
// and its offset with it; a partition without metadata or without offset
// answers "", as Kafka does. Metadata was dropped: OffsetFetch answered
// null for every partition.
func TestCommitMetadataKept(t *testing.T) {
	p := start(t)
	fill(t, p, "om", 3, 10)
	cl := p.client(t)
	// A KIP-848 member of its own group, owning the topic's partitions.
	join := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	join.Group, join.MemberID, join.RebalanceTimeoutMillis = "om-848", "m1", 5000
	join.SubscribedTopicNames, join.Topics = []string{"om"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	joined, err := join.RequestWith(ctxT(t), cl)
	if err != nil || joined.ErrorCode != 0 {
		t.Fatalf("join: %v %+v", err, joined)
	}
	long := strings.Repeat("x", 4097)
	for _, c := range []struct {
		group, member string
		generation    int32
	}{
		{"om-free", "", -1},
		{"om-848", "m1", joined.MemberEpoch},
	} {
		codes := commit(t, cl, c.group, c.member, c.generation,
			commitOf{"om", 0, 5, kmsg.StringPtr("state-0")}, commitOf{"om", 1, 4, nil}, commitOf{"om", 2, 3, &long})
		if want := []int16{0, 0, kerr.OffsetMetadataTooLarge.Code}; !slices.Equal(codes, want) {
			t.Fatalf("%s: commit codes %v, want %v", c.group, codes, want)
		}
	}
	// Every partition's metadata too long: each refused for it (a commit
	// of nothing was INVALID_CONFIG).
	if codes := commit(t, cl, "om-free", "", -1, commitOf{"om", 0, 6, &long}); !slices.Equal(codes, []int16{kerr.OffsetMetadataTooLarge.Code}) {
		t.Fatalf("a commit of one partition with metadata too long: codes %v", codes)
	}
	if codes := commit(t, cl, "om-848", "m1", joined.MemberEpoch, commitOf{"om", 0, 6, &long}); !slices.Equal(codes, []int16{kerr.OffsetMetadataTooLarge.Code}) {
		t.Fatalf("a KIP-848 member's commit of one partition with metadata too long: codes %v", codes)
	}
	check := func(when string) {
		t.Helper()
		for _, group := range []string{"om-free", "om-848"} {
			type got struct {
				offset int64
				meta   string
			}
			want := []got{{5, "state-0"}, {4, ""}, {-1, ""}}
			for i, sp := range fetchCommitted(t, p.client(t), group, "om", 0, 1, 2) {
				if sp.Metadata == nil {
					t.Fatalf("%s: %s/%d metadata null, want %q", when, group, sp.Partition, want[i].meta)
				}
				if g := (got{sp.Offset, *sp.Metadata}); g != want[i] {
					t.Fatalf("%s: %s/%d = %+v, want %+v", when, group, sp.Partition, g, want[i])
				}
			}
		}
	}
	check("before a restart")
	p.Restart()
	check("after a restart")
}
