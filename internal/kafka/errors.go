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

// errorMessage is the text of err for responses that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
