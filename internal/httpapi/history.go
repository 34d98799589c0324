package httpapi

import (
	"net/http"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Bounds of GET /groups/{group}/lag-history.
const (
	defaultLagPoints = 360
	maxLagPoints     = 2000
	defaultLagWindow = time.Hour
)

func (s *Server) lagHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := groupParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := checkQuery(q, "since", "points"); err != nil {
		return err
	}
	since, err := queryInt(q, "since", time.Now().Add(-defaultLagWindow).UnixMilli(), 0, 1<<53)
	if err != nil {
		return err
	}
	points, err := queryInt(q, "points", defaultLagPoints, 1, maxLagPoints)
	if err != nil {
		return err
	}
	h, err := s.b.LagHistory(id, time.UnixMilli(since), int(points))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lagHistory(id, h))
	return nil
}

func (s *Server) rebalanceHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := groupParam(r)
	if err != nil {
		return err
	}
	rs, err := s.b.RebalanceHistory(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.RebalanceHistory{GroupID: id, Rebalances: rebalances(rs)})
	return nil
}

// console serves the web console's files (public: see publicRoutes).
func (s *Server) console(w http.ResponseWriter, r *http.Request) error {
	s.ui.ServeHTTP(w, r)
	return nil
}
