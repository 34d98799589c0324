package httpapi

import (
	"bytes"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// groupParam returns the {group} path value, validated.
func groupParam(r *http.Request) (string, error) {
	id := r.PathValue("group")
	if err := broker.ValidateGroupID(id); err != nil {
		return "", err
	}
	return id, nil
}

// peerHost is the host of the connection's remote address: the member's
// client_host, never a value the caller chose.
func peerHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decodeGroupRequest reads the {group} path value and decodes the JSON body
// into v.
func (s *Server) decodeGroupRequest(w http.ResponseWriter, r *http.Request, v any) (string, error) {
	id, err := groupParam(r)
	if err != nil {
		return "", err
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return "", err
	}
	// Every message an ack, nack or extend names is a JSON object, so the
	// body's '{' count bounds them: refusing past the cap before decoding
	// keeps a 16 MiB body of empty refs from costing ~800 MB. (A brace in
	// a string counts too; only a body with more braces than the cap can
	// be refused for it.)
	if n := bytes.Count(body, []byte{'{'}); n > s.opts.MaxBatchMessages+1 {
		return "", api.ErrTooManyMessages.Withf("a request may name at most %d messages (objects); split it", s.opts.MaxBatchMessages).
			WithDetail("max_batch_messages", s.opts.MaxBatchMessages)
	}
	if err := decodeJSON(body, v); err != nil {
		return "", err
	}
	decoded(r)
	return id, nil
}

func (s *Server) joinGroup(w http.ResponseWriter, r *http.Request) error {
	var req api.JoinRequest
	id, err := s.decodeGroupRequest(w, r, &req)
	if err != nil {
		return err
	}
	for _, topic := range req.Topics {
		if err := allow(r, actConsume, kindTopic, topic); err != nil {
			return err
		}
	}
	minSession, maxSession, maxRebalance := s.b.GroupTimeouts()
	p, err := joinParams(req, minSession, maxSession, maxRebalance)
	if err != nil {
		return err
	}
	res, err := s.b.JoinGroup(id, p, peerHost(r))
	if err != nil {
		return err
	}
	resp := joinResponse(res)
	if s.coordinators() != nil {
		resp.NodeID = s.opts.Cluster.ID() // the member learns the other nodes then
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	var req api.HeartbeatRequest
	id, err := s.decodeGroupRequest(w, r, &req)
	if err != nil {
		return err
	}
	p, err := heartbeatParams(req)
	if err != nil {
		return err
	}
	res, err := s.b.Heartbeat(id, p, peerHost(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, heartbeatResponse(res))
	return nil
}

func (s *Server) leaveGroup(w http.ResponseWriter, r *http.Request) error {
	var req api.LeaveRequest
	id, err := s.decodeGroupRequest(w, r, &req)
	if err != nil {
		return err
	}
	if err := s.b.LeaveGroup(id, req.MemberID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) commitOffsets(w http.ResponseWriter, r *http.Request) error {
	var req api.CommitOffsetsRequest
	id, err := s.decodeGroupRequest(w, r, &req)
	if err != nil {
		return err
	}
	if err := s.allowMember(r, id, req.MemberID); err != nil {
		return err
	}
	p, err := commitParams(req)
	if err != nil {
		return err
	}
	if err := s.b.CommitOffsets(id, p, peerHost(r)); err != nil {
		return err
	}
	return s.writeOffsets(w, id)
}

func (s *Server) groupOffsets(w http.ResponseWriter, r *http.Request) error {
	id, err := groupParam(r)
	if err != nil {
		return err
	}
	return s.writeOffsets(w, id)
}

func (s *Server) writeOffsets(w http.ResponseWriter, id string) error {
	offsets, err := s.b.GroupOffsets(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.OffsetsResponse{GroupID: id, Offsets: api.Offsets(offsets)})
	return nil
}

func (s *Server) resetOffsets(w http.ResponseWriter, r *http.Request) error {
	var req api.ResetOffsetsRequest
	id, err := s.decodeGroupRequest(w, r, &req)
	if err != nil {
		return err
	}
	p, err := resetParams(id, req)
	if err != nil {
		return err
	}
	if p.To == broker.ResetGroup {
		// The source's offsets are read, and a dry run answers them: the
		// key must see that group too, not only the one it resets.
		if err := allowSee(r, kindGroup, p.FromGroup); err != nil {
			return err
		}
		if p.FromOffsets, err = s.offsetsOnCoordinator(r, p.FromGroup); err != nil {
			return err
		}
	}
	res, err := s.b.ResetOffsets(id, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resetResponse(id, res))
	return nil
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := groupParam(r)
	if err != nil {
		return err
	}
	if err := s.b.DeleteGroup(id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listGroups lists the groups the caller may see; on a cluster node, only
// those this node coordinates (each node lists its own share).
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) error {
	list := api.GroupList{Groups: []api.GroupDescription{}}
	all := s.CoordinatedGroups()
	if s.coordinators() != nil {
		list.NodeID = s.opts.Cluster.ID()
		if gl, ok := s.opts.Cluster.(GroupLister); ok {
			others, unreached := gl.PeerGroups(r.Context())
			all = append(all, others...)
			list.Complete, list.UnreachedNodes = len(unreached) == 0, unreached
		}
	}
	seen := map[string]bool{}
	for _, g := range all {
		// A group handed between coordinators may be listed by both:
		// this node's view comes first.
		if !seen[g.GroupID] && visible(r, kindGroup, g.GroupID) {
			seen[g.GroupID] = true
			list.Groups = append(list.Groups, g)
		}
	}
	slices.SortFunc(list.Groups, func(a, b api.GroupDescription) int { return strings.Compare(a.GroupID, b.GroupID) })
	writeJSON(w, http.StatusOK, list)
	return nil
}

// CoordinatedGroups describes the groups this broker coordinates: every
// group on a single broker; on a cluster node, those whose shard it
// leads (what a peer's GET /groups asks it for).
func (s *Server) CoordinatedGroups() []api.GroupDescription {
	var out []api.GroupDescription
	for _, g := range s.b.Groups() {
		if s.coordinates(g.ID) {
			out = append(out, groupDescription(g))
		}
	}
	return out
}

func (s *Server) describeGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := groupParam(r)
	if err != nil {
		return err
	}
	d, err := s.b.DescribeGroup(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, groupDescription(d))
	return nil
}
