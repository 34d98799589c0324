package kafka

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// describeLogDirs reports this broker's one log directory, its data
// directory, and the bytes of each partition it holds a copy of (in a
// cluster, those whose replicas name this node), as kafka-log-dirs and
// Kafka UIs read topic sizes. Partitions asked for that this broker does
// not hold are left out, as Kafka leaves them. The volume's total and
// usable bytes are -1, Kafka's "unknown".
func (s *Server) describeLogDirs(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	resp.SetVersion(req.Version)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.b.Config().DataDir
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	type asked struct {
		ti   broker.TopicInfo
		want []int32 // nil: every partition
	}
	var topics []asked
	if req.Topics == nil {
		for _, ti := range s.b.Topics() {
			topics = append(topics, asked{ti: ti})
		}
	}
	for _, rt := range req.Topics {
		if ti, err := s.b.Topic(rt.Topic); err == nil {
			topics = append(topics, asked{ti, rt.Partitions})
		}
	}
	for _, a := range topics {
		ti, want := a.ti, a.want
		held := s.heldHere(ti.Config.Name)
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = ti.Config.Name
		for _, p := range ti.Partitions {
			if want != nil && !slices.Contains(want, p.Partition) || !held(p.Partition) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = p.Partition, p.Bytes
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

// heldHere reports which partitions of topic this broker holds a copy of:
// every one on a single broker and of a local topic, else those whose
// replicas in the cluster's metadata name this node.
func (s *Server) heldHere(topic string) func(partition int32) bool {
	parts, ok := s.clusterPlacement(topic)
	if !ok {
		return func(int32) bool { return true }
	}
	self := s.opts.Cluster.ID()
	return func(partition int32) bool {
		i := slices.IndexFunc(parts, func(p api.ClusterPartition) bool { return p.Partition == partition })
		return i >= 0 && slices.Contains(parts[i].Replicas, self)
	}
}
