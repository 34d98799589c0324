package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
)

// faultsEnv turns on the fault control, for tests only: with it set to 1 a
// cluster node serves faultPath, through which a test cuts and heals its
// links to other nodes. It is never on by default and has no flag, so no
// configuration file or operator turns it on by accident.
const faultsEnv = "GOQUEUE_TEST_FAULTS"

// faultPath takes {"cut":[ids]}: this node carries nothing to or from
// those nodes until the next request; {"cut":[]} heals. It answers the
// cut in force.
const faultPath = "/debug/cluster/fault"

// linkCutter is what the fault control needs of the cluster node.
type linkCutter interface{ CutLinks(peers []uint64) }

// faultCut is the body of a fault request and its answer.
type faultCut struct {
	Cut []uint64 `json:"cut"`
}

// withFaultControl serves faultPath in front of h when the broker is a
// cluster node and faultsEnv is 1; otherwise it returns h unchanged and the
// path does not exist.
func withFaultControl(h http.Handler, cn *clusterBridge, log *slog.Logger) http.Handler {
	if cn == nil || os.Getenv(faultsEnv) != "1" {
		return h
	}
	log.Warn("test fault control on: POST "+faultPath+" cuts this node's cluster links", "env", faultsEnv)
	return faultControl(h, cn.n, log)
}

// faultControl answers POST faultPath and hands every other request to h
// untouched (no mux in front of the API: its own routing stays exact).
func faultControl(h http.Handler, n linkCutter, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != faultPath || r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		var req faultCut
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12)).Decode(&req); err != nil {
			writeFaultError(w, api.ErrBadRequest.Withf("fault control: %v", err))
			return
		}
		slices.Sort(req.Cut)
		req.Cut = slices.Compact(req.Cut)
		n.CutLinks(req.Cut)
		log.Warn("test fault: cluster links cut", "peers", req.Cut)
		if req.Cut == nil {
			req.Cut = []uint64{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(req)
	})
}

func writeFaultError(w http.ResponseWriter, e *api.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
}
