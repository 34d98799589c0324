package kafka_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A commit's refusal of one partition (an offset past the high watermark,
// a partition or topic that does not exist) refuses that partition only:
// the others are committed, as Kafka answers partition by partition. The
// whole commit was refused, so one bad offset cost a consumer the
// progress of all its partitions (found with confluent-kafka's commit).
func TestCommitRefusesPartitionByPartition(t *testing.T) {
	p := start(t)
	fill(t, p, "pp", 2, 10)
	cl := p.client(t)
	codes := commit(t, cl, "pp-group", "", -1,
		commitOf{"pp", 0, 7, nil}, commitOf{"pp", 1, 100_000, nil}, commitOf{"pp", 5, 1, nil}, commitOf{"nope", 0, 1, nil})
	unknown := kerr.UnknownTopicOrPartition.Code
	if want := []int16{0, kerr.OffsetOutOfRange.Code, unknown, unknown}; !slices.Equal(codes, want) {
		t.Fatalf("commit codes %v, want %v", codes, want)
	}
	if got := fetchOffsets(t, cl, "pp-group", "pp", 0, 1); !slices.Equal(got, []int64{7, -1}) {
		t.Fatalf("committed %v, want 7 and none (-1)", got)
	}
}
