package main

import (
	"context"
	"encoding/json"

	"github.com/abd-ulbasit/goqueue/api"
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
