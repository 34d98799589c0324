package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

type cutRecorder struct{ cuts [][]uint64 }

func (c *cutRecorder) CutLinks(peers []uint64) { c.cuts = append(c.cuts, peers) }

// Without GOQUEUE_TEST_FAULTS=1, or on a single broker, the fault control
// does not exist: the API's handler is served as it is.
func TestFaultControlOffByDefault(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, env := range []string{"", "0", "true"} {
		t.Setenv(faultsEnv, env)
		h := withFaultControl(api, &clusterBridge{}, quiet)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", faultPath, strings.NewReader(`{"cut":[2]}`)))
		if rec.Code != http.StatusTeapot {
			t.Fatalf("%s=%q: %s answered %d by the fault control", faultsEnv, env, faultPath, rec.Code)
		}
	}
	t.Setenv(faultsEnv, "1")
	rec := httptest.NewRecorder()
	withFaultControl(api, nil, quiet).ServeHTTP(rec, httptest.NewRequest("POST", faultPath, strings.NewReader(`{"cut":[2]}`)))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("single broker: %s answered %d by the fault control", faultPath, rec.Code)
	}
}

// With it, POST cuts the links named (sorted, once each), an empty list
// heals, a bad body is refused, and every other request reaches the API.
func TestFaultControlCutsAndHeals(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	n := &cutRecorder{}
	h := faultControl(api, n, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tc := range []struct {
		method, path, body string
		code               int
		answer             string
	}{
		{"POST", faultPath, `{"cut":[3,2,3]}`, http.StatusOK, `{"cut":[2,3]}`},
		{"POST", faultPath, `{"cut":[]}`, http.StatusOK, `{"cut":[]}`},
		{"POST", faultPath, `{}`, http.StatusOK, `{"cut":[]}`},
		{"POST", faultPath, `{"cut":"x"}`, http.StatusBadRequest, `"BAD_REQUEST"`},
		{"GET", faultPath, ``, http.StatusTeapot, ``},
		{"POST", "/topics", `{}`, http.StatusTeapot, ``},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.answer) {
			t.Fatalf("%s %s %s: %d %s", tc.method, tc.path, tc.body, rec.Code, rec.Body)
		}
	}
	if want := [][]uint64{{2, 3}, {}, nil}; len(n.cuts) != 3 || !slices.Equal(n.cuts[0], want[0]) || len(n.cuts[1]) != 0 || len(n.cuts[2]) != 0 {
		t.Fatalf("cuts %v, want %v", n.cuts, want)
	}
}
