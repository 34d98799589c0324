package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiHandler serves one API key in the versions [min, max]. serve returns
// the response (nil for none, as for a Produce with acks 0) and an error that
// closes the connection once the response, if any, is written.
type apiHandler struct {
	min, max   int16
	beforeAuth bool // allowed before SASL authentication
	serve      func(ctx context.Context, c *conn, req kmsg.Request) (kmsg.Response, error)
}

// api returns the handler of key. The table is built per call from
// methods, which keeps it immutable without a package variable; the switch
// compiles to a jump table.
func (s *Server) api(key int16) (apiHandler, bool) {
	switch kmsg.Key(key) {
	case kmsg.ApiVersions:
		return apiHandler{0, 3, true, s.apiVersions}, true
	case kmsg.SASLHandshake:
		return apiHandler{0, 1, true, s.saslHandshake}, true
	case kmsg.SASLAuthenticate:
		return apiHandler{0, 2, true, s.saslAuthenticate}, true
	case kmsg.Metadata:
		return apiHandler{0, 12, false, s.metadata}, true
	case kmsg.Produce:
		return apiHandler{3, 10, false, s.produce}, true
	case kmsg.Fetch:
		return apiHandler{4, 16, false, s.fetch}, true
	case kmsg.ListOffsets:
		return apiHandler{1, 6, false, s.listOffsets}, true
	case kmsg.CreateTopics:
		return apiHandler{0, 7, false, s.createTopics}, true
	case kmsg.DeleteTopics:
		return apiHandler{0, 6, false, s.deleteTopics}, true
	case kmsg.CreatePartitions:
		return apiHandler{0, 3, false, s.createPartitions}, true
	case kmsg.InitProducerID:
		return apiHandler{0, 4, false, s.initProducerID}, true
	case kmsg.FindCoordinator:
		return apiHandler{0, 5, false, s.findCoordinator}, true
	case kmsg.JoinGroup:
		return apiHandler{0, 9, false, s.joinGroup}, true
	case kmsg.SyncGroup:
		return apiHandler{0, 5, false, s.syncGroup}, true
	case kmsg.Heartbeat:
		return apiHandler{0, 4, false, s.heartbeat}, true
	case kmsg.LeaveGroup:
		return apiHandler{0, 5, false, s.leaveGroup}, true
	case kmsg.OffsetCommit:
		return apiHandler{0, 8, false, s.offsetCommit}, true
	case kmsg.OffsetFetch:
		return apiHandler{0, 7, false, s.offsetFetch}, true
	case kmsg.DescribeGroups:
		return apiHandler{0, 5, false, s.describeGroups}, true
	case kmsg.ListGroups:
		return apiHandler{0, 4, false, s.listGroups}, true
	case kmsg.DescribeConfigs:
		return apiHandler{0, 4, false, s.describeConfigs}, true
	case kmsg.AlterConfigs:
		return apiHandler{0, 2, false, s.alterConfigsLegacy}, true
	case kmsg.IncrementalAlterConfigs:
		return apiHandler{0, 1, false, s.incrementalAlterConfigs}, true
	case kmsg.OffsetForLeaderEpoch:
		return apiHandler{0, 4, false, s.offsetForLeaderEpoch}, true
	case kmsg.ConsumerGroupHeartbeat:
		return apiHandler{0, 1, false, s.consumerGroupHeartbeat}, true
	case kmsg.ConsumerGroupDescribe:
		return apiHandler{0, 1, false, s.consumerGroupDescribe}, true
	case kmsg.DeleteGroups:
		return apiHandler{0, 2, false, s.deleteGroups}, true
	case kmsg.OffsetDelete:
		return apiHandler{0, 0, false, s.offsetDelete}, true
	case kmsg.DescribeLogDirs:
		return apiHandler{0, 4, false, s.describeLogDirs}, true
	case kmsg.DescribeACLs:
		return apiHandler{0, 3, false, s.describeACLs}, true
	case kmsg.CreateACLs:
		return apiHandler{0, 3, false, s.createACLs}, true
	case kmsg.DeleteACLs:
		return apiHandler{0, 3, false, s.deleteACLs}, true
	}
	return apiHandler{}, false
}

// supportedKeys lists every key api answers, in key order, with the
// versions it answers, but Produce's (see listedMin).
func (s *Server) supportedKeys() []kmsg.ApiVersionsResponseApiKey {
	var out []kmsg.ApiVersionsResponseApiKey
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		if h, ok := s.api(k); ok {
			out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: listedMin(k, h.min), MaxVersion: h.max})
		}
	}
	return out
}

// listedMin is the lowest version ApiVersions lists for key, whose lowest
// served is min. Produce is listed from v0, as Kafka 4 lists it
// (KAFKA-18659), though v0-v2 still close the connection: librdkafka
// (kcat, confluent-kafka; librdkafka issue 4956) compresses with gzip,
// snappy or lz4 only for a broker that lists Produce v0, and sends those
// batches uncompressed, with a log notice only, to one that does
// not. Clients take the highest version both speak, so none sends v0-v2
// for it.
func listedMin(key, min int16) int16 {
	if kmsg.Key(key) == kmsg.Produce {
		return 0
	}
	return min
}
