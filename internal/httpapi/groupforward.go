package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// GroupForwarder is what a cluster node's Cluster also offers to serve a
// group's requests (the routes naming a {group}) on any node: it asks the
// group's coordinator to serve the request (its ServePeer) and gives its
// answer. Those routes answered NOT_COORDINATOR on every other node, so
// the guide's `curl -X POST .../groups/order-service/join` failed on two
// nodes of three while GET /groups listed the group from any of them.
type GroupForwarder interface {
	// ServeOn has node serve req. An error wrapping ErrPeerNoAnswer is
	// a request node had, whose answer did not come: node may have
	// served it. Any other is a request node did not serve; one wrapping
	// ErrPeerBusy, one node refused for the requests it held.
	ServeOn(ctx context.Context, node uint64, req PeerRequest) (PeerAnswer, error)
	// MaxPeerBody is the largest body a PeerRequest may carry.
	MaxPeerBody() int
}

// ErrPeerNoAnswer is a request the coordinator had, whose answer did not
// come (GroupForwarder.ServeOn).
var ErrPeerNoAnswer = errors.New("httpapi: the coordinator's answer did not come")

// ErrPeerBusy is a request the coordinator refused unread, holding as
// many of other nodes' requests as it may (GroupForwarder.ServeOn).
var ErrPeerBusy = errors.New("httpapi: the coordinator holds as many requests passed on as it may")

// PeerRequest is an HTTP request a node passes to a group's coordinator:
// what the handler there reads of it.
type PeerRequest struct {
	Method   string
	Path     string // escaped
	RawQuery string
	Header   http.Header // only peerHeaders()
	Body     []byte
	// RemoteAddr is the client's, which the coordinator records (a
	// member's client_host).
	RemoteAddr string
	// Scope is the rules of the caller's key (scope.rules); nil is full
	// access.
	Scope *string
	// Keyless says the node passing it on requires no API key, so it
	// checked none: a coordinator that requires one refuses the request
	// as it refuses its own callers without a key.
	Keyless bool
	// Within is how long the coordinator may take; 0 for a read.
	Within time.Duration
	// MaxWait is the cap of the node passing it on on a poll's wait
	// (Options.MaxWait), which the coordinator applies too.
	MaxWait time.Duration
}

// PeerAnswer is the HTTP answer a node gave a peer's request.
type PeerAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// ServedByHeader names, on an answer another node served, the node that
// did.
const ServedByHeader = "X-GoQueue-Served-By"

// peerHeaders are the request headers a group's handlers read: the
// answer's format (a poll's Accept) and the body's.
func peerHeaders() [2]string { return [2]string{"Accept", "Content-Type"} }

// peerWriteWait bounds the coordinator's serving of a write, beyond a
// long poll's wait: a group write waits up to 5 s for its shard's
// majority (cmd/goqueue's groupWriteTimeout), and a nack that dead-letters
// as long again for each of creating the DLQ and appending to it
// (dlqWait). An answer later than this is reported as unknown.
const peerWriteWait = 16 * time.Second

// peerKey marks a request a peer asked this node to serve: it is not
// passed on again (two nodes disagreeing on the coordinator for a moment
// would otherwise pass it back and forth).
type peerKey struct{}

// servedForPeer reports whether r is a request a peer passed to this node.
func servedForPeer(r *http.Request) bool { return r.Context().Value(peerKey{}) != nil }

