package kafka_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A commit is answered partition by partition, as Kafka answers it: a
// partition or topic that does not exist, or an offset outside 0..the
// high watermark, is refused on its own, and the others are committed. The
// whole commit was refused, so one bad offset cost a consumer the progress
// of all its partitions (found with confluent-kafka's commit).
func TestCommitRefusesPartitionByPartition(t *testing.T) {
	p := start(t)
	fill(t, p, "pp", 3, 10)
	cl := p.client(t)
	codes := commit(t, cl, "pp-group", "", -1, commitOf{"pp", 0, 7, nil}, commitOf{"pp", 1, 100_000, nil},
		commitOf{"pp", 2, -5, nil}, commitOf{"pp", 5, 1, nil}, commitOf{"nope", 0, 1, nil})
	unknown, out := kerr.UnknownTopicOrPartition.Code, kerr.OffsetOutOfRange.Code
	if want := []int16{0, out, out, unknown, unknown}; !slices.Equal(codes, want) {
		t.Fatalf("commit codes %v, want %v", codes, want)
	}
	if got := fetchOffsets(t, cl, "pp-group", "pp", 0, 1, 2); !slices.Equal(got, []int64{7, -1, -1}) {
		t.Fatalf("committed %v, want 7 and none (-1)", got)
	}
}
