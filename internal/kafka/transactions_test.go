package kafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactions are not offered, and a transactional producer is told so
// at once with the one refusal clients take as final,
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: the transaction coordinator
// was COORDINATOR_NOT_AVAILABLE, which they retry, so confluent-kafka's
// init_transactions hung for its whole timeout. Other coordinator types
// are INVALID_REQUEST, as Kafka answers them.
func TestTransactionalProducerRefusedAtOnce(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "tx", 1)
	for _, tc := range []struct {
		keyType int8
		want    int16
	}{
		{0, 0},
		{1, kerr.TransactionalIDAuthorizationFailed.Code},
		{2, kerr.InvalidRequest.Code},
	} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorType, req.CoordinatorKey = 3, tc.keyType, "k"
		resp, err := req.RequestWith(ctxT(t), admin)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != tc.want {
			t.Fatalf("coordinator type %d: code %d, want %d", tc.keyType, resp.ErrorCode, tc.want)
		}
	}

	cl := p.client(t, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("tx"))
	// kgo retries a retriable refusal until this deadline; the final one
	// comes back before it.
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Second)
	defer cancel()
	err := cl.BeginTransaction() // kgo asks for its producer ID here
	if err == nil {
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
	}
	// kgo wraps the code in an error of its own, without Unwrap.
	if err == nil || !strings.Contains(err.Error(), kerr.TransactionalIDAuthorizationFailed.Message) {
		t.Fatalf("transactional produce: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
}
