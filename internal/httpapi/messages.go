package httpapi

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// Fetch limits: what a fetch returns when the query does not say, and the
// most it may ask for (larger asks are lowered to these).
const (
	defaultFetchMax      = 100
	maxFetchMax          = 10000
	defaultFetchMaxBytes = 1 << 20
	maxFetchMaxBytes     = 16 << 20
)

func (s *Server) publish(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		return bodyTooLarge(s.opts.MaxBodyBytes)
	}
	msgs, err := decodePublish(r.Body, s.opts.MaxBatchMessages) // r.Body is bounded by serve
	if err != nil {
		return err
	}
	if err := s.routePublish(name, msgs); err != nil {
		return err
	}
	pos, err := s.b.Publish(name, msgs)
	if err != nil {
		return err
	}
	resp := api.PublishResponse{Topic: name, Offsets: make([]api.PublishResult, len(pos))}
	for i, p := range pos {
		resp.Offsets[i] = api.PublishResult{Partition: p.Partition, Offset: p.Offset}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request) error {
	name, err := topicParam(r)
	if err != nil {
		return err
	}
	p, err := parseCanonicalInt(r.PathValue("partition"), 32)
	if err != nil {
		return api.ErrInvalidArgument.Withf("partition %q must be a partition number, written as a plain decimal (no sign, no leading zeros)", r.PathValue("partition")).WithDetail("field", "partition")
	}
	req, err := s.fetchRequest(r.URL.Query())
	if err != nil {
		return err
	}
	req.Partition = int32(p)
	if err := s.checkLeader(name, req.Partition); err != nil {
		return err
	}
	if err := s.readPoint(r.Context(), name, req.Partition); err != nil {
		return err
	}
	res, err := s.b.Fetch(r.Context(), name, req)
	if err != nil {
		return err
	}
	resp := api.FetchResponse{
		Topic:          name,
		Partition:      req.Partition,
		Messages:       make([]api.Message, len(res.Records)),
		NextOffset:     res.NextOffset,
		EarliestOffset: res.EarliestOffset,
		HighWatermark:  res.HighWatermark,
	}
	for i := range res.Records {
		resp.Messages[i] = encodeRecord(name, req.Partition, &res.Records[i])
	}
	// The answer is held until written: a client that does not read it
	// holds it up to the write timeout, and 40 such fetches of 16 MiB
	// took the broker to 3.9 GB of RSS. Charged once read, not before (a
	// long poll waiting for data holds nothing): while it is encoded at
	// what that may take (encodingBytes), then at what the answer holds.
	held := encodingBytes(res.Records)
	if !s.answers.Take(held) {
		return s.answersFull()
	}
	buf, status := encodeJSON(http.StatusOK, resp)
	if n := int64(buf.Cap()); n < held {
		s.answers.Give(held - n)
		held = n
	}
	defer s.answers.Give(held)
	writeEncoded(w, status, buf)
	return nil
}

// answersFull is the refusal of an answer past Options.MaxFetchMemory.
func (s *Server) answersFull() error {
	return api.ErrTooManyRequests.Withf("the broker holds %d bytes of fetch and poll answers at once, its limit; retry shortly", s.answers.Max()).
		WithDetail("max_fetch_memory", s.answers.Max())
}

// encodingBytes bounds what encoding recs as a fetch answer takes: its
// JSON (binary in base64, 4/3 of it), in the encoder's buffer and then in
// the answer's, each grown by doubling, and each message's fields.
func encodingBytes(recs []commitlog.Record) int64 {
	n := 0
	for i := range recs {
		n += 256 + len(recs[i].Key) + len(recs[i].Value)
		for _, h := range recs[i].Headers {
			n += 32 + len(h.Key) + len(h.Value)
		}
	}
	return 6 * int64(n)
}

