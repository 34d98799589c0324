package kafka_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A commit is answered partition by partition, as Kafka answers it: a
// partition or topic that does not exist, or an offset past the high
// watermark, is refused on its own, and the others are committed (a
// negative offset forgets the partition's). The
// whole commit was refused, so one bad offset cost a consumer the progress
// of all its partitions (found with confluent-kafka's commit).
func TestCommitRefusesPartitionByPartition(t *testing.T) {
	p := start(t)
	fill(t, p, "pp", 3, 10)
	cl := p.client(t)
	codes := commit(t, cl, "pp-group", "", -1, commitOf{"pp", 0, 7, nil}, commitOf{"pp", 1, 100_000, nil},
		commitOf{"pp", 2, -5, nil}, commitOf{"pp", 5, 1, nil}, commitOf{"nope", 0, 1, nil})
	unknown, out := kerr.UnknownTopicOrPartition.Code, kerr.OffsetOutOfRange.Code
	if want := []int16{0, out, 0, unknown, unknown}; !slices.Equal(codes, want) {
		t.Fatalf("commit codes %v, want %v", codes, want)
	}
	if got := fetchOffsets(t, cl, "pp-group", "pp", 0, 1, 2); !slices.Equal(got, []int64{7, -1, -1}) {
		t.Fatalf("committed %v, want 7 and none (-1)", got)
	}
}

// A negative offset is taken, by a member too, as Kafka takes it: -2,
// which kafkajs commits to move a group to the earliest offset
// (admin.resetOffsets, a running consumer's seek) and reads back as such
// (fetchOffsets with resolveOffsets), is the earliest offset; any other
// forgets the partition's offset, as consumers read a negative one back as
// none. They were refused OFFSET_OUT_OF_RANGE, which crashed the kafkajs
// consumer: resetOffsets never returned.
func TestCommitOfNegativeOffset(t *testing.T) {
	p := start(t)
	fill(t, p, "neg", 2, 5)
	cl := p.client(t)
	if codes := commit(t, cl, "neg-group", "", -1, commitOf{"neg", 0, 4, nil}, commitOf{"neg", 1, 3, nil}); !slices.Equal(codes, []int16{0, 0}) {
		t.Fatalf("commit codes %v", codes)
	}
	if codes := commit(t, cl, "neg-group", "", -1, commitOf{"neg", 0, -2, nil}, commitOf{"neg", 1, -1, nil}); !slices.Equal(codes, []int16{0, 0}) {
		t.Fatalf("commit of -2 and -1: codes %v, want 0 (taken, as Kafka takes them)", codes)
	}
	if got := fetchOffsets(t, cl, "neg-group", "neg", 0, 1); !slices.Equal(got, []int64{0, -1}) {
		t.Fatalf("committed %v, want the earliest (0) and none (-1)", got)
	}

	join := rangeJoin("neg-group", 10000, 10000)
	joined, err := join.RequestWith(ctxT(t), cl)
	if err == nil && joined.ErrorCode == kerr.MemberIDRequired.Code {
		join.MemberID = joined.MemberID
		joined, err = join.RequestWith(ctxT(t), cl)
	}
	if err != nil || joined.ErrorCode != 0 {
		t.Fatalf("join: %v %+v", err, joined)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "neg-group", joined.Generation, joined.MemberID
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID = joined.MemberID
	sync.GroupAssignment = append(sync.GroupAssignment, sa)
	if synced, err := sync.RequestWith(ctxT(t), cl); err != nil || synced.ErrorCode != 0 {
		t.Fatalf("sync: %v %+v", err, synced)
	}
	if codes := commit(t, cl, "neg-group", joined.MemberID, joined.Generation, commitOf{"neg", 0, -1, nil}, commitOf{"neg", 1, -2, nil},
		commitOf{"neg", 2, -1, nil}); !slices.Equal(codes, []int16{0, 0, kerr.UnknownTopicOrPartition.Code}) {
		t.Fatalf("member's commit of -1 and -2: codes %v, want 0, 0 and UNKNOWN_TOPIC_OR_PARTITION", codes)
	}
	if got := fetchOffsets(t, cl, "neg-group", "neg", 0, 1); !slices.Equal(got, []int64{-1, 0}) {
		t.Fatalf("committed %v, want none (-1) and the earliest (0)", got)
	}
}
