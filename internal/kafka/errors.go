package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/abd-ulbasit/goqueue/api"
)

// errorCode is the Kafka code a Kafka client gets for err: the Kafka column
// of the error table in api/errors.go for the core's coded errors, and
// UNKNOWN_SERVER_ERROR for anything else.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
		return ke.Code // a Kafka-only refusal, such as FENCED_LEADER_EPOCH
	}
	var e *api.Error
	if !errors.As(err, &e) || e.Kafka == 0 {
		return kerr.UnknownServerError.Code
	}
	return e.Kafka
}

// groupCode is errorCode for a group request: a coordinator that cannot
// answer now (UNAVAILABLE: its group shard is changing leaders, or not
// confirmed in time) is COORDINATOR_NOT_AVAILABLE, on which Kafka clients
// look for the coordinator again and retry. NOT_LEADER_OR_FOLLOWER, what
// UNAVAILABLE is for partitions, is a partition's error: a consumer's
// commit failed on it instead of retrying.
func groupCode(err error) int16 {
	if errors.Is(err, api.ErrUnavailable) {
		return kerr.CoordinatorNotAvailable.Code
	}
	return errorCode(err)
}

// errorMessage is the text of err for responses that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
