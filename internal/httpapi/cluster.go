package httpapi

import (
	"context"
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
)

// Cluster is the cluster member of a broker started with --node-id and
// --peers (internal/cluster/node): what GET /cluster reports.
type Cluster interface {
	// Status reads the cluster's metadata consistently; an *api.Error
	// (UNAVAILABLE) when no metadata leader can confirm the read.
	Status(ctx context.Context) (api.ClusterStatus, error)
}

// cluster answers GET /cluster: nodes, their liveness as this node sees
// it, the metadata leader, and each partition's replicas and leader (of
// the topics the caller's key may see).
func (s *Server) cluster(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Cluster == nil {
		return api.ErrNotClustered.Withf("this broker runs alone: start it with --node-id and --peers to form a cluster")
	}
	st, err := s.opts.Cluster.Status(r.Context())
	if err != nil {
		return err
	}
	// A scoped key sees only its topics, as in GET /topics.
	topics := st.Topics[:0]
	for _, t := range st.Topics {
		if visible(r, kindTopic, t.Name) {
			topics = append(topics, t)
		}
	}
	st.Topics = topics
	writeJSON(w, http.StatusOK, st)
	return nil
}
