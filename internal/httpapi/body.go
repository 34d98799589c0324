package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/budget"
)

// Request bodies are read as their bytes arrive, never into a buffer sized
// from Content-Length: a client can announce 16 MiB and send nothing, and
// 300 such connections once made the broker reserve 5 GB up front.
// Across requests, the bytes of bodies held at once are bounded by a
// budget.Bytes; past it a request is refused with a retriable 429 rather
// than queued, so no request ever waits for another's bytes.

// firstBodyChunk is the buffer a body read starts with when the body
// announces no smaller length.
const firstBodyChunk = 64 << 10

// budgetFull is the error of a body refused because b, the budget of
// request bodies held at once over all requests, is spent.
func budgetFull(b *budget.Bytes) *api.Error {
	return api.ErrTooManyRequests.Withf("the broker is decoding %d bytes of request bodies at once, its limit; retry shortly", b.Max()).
		WithDetail("max_decoding_bytes", b.Max())
}

// budgetedBody is a request body whose bytes are charged to a budget as
// they are read; release returns them once the request is answered.
// One request's goroutine uses it.
type budgetedBody struct {
	io.ReadCloser
	budget *budget.Bytes
	held   int64
}

func (b *budgetedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		if !b.budget.Take(int64(n)) {
			return 0, budgetFull(b.budget)
		}
		b.held += int64(n)
	}
	return n, err
}

func (b *budgetedBody) release() {
	b.budget.Give(b.held)
	b.held = 0
}

// decoded gives r's body bytes back to the budget once the handler holds
// their decoded values instead, which share nothing with them (JSON
// copies every string). A long poll would otherwise hold its body's
// charge for its whole wait: 8 idle polls with 16 MiB bodies held the
// default 128 MiB for 30 s, and every other request with a body was
// refused 429 meanwhile.
func decoded(r *http.Request) {
	if b, ok := r.Body.(*budgetedBody); ok {
		b.release()
	}
}

// readBody reads the whole body, at most limit bytes, into a buffer that
// grows as bytes arrive (to exactly Content-Length when the body gives
// one, so a well-sized body is not over-allocated). A larger body is
// BODY_TOO_LARGE; a body refused by the budget is TOO_MANY_REQUESTS.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return readBodyTo(nil, w, r, limit)
}

// readBodyTo is readBody reading into dst's space when dst has capacity
// (a buffer kept from an earlier request), growing it as readBody grows
// its own.
func readBodyTo(dst []byte, w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, bodyTooLarge(limit)
	}
	body := r.Body
	if body == nil {
		return nil, nil
	}
	want := limit + 1 // unknown length: grow up to one past the limit to see it passed
	if r.ContentLength >= 0 {
		want = r.ContentLength
	}
	buf := dst[:0]
	if cap(buf) == 0 {
		buf = make([]byte, 0, min(want, firstBodyChunk))
	}
	// buf's capacity never passes want; growth quadruples it, so the
	// copies cost at most a third of the body's size again, and a body
	// that stops short holds at most four times what it sent.
	rd := http.MaxBytesReader(w, body, limit)
	var probe [1]byte
	for {
		dst := buf[len(buf):cap(buf)]
		switch {
		case len(dst) > 0:
		case int64(len(buf)) >= want:
			dst = probe[:] // all announced bytes are in: expect EOF, without growing for it
		default:
			buf = append(make([]byte, 0, min(4*cap(buf), int(want))), buf...)
			dst = buf[len(buf):cap(buf)]
		}
		n, err := rd.Read(dst)
		if &dst[0] == &probe[0] {
			buf = append(buf, probe[:n]...)
		} else {
			buf = buf[:len(buf)+n]
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, bodyError(err, limit)
		}
	}
}

// bodyError is the coded error of a failed body read.
func bodyError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		ae  *api.Error
	)
	switch {
	case errors.As(err, &mbe):
		return bodyTooLarge(limit)
	case errors.As(err, &ae):
		return ae
	}
	return api.ErrBadRequest.Withf("read request body: %v", err)
}

func bodyTooLarge(limit int64) *api.Error {
	return api.ErrBodyTooLarge.Withf("request body is larger than %d bytes", limit).WithDetail("max_body_bytes", limit)
}
