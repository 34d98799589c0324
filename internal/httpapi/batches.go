package httpapi

import (
	"mime"
	"net/http"
	"sync"

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
	kept := batchBodies.Get().(*[]byte)
	body, err := readBodyTo(*kept, w, r, s.opts.MaxBodyBytes)
	if err != nil {
		batchBodies.Put(kept)
		return err
	}
	// The batches are written before PublishBatches returns and nothing
	// keeps them, so the body's space serves the next request: a new
	// megabyte per request, faulted in and collected, cost more than
	// the copy from the socket.
	defer func() {
		if cap(body) <= maxKeptBatchBody {
			*kept = body[:0]
		}
		batchBodies.Put(kept)
	}()
	results, err := s.publishFrames(name, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PublishResponse{Topic: name, Offsets: results})
	return nil
}

// publishFrames publishes a batches body (api.BatchesContentType) to the
// topic name, as POST /topics/{topic}/batches and the stream's PRODUCE
// frames do, and returns where each frame's batch landed. Nothing keeps
// body once it returns.
func (s *Server) publishFrames(name string, body []byte) ([]api.PublishResult, error) {
	frames, err := api.SplitFrames(body)
	if err != nil {
		return nil, api.ErrBadRequest.Withf("%v: each frame is partition int32, length int32, then length bytes", err)
	}
	batches := make([]broker.Frame, len(frames))
	for i, f := range frames {
		batches[i] = broker.Frame(f)
	}
	if err := s.routeFrames(name, batches); err != nil {
		return nil, err
	}
	pos, err := s.b.PublishBatches(name, batches)
	if err != nil {
		return nil, err
	}
	results := make([]api.PublishResult, len(pos))
	for i, p := range pos {
		results[i] = api.PublishResult{Partition: p.Partition, Offset: p.Offset}
	}
	return results, nil
}

// batchBodies keep the bodies of answered batch requests for the next
// ones; maxKeptBatchBody bounds what one kept buffer may pin.
var batchBodies = sync.Pool{New: func() any { return new([]byte) }}

const maxKeptBatchBody = 4 << 20

// newProducer serves POST /producers: an ID for the idempotent batches of
// one producer (api.ProducerIDResponse). The Go client asks once; a broker
// without this route makes it send without sequences.
func (s *Server) newProducer(w http.ResponseWriter, r *http.Request) error {
	id, err := s.b.NewProducerID(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ProducerIDResponse{ProducerID: id})
	return nil
}