// fetchRequest parses ?offset=&timestamp=&max=&max_bytes=&wait_ms=. Offset
// is a number, "earliest" (the default) or "latest"; it and timestamp
// exclude each other. max and max_bytes above their caps are lowered to
// them; wait_ms is capped at Options.MaxWait.
func (s *Server) fetchRequest(q url.Values) (broker.FetchRequest, error) {
	req := broker.FetchRequest{Offset: broker.OffsetEarliest, MaxMessages: defaultFetchMax, MaxBytes: defaultFetchMaxBytes}
	if err := checkQuery(q, "offset", "timestamp", "max", "max_bytes", "wait_ms"); err != nil {
		return req, err
	}
	off, hasOff := q.Get("offset"), q.Has("offset")
	if hasOff && q.Has("timestamp") {
		return req, api.ErrInvalidArgument.Withf("give offset or timestamp, not both").WithDetail("field", "timestamp")
	}
	switch {
	case !hasOff:
	case off == "earliest":
		req.Offset = broker.OffsetEarliest
	case off == "latest":
		req.Offset = broker.OffsetLatest
	default:
		n, err := parseCanonicalInt(off, 64)
		if err != nil {
			return req, api.ErrInvalidArgument.Withf(`offset %q must be a number, "earliest" or "latest"`, off).WithDetail("field", "offset")
		}
		if n < 0 {
			return req, api.ErrOffsetOutOfRange.Withf("offset %d is negative", n).WithDetail("offset", n)
		}
		req.Offset = n
	}
	if q.Has("timestamp") {
		ts, err := queryInt(q, "timestamp", 0, 0, 1<<62)
		if err != nil {
			return req, err
		}
		req.ByTimestamp, req.Timestamp = true, ts
	}
	n, err := queryInt(q, "max", defaultFetchMax, 1, maxFetchMax)
	if err != nil {
		return req, err
	}
	req.MaxMessages = int(n)
	if n, err = queryInt(q, "max_bytes", defaultFetchMaxBytes, 1, maxFetchMaxBytes); err != nil {
		return req, err
	}
	req.MaxBytes = int(n)
	if n, err = queryInt(q, "wait_ms", 0, 0, s.opts.MaxWait.Milliseconds()); err != nil {
		return req, err
	}
	req.Wait = time.Duration(n) * time.Millisecond
	return req, nil
}

// checkQuery refuses a query parameter not in known, as a JSON body's
// unknown field is (400 BAD_REQUEST naming it), and one given twice: a
// typo (?ofset=100) was ignored, and the read began at the earliest
// offset instead; of ?offset=5&offset=9 the first was taken.
func checkQuery(q url.Values, known ...string) error {
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, k) {
			return api.ErrBadRequest.Withf("unknown query parameter %q; this route takes %s", k, strings.Join(known, ", ")).
				WithDetail("field", k)
		}
		if n := len(q[k]); n > 1 {
			return api.ErrInvalidArgument.Withf("query parameter %q is given %d times", k, n).WithDetail("field", k)
		}
	}
	return nil
}

// queryInt parses q[key] (def when absent). Values below min are refused;
// values above max are lowered to max.
func queryInt(q url.Values, key string, def, lo, hi int64) (int64, error) {
	if !q.Has(key) {
		return def, nil
	}
	v, err := parseCanonicalInt(q.Get(key), 64)
	if errors.Is(err, strconv.ErrRange) && q.Get(key)[0] != '-' {
		return hi, nil // past int64: lowered as any value past hi is
	}
	if err != nil || v < lo {
		return 0, api.ErrInvalidArgument.Withf("%s %q must be a whole number of at least %d", key, q.Get(key), lo).WithDetail("field", key)
	}
	return min(v, hi), nil
}

// errNotCanonical reports a number written other than as strconv writes it.
var errNotCanonical = errors.New("not a canonical decimal integer")

// parseCanonicalInt parses s as a base-10 integer of bitSize bits written
// the one way strconv.FormatInt writes it: no sign but a leading '-', no
// leading zeros, no spaces. "+1" and "01" are refused rather than read as 1,
// so two spellings never name the same partition or offset (a cache, an
// ACL or a log line keyed on the text would otherwise disagree with us).
func parseCanonicalInt(s string, bitSize int) (int64, error) {
	v, err := strconv.ParseInt(s, 10, bitSize)
	if err != nil {
		return 0, err
	}
	if strconv.FormatInt(v, 10) != s {
		return 0, errNotCanonical
	}
	return v, nil
}
