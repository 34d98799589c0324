package httpapi

import (
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// topicParam is the {topic} of the path, checked like a new topic's name so
// that a typo gets INVALID_TOPIC_NAME rather than a puzzling not-found.
func topicParam(r *http.Request) (string, error) {
	name := r.PathValue("topic")
	if err := broker.ValidateTopicName(name); err != nil {
		return "", err
	}
	return name, nil
}

func (s *Server) createTopic(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req api.CreateTopicRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if err := allow(r, actAdmin, kindTopic, req.Name); err != nil {
		return err
	}
	// Here, not in TopicSpec: a cluster node builds the spec of every
	// topic its metadata holds with it, including those created before.
	if err := broker.ValidateNewTopicName(req.Name); err != nil {
		return err
	}
	spec, err := TopicSpec(req)
	if err != nil {
		return err
	}
	if s.opts.Cluster != nil {
		return s.createClusterTopic(w, r, req)
	}
	if rf := req.ReplicationFactor; rf < 0 || rf > 1 {
		return invalidField("replication_factor", "replication_factor %d: this broker runs alone, so it keeps one copy of each partition (0 or 1); start a cluster with --node-id and --peers to replicate", rf)
	}
	info, err := s.b.CreateTopic(spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wireTopic(info))
	return nil
}

func (s *Server) listTopics(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Cluster != nil {
		// A node just started on an empty disk would list none.
		if err := s.opts.Cluster.TopicsCurrent(r.Context()); err != nil {
			return err
		}
	}
	infos := s.b.Topics()
	list := api.TopicList{Topics: make([]api.Topic, 0, len(infos))}
	for _, info := range infos {
		if visible(r, kindTopic, info.Config.Name) {
			list.Topics = append(list.Topics, s.withPlacement(wireTopic(info)))
		}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) describeTopic(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	info, err := s.b.Topic(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withPlacement(wireTopic(info)))
	return nil
}

func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	del := s.b.DeleteTopic
	if s.clusterTopic(name) {
		del = func(name string) error { return s.opts.Cluster.DeleteTopic(r.Context(), name) }
	}
	if err := del(name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) addPartitions(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req api.AddPartitionsRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if s.clusterTopic(name) {
		if parts, ok := s.placement(name); ok && req.Count <= int32(len(parts)) {
			return api.ErrInvalidPartitions.Withf("topic %q has %d partitions; the count can only increase", name, len(parts)).
				WithDetail("partitions", len(parts)).WithDetail("count", req.Count)
		}
		return s.alterClusterTopic(w, r, name, api.AlterTopicRequest{Partitions: req.Count})
	}
	info, err := s.b.AddPartitions(name, req.Count)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireTopic(info))
	return nil
}

func wireTopic(info broker.TopicInfo) api.Topic {
	c := info.Config
	t := api.Topic{
		Name:            c.Name,
		Partitions:      c.Partitions,
		RetentionHours:  c.RetentionHours,
		RetentionBytes:  c.RetentionBytes,
		SegmentBytes:    c.SegmentBytes,
		SegmentMS:       c.SegmentMS,
		MaxMessageBytes: c.MaxMessageBytes,
		Fsync:           c.Fsync,
		CreatedAt:       c.CreatedAt,
		PartitionInfo:   make([]api.PartitionInfo, len(info.Partitions)),
	}
	for i, p := range info.Partitions {
		t.PartitionInfo[i] = api.PartitionInfo{
			Partition:      p.Partition,
			EarliestOffset: p.EarliestOffset,
			HighWatermark:  p.HighWatermark,
			Bytes:          p.Bytes,
			Segments:       p.Segments,
			CorruptRanges:  p.CorruptRanges,
			CorruptOffsets: p.CorruptOffsets,
		}
	}
	return t
}
