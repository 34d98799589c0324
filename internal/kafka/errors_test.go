package kafka

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/abd-ulbasit/goqueue/api"
)

// TestErrorCodes: the core's coded errors reach Kafka clients as the Kafka
// code that keeps their meaning, retriability above all: a full or lost
// disk is retriable over HTTP (507/503) and must be over Kafka too.
func TestErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want *kerr.Error
	}{
		{nil, nil},
		{fmt.Errorf("plain"), kerr.UnknownServerError},
		{api.ErrTopicNotFound.Withf("x"), kerr.UnknownTopicOrPartition},
		{fmt.Errorf("wrapped: %w", api.ErrMessageTooLarge.Withf("x")), kerr.MessageTooLarge},
		{api.ErrStorageFull.Withf("disk full"), kerr.KafkaStorageError},
		{api.ErrStorageFailed.Withf("dir lost"), kerr.KafkaStorageError},
		{api.ErrTooManyTopics.Withf("limit"), kerr.PolicyViolation},
		{api.ErrTooManyMembers.Withf("limit"), kerr.GroupMaxSizeReached},
		{api.ErrInconsistentProtocol.Withf("x"), kerr.InconsistentGroupProtocol},
	} {
		want := int16(0)
		if c.want != nil {
			want = c.want.Code
		}
		if got := errorCode(c.err); got != want {
			t.Errorf("errorCode(%v) = %d (%v), want %d (%v)", c.err, got, kerr.ErrorForCode(got), want, c.want)
		}
	}
	if !kerr.IsRetriable(kerr.ErrorForCode(errorCode(api.ErrStorageFull.Withf("x")))) {
		t.Error("a full disk is not retriable over Kafka")
	}
}

// A group request a coordinator cannot answer now (its shard changing
// leaders) is COORDINATOR_NOT_AVAILABLE, which clients retry after finding
// the coordinator again; it was NOT_LEADER_OR_FOLLOWER, a partition's
// error, on which a consumer's commit failed (found by a helper pausing a
// 3-node cluster's coordinator). Other errors keep their codes.
func TestGroupCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want *kerr.Error
	}{
		{api.ErrUnavailable.Withf("group g's coordinator is changing"), kerr.CoordinatorNotAvailable},
		{fmt.Errorf("wrapped: %w", api.ErrUnavailable.Withf("x")), kerr.CoordinatorNotAvailable},
		{api.ErrNotCoordinator.Withf("node 2 does"), kerr.NotCoordinator},
		{api.ErrGroupNotFound.Withf("x"), kerr.GroupIDNotFound},
	} {
		if got := groupCode(c.err); got != c.want.Code {
			t.Errorf("groupCode(%v) = %d (%v), want %v", c.err, got, kerr.ErrorForCode(got), c.want)
		}
	}
}

// TestErrorTableKafkaColumn: every row of the table names a Kafka code that
// exists, never NONE; a retriable row is retriable over Kafka too (or the
// client would give up on a disk that frees up), except STALE_GENERATION
// and DUPLICATE_INSTANCE_ID, whose Kafka codes make the client rejoin
// instead of retrying; and only codes no Kafka request can meet go out as
// UNKNOWN_SERVER_ERROR.
func TestErrorTableKafkaColumn(t *testing.T) {
	unmapped := map[*api.Error]bool{ // no Kafka counterpart
		api.ErrNotFound: true, api.ErrMethodNotAllowed: true, api.ErrUnsupportedMedia: true,
		api.ErrForbidden: true, api.ErrInternal: true,
		api.ErrNoOffset: true, api.ErrNotInFlight: true, api.ErrDuplicateInstance: true,
		api.ErrHeadersTooLarge: true, api.ErrReplayInProgress: true, // DLQ replays are HTTP-only
	}
	rejoin := map[*api.Error]bool{api.ErrStaleGeneration: true, api.ErrDuplicateInstance: true}
	for _, e := range api.Codes() {
		if e.Kafka == 0 {
			t.Errorf("%s: no Kafka code (0 is NONE)", e.Code)
			continue
		}
		ke := kerr.ErrorForCode(e.Kafka)
		var known *kerr.Error
		if !errors.As(ke, &known) {
			t.Errorf("%s: Kafka code %d is not a Kafka error", e.Code, e.Kafka)
			continue
		}
		if got := errorCode(e.Withf("x")); got != e.Kafka {
			t.Errorf("errorCode(%s) = %d, want the table's %d", e.Code, got, e.Kafka)
		}
		if (ke == kerr.UnknownServerError) != unmapped[e] {
			t.Errorf("%s is said as %v; unmapped = %v", e.Code, ke, unmapped[e])
		}
		if e.Retriable && !unmapped[e] && !rejoin[e] && !kerr.IsRetriable(ke) {
			t.Errorf("%s is retriable but its Kafka code %v is not", e.Code, ke)
		}
	}
}
