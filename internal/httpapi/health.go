package httpapi

import (
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/abd-ulbasit/goqueue/api"
)

type status struct {
	Status string `json:"status"`
	// Damaged lists partitions holding damaged data the broker skips: it
	// still serves them (ready), but an operator should look (readyz only).
	Damaged []damaged `json:"damaged,omitempty"`
}

type damaged struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	CorruptRanges  int    `json:"corrupt_ranges"`
	CorruptOffsets int64  `json:"corrupt_offsets"`
}

// healthz and livez answer while the process serves at all.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, status{Status: "ok"})
	return nil
}

func (s *Server) livez(w http.ResponseWriter, r *http.Request) error { return s.healthz(w, r) }

// readyz answers 200 once the broker has recovered (New takes a recovered
// broker), and 503 after Drain or once the data directory is lost
// (STORAGE_FAILED, with the path in details). A cluster node is ready
// only while it serves as a member of its cluster (Cluster.Ready): 503
// UNAVAILABLE, saying why, while it has no metadata leader it reaches
// (peers down, or this node cut off) or has not caught up with the
// metadata since it started, so a load balancer sends clients to nodes
// that can serve them.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return api.ErrUnavailable.Withf("broker is shutting down")
	}
	if err := s.b.StorageProblem(); err != nil {
		return err
	}
	if s.opts.Cluster != nil {
		if err := s.opts.Cluster.Ready(r.Context()); err != nil {
			return err
		}
	}
	st := status{Status: "ready"}
	for _, d := range s.b.Damage() {
		st.Damaged = append(st.Damaged, damaged(d))
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// version answers api.VersionInfo, the type client.Version decodes, so the
// two ends cannot drift apart.
func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, api.VersionInfo{Version: s.opts.Version, GoVersion: runtime.Version(), Commit: buildCommit()})
	return nil
}

// buildCommit is the VCS revision the binary was built from, "" when the
// build recorded none (go test, go run, a build outside a checkout).
func buildCommit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, kv := range bi.Settings {
		if kv.Key == "vcs.revision" {
			return kv.Value
		}
	}
	return ""
}

// serveMetrics serves the Prometheus exposition.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.Handler().ServeHTTP(w, r)
	return nil
}
