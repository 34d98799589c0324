package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// writeJSON sends v with status. HTML characters are not escaped: values
// come back as they were sent.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, status := encodeJSON(status, v)
	writeEncoded(w, status, buf)
}

// encodeJSON is v as writeJSON sends it, and the status to send it with.
func encodeJSON(status int, v any) (*bytes.Buffer, int) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a broker bug gets here (every type we send marshals).
		buf.Reset()
		fmt.Fprintf(&buf, `{"error":{"code":%q,"message":"encode response: %s","retriable":true}}`+"\n",
			api.ErrInternal.Code, strings.ReplaceAll(err.Error(), `"`, `'`))
		status = http.StatusInternalServerError
	}
	return &buf, status
}

// writeEncoded sends a body encodeJSON made.
func writeEncoded(w http.ResponseWriter, status int, buf *bytes.Buffer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// wireError is the error → status table: an *api.Error travels with its own
// status; anything else is a broker fault (500).
func wireError(err error) (*api.Error, bool) {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae, true
	}
	return api.ErrInternal.Withf("internal error"), false
}

// writeError sends err as an api.ErrorBody. An error that is not an
// *api.Error is logged, since it means a broker fault, not a client mistake.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae, coded := wireError(err)
	if !coded {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	ae = s.confirmNotFound(r.Context(), ae)
	if ae.Retriable && (ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable) &&
		w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1") // seconds; load and restarts pass in about that
	}
	writeJSON(w, ae.Status, api.ErrorBody{Error: ae})
}

// confirmWait bounds confirmNotFound's read of the metadata.
const confirmWait = 500 * time.Millisecond

// confirmNotFound turns a cluster node's TOPIC_NOT_FOUND or
// PARTITION_NOT_FOUND, which say only that this broker does not hold the
// topic or partition, into UNAVAILABLE (retry) unless the cluster's
// metadata confirms it does not exist: the node may have just started, on
// an empty disk, or not yet created a new topic or added partitions.
func (s *Server) confirmNotFound(ctx context.Context, ae *api.Error) *api.Error {
	if s.opts.Cluster == nil {
		return ae
	}
	topic, ok := ae.Details["topic"].(string)
	partition := int32(-1)
	switch {
	case !ok:
		return ae
	case ae.Code == api.ErrTopicNotFound.Code:
	case ae.Code == api.ErrPartitionNotFound.Code:
		p, ok := ae.Details["partition"].(int32)
		if !ok || p < 0 {
			return ae
		}
		partition = p
	default:
		return ae
	}
	// Bounded: on the stream this runs on the connection's own
	// goroutine, and every frame behind it (pings, acks) waits; without a
	// metadata leader the read would fail only after two election
	// timeouts. A client retries UNAVAILABLE anyway.
	ctx, cancel := context.WithTimeout(ctx, confirmWait)
	defer cancel()
	var confirm *api.Error
	if err := s.opts.Cluster.ConfirmAbsent(ctx, topic, partition); errors.As(err, &confirm) {
		return confirm
	}
	return ae
}

// decodeJSON decodes exactly one JSON value from body into v. Unknown fields
// are refused, so a misspelt field is an error rather than silently dropped.
func decodeJSON(body []byte, v any) error { return decodeJSONFrom(bytes.NewReader(body), v) }

// decodeJSONFrom is decodeJSON reading r as it arrives.
func decodeJSONFrom(r io.Reader, v any) error {
	dec := json.NewDecoder(&utf8Body{r: r})
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return api.ErrBadRequest.Withf("unexpected data after the JSON body")
	}
	return nil
}

// jsonError turns a decoding error into a coded one that says where the
// problem is.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		b64 base64.CorruptInputError
	)
	var (
		ae  *api.Error
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae): // from a field's own decoder, or the body budget
		return ae
	case errors.As(err, &mbe):
		return bodyTooLarge(mbe.Limit)
	case errors.Is(err, io.EOF):
		return api.ErrBadRequest.Withf("request body is empty; expected JSON")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return api.ErrBadRequest.Withf("request body is truncated JSON")
	case errors.As(err, &syn):
		return api.ErrBadRequest.Withf("malformed JSON at byte %d: %v", syn.Offset, syn).WithDetail("offset", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return api.ErrInvalidArgument.Withf("field %s: expected %s, got JSON %s", field, typ.Type, typ.Value).WithDetail("field", field)
	case errors.As(err, &b64):
		return api.ErrInvalidArgument.Withf("invalid base64 at byte %d", int64(b64))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return api.ErrBadRequest.Withf("unknown field %q", field).WithDetail("field", field)
	}
	return api.ErrBadRequest.Withf("invalid JSON: %v", err)
}
