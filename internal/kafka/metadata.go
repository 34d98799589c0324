package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// clusterID names the cluster a GoQueue broker (or cluster of them) is.
const clusterID = "goqueue"

// metadata describes a single broker as the whole cluster and leader of
// every partition; in a cluster, every node with a Kafka listener and each
// partition's leader and replicas as the metadata says (see cluster.go).
// Topics are never created by a metadata request: GoQueue topics are
// created on purpose (CreateTopics, HTTP or the CLI).
func (s *Server) metadata(ctx context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.SetVersion(req.Version)
	resp.Brokers = s.brokers(c)
	cid := clusterID
	resp.ClusterID = &cid
	resp.ControllerID = s.opts.NodeID // this node: it answers the admin requests it can

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		if err := s.topicsCurrent(ctx); err != nil {
			return nil, err
		}
		for _, ti := range s.b.Topics() {
			resp.Topics = append(resp.Topics, s.topicMetadata(ti, resp.Brokers))
		}
		return resp, nil
	}
	// One bound for every confirmation the request needs (see absent).
	ctx, cancel := context.WithTimeout(ctx, confirmWait)
	defer cancel()
	for _, rt := range req.Topics {
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		} else if id, err := s.topicByID(rt.TopicID); err == nil {
			name = id
		}
		ti, err := s.b.Topic(name)
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			switch {
			case rt.Topic == nil:
				mt.ErrorCode = kerr.UnknownTopicID.Code
			case !s.absent(ctx, name):
				mt.ErrorCode = kerr.LeaderNotAvailable.Code
			default:
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.topicMetadata(ti, resp.Brokers))
	}
	return resp, nil
}

// confirmWait bounds the metadata reads of a Metadata request's
// confirmations that topics are absent.
const confirmWait = 500 * time.Millisecond

// absent reports whether topic, which this broker does not hold, does not
// exist: on a cluster node, only once the cluster's metadata confirms it.
// A node that just started on an empty disk, or has not created a topic
// yet, answers LEADER_NOT_AVAILABLE instead, which clients retry until
// their own timeouts: franz-go gives up on a record after four answers of
// UNKNOWN_TOPIC_OR_PARTITION, so a producer whose metadata requests went
// to such a node failed records of a topic that exists. (A Kafka broker
// serves no request before it caught up with the metadata log.)
func (s *Server) absent(ctx context.Context, topic string) bool {
	return s.opts.Cluster == nil || s.opts.Cluster.ConfirmAbsent(ctx, topic, -1) == nil
}

// errNotCaughtUp closes the connection of a Metadata request for every
// topic that a cluster node cannot answer yet: Kafka has no error to say
// so, and a list of the topics it holds (none, on a node just started on
// an empty disk) would tell clients the cluster has none. Clients take a
// closed connection for a broker not there and ask another.
var errNotCaughtUp = errors.New("kafka: this node has not caught up with the cluster's topics yet")

// topicsCurrent waits, on a cluster node, until its broker holds every
// topic of the cluster (Cluster.TopicsCurrent, which bounds the wait);
// errNotCaughtUp if it does not.
func (s *Server) topicsCurrent(ctx context.Context) error {
	if s.opts.Cluster == nil {
		return nil
	}
	if err := s.opts.Cluster.TopicsCurrent(ctx); err != nil {
		return fmt.Errorf("%w: %v", errNotCaughtUp, err)
	}
	return nil
}

// self is this broker as clients should reach it: at the address the
// client connected to, which is right whatever interface it came through.
func (s *Server) self(c *conn) kmsg.MetadataResponseBroker {
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = s.opts.NodeID
	host, port, _ := net.SplitHostPort(c.nc.LocalAddr().String())
	b.Host = host
	p, _ := strconv.Atoi(port)
	b.Port = int32(p)
	return b
}

// topicMetadata describes ti's partitions, led by this broker unless the
// cluster's metadata (whose brokers are listed) says otherwise.
func (s *Server) topicMetadata(ti broker.TopicInfo, brokers []kmsg.MetadataResponseBroker) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := ti.Config.Name
	mt.Topic = &name
	mt.TopicID = s.topicID(ti)
	for _, p := range ti.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Partition
		mp.Leader = s.opts.NodeID
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{s.opts.NodeID}
		mp.ISR = []int32{s.opts.NodeID}
		mt.Partitions = append(mt.Partitions, mp)
	}
	s.place(&mt, brokers)
	return mt
}