// onCoordinator serves r, a request naming group, which node id
// coordinates, there, and writes its answer: served is true then. It is
// false, with a nil error, when the coordinator did not serve r (no
// GroupForwarder, a request a peer passed on or one asking not to be
// (api.NoForwardHeader), the coordinator unreachable or refusing): the
// caller answers NOT_COORDINATOR as before, which names the coordinator
// to ask directly. An error is the answer to send: a body too large to
// pass on, or a write whose answer did not come (it may have been
// applied: UNAVAILABLE, never a success).
func (s *Server) onCoordinator(w http.ResponseWriter, r *http.Request, group string, id uint64) (served bool, err error) {
	gr, ok := s.opts.Cluster.(GroupForwarder)
	if !ok || servedForPeer(r) || r.Header.Get(api.NoForwardHeader) != "" {
		return false, nil
	}
	req := PeerRequest{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		RemoteAddr: r.RemoteAddr, Scope: callerScope(r).rules(), Keyless: len(s.keys) == 0, Header: http.Header{}}
	for _, h := range peerHeaders() {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write {
		body, err := readBody(w, r, s.opts.MaxBodyBytes)
		if err != nil {
			return false, err
		}
		if limit := gr.MaxPeerBody(); len(body) > limit {
			return false, s.notPassedOn(api.ErrBodyTooLarge.Withf("request body is larger than the %d bytes a node passes to group %s's coordinator, node %d; send it there", limit, group, id).
				WithDetail("max_body_bytes", limit), group, id)
		}
		req.Body = body
		req.Within, req.MaxWait = peerWriteWait+s.pollWait(r, body), s.opts.MaxWait
	}
	a, err := gr.ServeOn(r.Context(), id, req)
	switch {
	case err == nil && a.Status != 0:
	case write && errors.Is(err, ErrPeerNoAnswer):
		if r.Context().Err() == nil { // else the client left: no one to tell
			s.log.Warn("group write on its coordinator went unanswered", "method", r.Method, "path", r.URL.Path, "coordinator", id, "err", err)
		}
		return false, s.notPassedOn(api.ErrUnavailable.Withf("node %d, group %s's coordinator, did not answer in time: the request may have been applied there; retry", id, group), group, id)
	case errors.Is(err, ErrPeerBusy):
		return false, s.notPassedOn(api.ErrTooManyRequests.Withf("node %d, group %s's coordinator, holds as many requests of other nodes as it may now; retry", id, group), group, id)
	default:
		s.log.Debug("group request on its coordinator failed", "method", r.Method, "path", r.URL.Path, "coordinator", id, "err", err)
		return false, nil
	}
	for k, v := range a.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Transfer-Encoding", ServedByHeader:
		default:
			w.Header()[http.CanonicalHeaderKey(k)] = v
		}
	}
	w.Header().Set(ServedByHeader, strconv.FormatUint(id, 10))
	w.WriteHeader(a.Status)
	w.Write(a.Body)
	return true, nil
}

// notPassedOn adds to e the group and its coordinator (and its HTTP
// address), as NOT_COORDINATOR names them.
func (s *Server) notPassedOn(e *api.Error, group string, id uint64) *api.Error {
	e = e.WithDetail("group", group).WithDetail("coordinator", id)
	if addr := s.opts.Cluster.HTTPAddr(id); addr != "" {
		e = e.WithDetail("coordinator_addr", addr)
	}
	return e
}

// pollWait is how long the poll r (body) may wait for messages, as this
// node caps it: 0 for any other request, or a body the coordinator will
// refuse.
func (s *Server) pollWait(r *http.Request, body []byte) time.Duration {
	if r.Pattern != "POST /groups/{group}/poll" {
		return 0
	}
	var p struct {
		WaitMS int64 `json:"wait_ms"`
	}
	if json.Unmarshal(body, &p) != nil {
		return 0
	}
	wait, err := delayMS("wait_ms", p.WaitMS)
	if err != nil {
		return 0
	}
	return min(wait, s.opts.MaxWait)
}

