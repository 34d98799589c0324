package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

func TestTransportDecodesErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   *api.Error
		msg    string
	}{
		{"coded", 404, `{"error":{"code":"TOPIC_NOT_FOUND","message":"topic \"x\" does not exist"}}`, api.ErrTopicNotFound, `topic "x" does not exist`},
		{"coded conflict", 409, `{"error":{"code":"STALE_GENERATION","retriable":true}}`, api.ErrStaleGeneration, ""},
		{"proxy page 502", 502, `<html>bad gateway</html>`, api.ErrInternal, "HTTP 502"},
		{"plain 404", 404, `404 page not found`, api.ErrNotFound, "HTTP 404"},
		{"plain 400", 400, `nope`, api.ErrBadRequest, "HTTP 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			tr, err := newTransport([]string{srv.URL}, srv.Client(), "")
			if err != nil {
				t.Fatal(err)
			}
			err = tr.do(context.Background(), "GET", "/x", nil, nil)
			var ae *api.Error
			if !errors.Is(err, tt.want) || !errors.As(err, &ae) || ae.Status != tt.status {
				t.Fatalf("got %v (%#v), want %s with status %d", err, ae, tt.want.Code, tt.status)
			}
			if tt.msg != "" && !contains(ae.Message, tt.msg) {
				t.Fatalf("message %q lacks %q", ae.Message, tt.msg)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestTransportFailsOver checks that an unreachable broker and a 503 move
// the request to the next broker, and that a client error does not.
func TestTransportFailsOver(t *testing.T) {
	var unavailable, good, bad atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		unavailable.Add(1)
		w.WriteHeader(503)
		w.Write([]byte(`{"error":{"code":"UNAVAILABLE","retriable":true}}`))
	}))
	defer down.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			bad.Add(1)
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"code":"INVALID_ARGUMENT"}}`))
			return
		}
		good.Add(1)
		w.Write([]byte(`{"version":"v"}`))
	}))
	defer up.Close()
	tr, err := newTransport([]string{"127.0.0.1:1", down.URL, up.URL}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var v api.VersionInfo
	if err := tr.do(context.Background(), "GET", "/version", nil, &v); err != nil || v.Version != "v" {
		t.Fatalf("%v %+v", err, v)
	}
	if unavailable.Load() != 1 || good.Load() != 1 {
		t.Fatalf("503 broker asked %d times, good one %d", unavailable.Load(), good.Load())
	}
	// The good broker is now the current one; a client error is not retried.
	if err := tr.do(context.Background(), "GET", "/bad", nil, nil); !errors.Is(err, api.ErrInvalidArgument) || bad.Load() != 1 {
		t.Fatalf("%v after %d tries", err, bad.Load())
	}
	none, _ := newTransport([]string{"127.0.0.1:1"}, nil, "")
	if err := none.do(context.Background(), "GET", "/", nil, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
	if _, err := newTransport([]string{" ", ""}, nil, ""); !errors.Is(err, ErrNoBrokers) {
		t.Fatalf("no brokers: %v", err)
	}
}

// An answer that is no coded error (a proxy's page, net/http's own
// refusal) becomes the error of its status's kind. A header block past
// twice the broker's limit, which net/http refuses with a plain 431, was
// BAD_REQUEST.
func TestDecodeErrorUncoded(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   *api.Error
	}{
		{http.StatusServiceUnavailable, api.ErrUnavailable},
		{http.StatusTooManyRequests, api.ErrTooManyRequests},
		{http.StatusNotFound, api.ErrNotFound},
		{http.StatusRequestHeaderFieldsTooLarge, api.ErrHeadersTooLarge},
		{http.StatusBadRequest, api.ErrBadRequest},
		{http.StatusBadGateway, api.ErrInternal},
	} {
		resp := &http.Response{StatusCode: tc.status, Body: io.NopCloser(strings.NewReader("a page"))}
		var ae *api.Error
		if err := decodeError(resp); !errors.As(err, &ae) || !isCode(err, tc.want) || ae.Status != tc.status {
			t.Errorf("HTTP %d: %v; want %s", tc.status, err, tc.want.Code)
		}
	}
}

// TestDecodeErrorCutEnvelope: a coded error longer than maxErrorBody keeps
// its code, message and retriable (from the table when the cut took it), and
// a long body that is no coded error is quoted only in part.
func TestDecodeErrorCutEnvelope(t *testing.T) {
	long := strings.Repeat(`{"offset":1,"error":{"code":"MESSAGE_NOT_IN_FLIGHT"}},`, maxErrorBody/40)
	answer := func(status int, body string) *http.Response {
		return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body))}
	}
	for _, tc := range []struct {
		name, body string
		want       *api.Error
		retriable  bool
	}{
		{"details last", `{"error":{"code":"STALE_GENERATION","message":"m","retriable":true,"details":{"failed":[` + long + `]}}}`,
			api.ErrStaleGeneration, true},
		{"retriable cut off", `{"error":{"code":"STALE_GENERATION","message":"m","details":{"failed":[` + long + `]},"retriable":true}}`,
			api.ErrStaleGeneration, true},
		{"not retriable", `{"error":{"code":"MESSAGE_NOT_IN_FLIGHT","message":"m","details":{"result":{"failed":[` + long + `]}},"retriable":false}}`,
			api.ErrNotInFlight, false},
	} {
		err := decodeError(answer(http.StatusConflict, tc.body))
		var ae *api.Error
		if !errors.As(err, &ae) || !isCode(err, tc.want) || ae.Message != "m" || ae.Retriable != tc.retriable || ae.Status != http.StatusConflict {
			t.Errorf("%s: got %.200v (retriable %v); want %s, message m, retriable %v, status 409", tc.name, err, ae != nil && ae.Retriable, tc.want.Code, tc.retriable)
		}
	}
	err := decodeError(answer(http.StatusBadGateway, strings.Repeat("x", 2*maxErrorBody)))
	if !isCode(err, api.ErrInternal) || len(err.Error()) > 2*maxShownBody {
		t.Errorf("a long page: %.200v (%d bytes); want INTERNAL quoting at most %d bytes", err, len(err.Error()), maxShownBody)
	}
}
