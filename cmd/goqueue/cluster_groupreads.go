package main

import (
	"context"
	"encoding/json"
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

var _ httpapi.GroupReader = (*clusterBridge)(nil)

// localRead serves a peer's read of a group this node coordinates
// (node.Config.Read): 503 until the HTTP API serves.
func (c *clusterBridge) localRead(req node.ReadRequest) node.ReadAnswer {
	h := c.api.Load()
	if h == nil {
		return node.ReadAnswer{Status: http.StatusServiceUnavailable}
	}
	a := h.ServePeerRead(req.Path, req.Query)
	return node.ReadAnswer{Status: a.Status, ContentType: a.ContentType, Body: a.Body}
}

// ReadOn is httpapi.GroupReader's: a group's read served by node id, asked
// over the cluster link.
func (c *clusterBridge) ReadOn(ctx context.Context, id uint64, path, rawQuery string) (httpapi.PeerAnswer, error) {
	a, err := c.n.PeerRead(ctx, id, node.ReadRequest{Path: path, Query: rawQuery})
	if err != nil {
		return httpapi.PeerAnswer{}, err
	}
	if a.Status == 0 || a.Status == http.StatusServiceUnavailable && len(a.Body) == 0 {
		return httpapi.PeerAnswer{}, fmt.Errorf("node %d does not serve HTTP yet", id)
	}
	return httpapi.PeerAnswer{Status: a.Status, ContentType: a.ContentType, Body: a.Body}, nil
}