// offsetsOnCoordinator reads group's committed offsets from its
// coordinator when that is another node, for a reset copying them (to
// group), the request r asking for it; nil when this node coordinates
// group, or groups are this broker's alone: the coordinator reads them
// itself; UNAVAILABLE while no coordinator of group is known. Copying a group another node coordinated answered
// NOT_COORDINATOR naming no node, which no retry mended: the reset's
// coordinator looked the source up in its own groups. The coordinator
// reads them as for r's caller (its key's scope; no key from a node
// that requires none), as a request passed on is served.
func (s *Server) offsetsOnCoordinator(r *http.Request, group string) (broker.Offsets, error) {
	gr, ok := s.opts.Cluster.(GroupForwarder)
	if !ok {
		return nil, nil
	}
	id, ok := s.coordinators().Coordinator(group)
	switch {
	case !ok:
		// Not this node's groups either (GROUP_NOT_FOUND, for good, or
		// whatever this node holds of it): the source's own answer, once
		// it has a coordinator.
		return nil, api.ErrUnavailable.Withf("group %s's offsets cannot be read now: node %d knows no coordinator of it yet (one is being elected or is taking the group over); retry", group, s.opts.Cluster.ID()).
			WithDetail("group", group)
	case id == s.opts.Cluster.ID():
		return nil, nil
	}
	unreached := func(why any) error {
		return api.ErrUnavailable.Withf("group %s's offsets cannot be read from its coordinator, node %d, now: %v; retry", group, id, why).
			WithDetail("group", group).WithDetail("coordinator", id)
	}
	a, err := gr.ServeOn(r.Context(), id, PeerRequest{Method: http.MethodGet, Path: "/groups/" + url.PathEscape(group) + "/offsets",
		RemoteAddr: r.RemoteAddr, Scope: callerScope(r).rules(), Keyless: len(s.keys) == 0})
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

// ServePeer serves a request a peer passed on (GroupForwarder's other end),
// within ctx: only routes naming a {group}, through this node's own
// routes, as a request from req.RemoteAddr with req.Scope's permissions
// (the peer authenticated the key; the routes check the scope again, and
// the handlers filter by it as for a request of their own). It is never
// passed on again: a group this node does not coordinate answers
// NOT_COORDINATOR naming the coordinator it knows. An answer over
// maxAnswer bytes (0: no limit) is replaced by an error; a poll's keeps to
// it (pollForPeer).
func (s *Server) ServePeer(ctx context.Context, req PeerRequest, maxAnswer int) PeerAnswer {
	u, err := url.Parse(req.Path)
	if err != nil || u.Path == "" || u.Host != "" || u.Scheme != "" {
		return s.peerRefusal(api.ErrBadRequest.Withf("peer request of an invalid path %q", req.Path))
	}
	u.RawQuery = req.RawQuery
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	ctx = context.WithValue(ctx, peerKey{}, peerLimits{maxAnswer: maxAnswer, maxWait: req.MaxWait})
	if req.Keyless && len(s.keys) > 0 {
		// Keys being enabled node by node: a node without them must not
		// be a way around this node's.
		a := s.peerRefusal(api.ErrUnauthorized.Withf("a valid API key is required (X-API-Key or Authorization: Bearer): node %d, which serves this group, requires one", s.opts.Cluster.ID()).
			WithDetail("coordinator", s.opts.Cluster.ID()))
		a.Header.Set("WWW-Authenticate", `Bearer realm="goqueue"`)
		return a
	}
	if req.Scope != nil {
		sc, err := parseRules(*req.Scope)
		if err != nil {
			return s.peerRefusal(api.ErrBadRequest.Withf("peer request with an invalid scope: %v", err))
		}
		ctx = context.WithValue(ctx, scopeKey{}, sc)
	}
	if req.Within > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Within)
		defer cancel()
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return s.peerRefusal(api.ErrBadRequest.Withf("peer request of %q: %v", req.Path, err))
	}
	for _, h := range peerHeaders() {
		if v := req.Header.Values(h); len(v) > 0 {
			r.Header[h] = v
		}
	}
	r.RemoteAddr = req.RemoteAddr
	if _, pattern := s.mux.Handler(r); !strings.Contains(pattern, "{group}") {
		return s.peerRefusal(api.ErrNotFound.Withf("no group route at %s %s", method, req.Path))
	}
	// Charged to the bodies being decoded, as a client's body is (serve):
	// the peers' requests count against this node's budget too.
	body := &budgetedBody{ReadCloser: r.Body, budget: s.bodies}
	defer body.release()
	r.Body = body
	rec := newRecorder()
	s.mux.ServeHTTP(rec, r)
	if maxAnswer > 0 && rec.body.Len() > maxAnswer {
		s.log.Warn("a group answer too large to pass on to a peer", "method", method, "path", u.Path, "bytes", rec.body.Len())
		return s.peerRefusal(api.ErrMessageTooLarge.Withf("the answer of %d bytes is larger than the %d a coordinator passes on to another node; send the request to node %d", rec.body.Len(), maxAnswer, s.opts.Cluster.ID()).
			WithDetail("coordinator", s.opts.Cluster.ID()))
	}
	return rec.peerAnswer()
}

// peerLimits are what a request a peer passed on must keep to.
type peerLimits struct {
	maxAnswer int           // bytes of the answer's body; 0: no limit
	maxWait   time.Duration // the passing node's cap on a poll's wait; 0: none
}

func (s *Server) peerRefusal(e *api.Error) PeerAnswer {
	rec := newRecorder()
	writeJSON(rec, e.Status, api.ErrorBody{Error: e})
	return rec.peerAnswer()
}

// peerAnswer is what r recorded; a Status of 0 is no answer (a poll
// whose deadline passed as it took messages hands them back and writes
// nothing), which the peer reports as not served.
func (r *recorder) peerAnswer() PeerAnswer {
	return PeerAnswer{Status: r.status, Header: r.header, Body: r.body.Bytes()}
}
