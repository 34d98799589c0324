package kafka

import (
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
