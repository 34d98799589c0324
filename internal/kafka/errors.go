package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/abd-ulbasit/goqueue/api"
)

// errorCodes is the Kafka column of the error table in api/errors.go: the
// code a Kafka client gets for each of the core's coded errors. Codes not
// listed are answered UNKNOWN_SERVER_ERROR and logged.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var e *api.Error
	if !errors.As(err, &e) {
		return kerr.UnknownServerError.Code
	}
	switch e.Code {
	case api.ErrTopicNotFound.Code:
		return kerr.UnknownTopicOrPartition.Code
	case api.ErrPartitionNotFound.Code:
		return kerr.UnknownTopicOrPartition.Code
	case api.ErrTopicExists.Code:
		return kerr.TopicAlreadyExists.Code
	case api.ErrInvalidTopicName.Code:
		return kerr.InvalidTopicException.Code
	case api.ErrInvalidPartitions.Code:
		return kerr.InvalidPartitions.Code
	case api.ErrInvalidArgument.Code:
		return kerr.InvalidConfig.Code
	case api.ErrOffsetOutOfRange.Code:
		return kerr.OffsetOutOfRange.Code
	case api.ErrMessageTooLarge.Code, api.ErrBodyTooLarge.Code:
		return kerr.MessageTooLarge.Code
	case api.ErrBadRequest.Code:
		return kerr.CorruptMessage.Code
	case api.ErrUnavailable.Code:
		return kerr.NotLeaderForPartition.Code // retriable: the client refreshes and retries
	case api.ErrGroupNotFound.Code:
		return kerr.GroupIDNotFound.Code
	case api.ErrGroupNotEmpty.Code:
		return kerr.NonEmptyGroup.Code
	case api.ErrUnknownMember.Code:
		return kerr.UnknownMemberID.Code
	case api.ErrStaleGeneration.Code:
		return kerr.IllegalGeneration.Code
	case api.ErrFencedMember.Code:
		return kerr.FencedInstanceID.Code
	case api.ErrInconsistentProtocol.Code:
		return kerr.InconsistentGroupProtocol.Code
	case api.ErrNotOwner.Code:
		return kerr.StaleMemberEpoch.Code // a KIP-848 member's commit of a partition it no longer owns
	case api.ErrUnauthorized.Code:
		return kerr.SaslAuthenticationFailed.Code
	case api.ErrStorageFull.Code, api.ErrStorageFailed.Code:
		return kerr.KafkaStorageError.Code // retriable, as 507/503 are over HTTP
	case api.ErrTooManyTopics.Code, api.ErrTooManyGroups.Code, api.ErrTooManyMembers.Code:
		return kerr.PolicyViolation.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the text of err for responses that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
