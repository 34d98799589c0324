package kafka

import (
	"context"
	"net"
	"strconv"

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
func (s *Server) metadata(_ context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.SetVersion(req.Version)
	resp.Brokers = s.brokers(c)
	cid := clusterID
	resp.ClusterID = &cid
	resp.ControllerID = s.opts.NodeID // this node: it answers the admin requests it can

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, ti := range s.b.Topics() {
			resp.Topics = append(resp.Topics, s.topicMetadata(ti, resp.Brokers))
		}
		return resp, nil
	}
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
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if rt.Topic == nil {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.topicMetadata(ti, resp.Brokers))
	}
	return resp, nil
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
