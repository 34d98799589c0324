package kafka

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator's key types: consumer groups, and transactions, which
// are not offered.
const (
	keyTypeGroup       = 0
	keyTypeTransaction = 1
)

// findCoordinator names each group's coordinator: this broker alone, or in
// a cluster the node the cluster places the group on, at the Kafka address
// Metadata names it by. A coordinator without a Kafka listener, or not
// known yet, is COORDINATOR_NOT_AVAILABLE (retriable). A transaction
// coordinator is TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the one refusal
// transactional producers (librdkafka, the Java client, kgo) take as final:
// COORDINATOR_NOT_AVAILABLE kept them asking until their timeout. Other
// key types are INVALID_REQUEST, as Kafka answers them. Versions before 4
// ask for one key, 4 and 5 (which only adds an error transactions use)
// for a batch.
func (s *Server) findCoordinator(_ context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	resp.SetVersion(req.Version)
	brokers := s.brokers(c)
	find := func(key string) (b kmsg.MetadataResponseBroker, code int16, msg *string) {
		b.NodeID = -1
		switch req.CoordinatorType {
		case keyTypeGroup:
		case keyTypeTransaction:
			m := "transactions are not offered by this broker"
			return b, kerr.TransactionalIDAuthorizationFailed.Code, &m
		default:
			m := fmt.Sprintf("coordinator type %d is not offered: only consumer groups (0)", req.CoordinatorType)
			return b, kerr.InvalidRequest.Code, &m
		}
		id, code := s.coordinator(key)
		if code == kerr.NotCoordinator.Code {
			code = 0 // another node: name it
		}
		if code != 0 {
			m := fmt.Sprintf("group %s: no coordinator known yet", key)
			return b, code, &m
		}
		i := slices.IndexFunc(brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == id })
		if i < 0 {
			m := fmt.Sprintf("group %s's coordinator, node %d, has no Kafka listener", key, id)
			return b, kerr.CoordinatorNotAvailable.Code, &m
		}
		return brokers[i], 0, nil
	}
	if req.Version < 4 {
		b, code, msg := find(req.CoordinatorKey)
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = code, b.NodeID, b.Host, b.Port
		if code != 0 {
			resp.ErrorMessage = msg
		}
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		b, code, msg := find(key)
		co.Key, co.ErrorCode, co.ErrorMessage, co.NodeID, co.Host, co.Port = key, code, msg, b.NodeID, b.Host, b.Port
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp, nil
}
