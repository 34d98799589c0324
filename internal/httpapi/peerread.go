package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// GroupReader is what a cluster node's Cluster also offers to serve a
// group's reads (the GET routes naming a {group}) on any node: it asks the
// group's coordinator to serve the read (its ServePeerRead) and gives its
// answer. Those routes answered NOT_COORDINATOR on every other node, so
// the guide's `curl /groups/order-service` failed on two nodes of three
// while GET /groups listed the group from any of them.
type GroupReader interface {
	ReadOn(ctx context.Context, node uint64, path, rawQuery string) (PeerAnswer, error)
}

// PeerAnswer is the HTTP answer a node gave a peer's read.
type PeerAnswer struct {
	Status      int
	ContentType string
	Body        []byte
}

// ServedByHeader names, on a read another node served, the node that did.
const ServedByHeader = "X-GoQueue-Served-By"

// peerReadKey marks a request a peer asked this node to serve: it is not
// passed on again (two nodes disagreeing on the coordinator for a moment
// would otherwise pass it back and forth).
type peerReadKey struct{}

// readOnCoordinator answers r, a GET of a group this node does not
// coordinate, with the coordinator's answer; false if that cannot be had
// (no GroupReader, a read a peer asked for, the coordinator unknown or
// unreachable): the caller then answers NOT_COORDINATOR as before, which
// names the coordinator to ask directly.
func (s *Server) readOnCoordinator(w http.ResponseWriter, r *http.Request) bool {
	gr, ok := s.opts.Cluster.(GroupReader)
	if !ok || r.Context().Value(peerReadKey{}) != nil {
		return false
	}
	id, ok := s.coordinators().Coordinator(r.PathValue("group"))
	if !ok || id == s.opts.Cluster.ID() {
		return false
	}
	a, err := gr.ReadOn(r.Context(), id, r.URL.EscapedPath(), r.URL.RawQuery)
	if err != nil {
		s.log.Debug("group read on its coordinator failed", "path", r.URL.Path, "coordinator", id, "err", err)
		return false
	}
	if a.ContentType != "" {
		w.Header().Set("Content-Type", a.ContentType)
	}
	w.Header().Set(ServedByHeader, strconv.FormatUint(id, 10))
	w.WriteHeader(a.Status)
	w.Write(a.Body)
	return true
}

// offsetsOnCoordinator reads group's committed offsets from its
// coordinator when that is another node, for a reset copying them (to
// group); nil when this node coordinates group, or groups are this
// broker's alone: the coordinator reads them itself. Copying a group
// another node coordinated answered NOT_COORDINATOR naming no node, which
// no retry mended: the reset's coordinator looked the source up in its
// own groups.
func (s *Server) offsetsOnCoordinator(ctx context.Context, group string) (broker.Offsets, error) {
	gr, ok := s.opts.Cluster.(GroupReader)
	if !ok {
		return nil, nil
	}
	id, ok := s.coordinators().Coordinator(group)
	if !ok || id == s.opts.Cluster.ID() {
		return nil, nil
	}
	unreached := func(why any) error {
		return api.ErrUnavailable.Withf("group %s's offsets cannot be read from its coordinator, node %d, now: %v; retry", group, id, why).
			WithDetail("group", group).WithDetail("coordinator", id)
	}
	a, err := gr.ReadOn(ctx, id, "/groups/"+url.PathEscape(group)+"/offsets", "")
	if err != nil {
		return nil, unreached(err)
	}
	if a.Status != http.StatusOK {
		var e api.ErrorBody
		if json.Unmarshal(a.Body, &e) == nil && e.Error != nil {
			// The coordinator's refusal, as the table says it (the
			// status and Kafka code do not travel in the body).
			e.Error.Status = a.Status
			for _, known := range api.Codes() {
				if known.Code == e.Error.Code {
					e.Error.Kafka = known.Kafka
				}
			}
			return nil, e.Error
		}
		return nil, unreached(http.StatusText(a.Status))
	}
	var o api.OffsetsResponse
	if err := json.Unmarshal(a.Body, &o); err != nil {
		return nil, unreached(err)
	}
	if o.Offsets == nil {
		return broker.Offsets{}, nil
	}
	return broker.Offsets(o.Offsets), nil
}

// ServePeerRead serves a peer's read of a group (GroupReader's other end):
// path (escaped) and rawQuery as the caller received them. The peer
// authorized the caller already, so the route runs without a key's scope
// (those routes filter nothing by it); only GET routes naming a group are
// served.
func (s *Server) ServePeerRead(path, rawQuery string) PeerAnswer {
	u, err := url.Parse(path)
	if err != nil || u.Path == "" || u.Host != "" || u.Scheme != "" {
		return s.peerRefusal(api.ErrBadRequest.Withf("peer read of an invalid path %q", path))
	}
	u.RawQuery = rawQuery
	ctx := context.WithValue(context.Background(), peerReadKey{}, true)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return s.peerRefusal(api.ErrBadRequest.Withf("peer read of %q: %v", path, err))
	}
	if _, pattern := s.mux.Handler(r); !strings.HasPrefix(pattern, "GET /groups/{group}") {
		return s.peerRefusal(api.ErrNotFound.Withf("no group read at %s", path))
	}
	rec := newRecorder()
	s.mux.ServeHTTP(rec, r)
	return rec.peerAnswer()
}

func (s *Server) peerRefusal(e *api.Error) PeerAnswer {
	rec := newRecorder()
	writeJSON(rec, e.Status, api.ErrorBody{Error: e})
	return rec.peerAnswer()
}

func (r *recorder) peerAnswer() PeerAnswer {
	return PeerAnswer{Status: r.status, ContentType: r.header.Get("Content-Type"), Body: r.body.Bytes()}
}
