package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/node"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

var _ httpapi.GroupLister = (*clusterBridge)(nil)

// localGroups answers a peer asking for the groups this node coordinates
// (node.Config.Groups): the HTTP API's view of them, once it is serving
// (an empty list before).
func (c *clusterBridge) localGroups() ([]byte, error) {
	list := []api.GroupDescription{}
	if h := c.api.Load(); h != nil {
		list = append(list, h.CoordinatedGroups()...)
	}
	return json.Marshal(list)
}

// PeerGroups is httpapi.GroupLister's: the groups every other node
// coordinates, asked over the cluster link.
func (c *clusterBridge) PeerGroups(ctx context.Context) ([]api.GroupDescription, []uint64) {
	lists, unreached := c.n.PeerGroups(ctx)
	var out []api.GroupDescription
	for id, raw := range lists {
		var gs []api.GroupDescription
		if err := json.Unmarshal(raw, &gs); err != nil {
			unreached = append(unreached, id)
			continue
		}
		out = append(out, gs...)
	}
	return out, unreached
}

var _ httpapi.GroupForwarder = (*clusterBridge)(nil)

// localServe serves a peer's request of a group this node coordinates
// (node.Config.Serve): 503 until the HTTP API serves.
func (c *clusterBridge) localServe(ctx context.Context, req node.PeerRequest) node.PeerAnswer {
	h := c.api.Load()
	if h == nil {
		return node.PeerAnswer{Status: http.StatusServiceUnavailable}
	}
	a := h.ServePeer(ctx, httpapi.PeerRequest{Method: req.Method, Path: req.Path, RawQuery: req.Query, Header: req.Header,
		Body: req.Body, RemoteAddr: req.RemoteAddr, Scope: req.Scope, Keyless: req.Keyless, Within: req.Within, MaxWait: req.MaxWait}, node.MaxPeerBody)
	// Content-Type also on its own, for nodes from before answers carried
	// their headers.
	return node.PeerAnswer{Status: a.Status, ContentType: a.Header.Get("Content-Type"), Header: a.Header, Body: a.Body}
}

// ServeOn is httpapi.GroupForwarder's: a group's request served by node id,
// asked over the cluster link.
func (c *clusterBridge) ServeOn(ctx context.Context, id uint64, req httpapi.PeerRequest) (httpapi.PeerAnswer, error) {
	a, err := c.n.PeerServe(ctx, id, node.PeerRequest{Method: req.Method, Path: req.Path, Query: req.RawQuery, Header: req.Header,
		Body: req.Body, RemoteAddr: req.RemoteAddr, Scope: req.Scope, Keyless: req.Keyless, Within: req.Within, MaxWait: req.MaxWait})
	switch {
	case errors.Is(err, node.ErrPeerNoAnswer):
		return httpapi.PeerAnswer{}, fmt.Errorf("%w: %w", httpapi.ErrPeerNoAnswer, err)
	case errors.Is(err, node.ErrPeerBusy):
		return httpapi.PeerAnswer{}, fmt.Errorf("%w: %w", httpapi.ErrPeerBusy, err)
	case err != nil:
		return httpapi.PeerAnswer{}, err
	case a.Status == 0 || a.Status == http.StatusServiceUnavailable && len(a.Body) == 0:
		return httpapi.PeerAnswer{}, fmt.Errorf("node %d does not serve HTTP yet", id)
	}
	h := http.Header(a.Header)
	if h == nil && a.ContentType != "" {
		h = http.Header{"Content-Type": {a.ContentType}}
	}
	return httpapi.PeerAnswer{Status: a.Status, Header: h, Body: a.Body}, nil
}

// MaxPeerBody is httpapi.GroupForwarder's.
func (c *clusterBridge) MaxPeerBody() int { return node.MaxPeerRequestBody }
