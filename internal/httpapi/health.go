package httpapi

import (
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/abd-ulbasit/goqueue/api"
)

type status struct {
	Status string `json:"status"`
}

// healthz and livez answer while the process serves at all.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, status{"ok"})
	return nil
}

func (s *Server) livez(w http.ResponseWriter, r *http.Request) error { return s.healthz(w, r) }

// readyz answers 200 once the broker has recovered (New takes a recovered
// broker) and 503 after Drain.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return api.ErrUnavailable.Withf("broker is shutting down")
	}
	writeJSON(w, http.StatusOK, status{"ready"})
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
