package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// Every coded error is sent with its table status and its code; anything
// else is a 500 INTERNAL.
func TestErrorStatus(t *testing.T) {
	s := &Server{log: discardLogger()}
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("broker: disk on fire"), 500, "INTERNAL"},
		{fmt.Errorf("wrapped: %w", api.ErrTopicNotFound.Withf("x")), 404, "TOPIC_NOT_FOUND"},
	}
	for _, e := range api.Codes() {
		cases = append(cases, struct {
			err    error
			status int
			code   string
		}{e.Withf("m"), e.Status, e.Code})
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		s.writeError(rec, httptest.NewRequest("GET", "/", nil), c.err)
		var body api.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == nil {
			t.Fatalf("%v: body %q: %v", c.err, rec.Body, err)
		}
		if rec.Code != c.status || body.Error.Code != c.code {
			t.Errorf("%v: got %d %s, want %d %s", c.err, rec.Code, body.Error.Code, c.status, c.code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%v: Content-Type %q", c.err, ct)
		}
	}
}

func TestStatusTableClientErrorsAreNot500(t *testing.T) {
	for _, e := range api.Codes() {
		// 503 and 507 (STORAGE_FULL) report the broker's state, not a fault.
		if e != api.ErrInternal && e.Status >= 500 && e.Status != http.StatusServiceUnavailable && e.Status != http.StatusInsufficientStorage {
			t.Errorf("%s has status %d", e.Code, e.Status)
		}
	}
	if _, coded := wireError(errors.New("x")); coded {
		t.Error("a plain error counts as coded")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
