package broker

import (
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// A reset that fails leaves no group behind: the group a reset creates is
// created only once the reset is known to succeed.
func TestFailedResetCreatesNoGroup(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(api.CreateTopicRequest{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  api.ResetOffsetsRequest
		want *api.Error
	}{
		{"unknown topic", api.ResetOffsetsRequest{To: api.OffsetResetEarliest, Topics: []string{"nope"}}, api.ErrTopicNotFound},
		{"unknown topic in offsets", api.ResetOffsetsRequest{To: "offsets", Offsets: api.Offsets{"nope": {0: 0}}}, api.ErrTopicNotFound},
		{"unknown partition", api.ResetOffsetsRequest{To: "offsets", Offsets: api.Offsets{"orders": {7: 0}}}, api.ErrPartitionNotFound},
		{"out of range", api.ResetOffsetsRequest{To: "offsets", Offsets: api.Offsets{"orders": {0: 99}}}, api.ErrOffsetOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.ResetOffsets("g", tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("reset: %v, want %v", err, tc.want)
			}
			if gs := b.Groups().Groups; len(gs) != 0 {
				t.Fatalf("groups after a failed reset: %+v", gs)
			}
		})
	}
	if _, err := b.ResetOffsets("g", api.ResetOffsetsRequest{To: api.OffsetResetLatest, Topics: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	if gs := b.Groups().Groups; len(gs) != 1 || gs[0].GroupID != "g" {
		t.Fatalf("groups after a reset: %+v", gs)
	}
}
