package httpapi

import (
	"mime"
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// publishBatches serves POST /topics/{topic}/batches, the Go client's binary
// fast path (api.BatchesContentType): frames of (partition, RecordBatch v2),
// all checked before any is written.
func (s *Server) publishBatches(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != api.BatchesContentType {
		return api.ErrUnsupportedMedia.Withf("body must be %s (frames of partition, length, RecordBatch v2); JSON goes to POST /topics/%s/messages", api.BatchesContentType, name)
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	frames, err := api.SplitFrames(body)
	if err != nil {
		return api.ErrBadRequest.Withf("%v: each frame is partition int32, length int32, then length bytes", err)
	}
	batches := make([]broker.Frame, len(frames))
	for i, f := range frames {
		batches[i] = broker.Frame(f)
	}
	if err := s.routeFrames(name, batches); err != nil {
		return err
	}
	pos, err := s.b.PublishBatches(name, batches)
	if err != nil {
		return err
	}
	resp := api.PublishResponse{Topic: name, Offsets: make([]api.PublishResult, len(pos))}
	for i, p := range pos {
		resp.Offsets[i] = api.PublishResult{Partition: p.Partition, Offset: p.Offset}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
