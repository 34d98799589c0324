package httpapi

import (
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
)

// net/http answers a header block over its Server.MaxHeaderBytes itself,
// before any handler runs, with a plain-text 431 and a closed connection.
// So that a client over the broker's limit gets a coded error like every
// other refusal, the server lets net/http read HeaderReadLimit(limit)
// bytes (still a bound: no client makes the broker hold more) and the
// broker enforces limit itself: Server through Options.MaxHeaderBytes,
// where the refusal is counted and logged as every other one, and
// LimitHeaders around any other handler (the one that answers while the
// broker recovers).

// HeaderReadLimit is the Server.MaxHeaderBytes to pair with a header limit
// of limit: twice limit, so that a block up to twice the limit is read
// whole and answered HEADERS_TOO_LARGE; past it net/http cuts the
// connection with its own plain 431.
func HeaderReadLimit(limit int) int { return 2 * limit }

// LimitHeaders refuses a request whose request line and headers take more
// than limit bytes with 431 HEADERS_TOO_LARGE, and passes the others to h.
// It is for handlers other than Server, which takes the limit in
// Options.MaxHeaderBytes.
func LimitHeaders(h http.Handler, limit int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkHeaderBytes(r, limit); err != nil {
			writeJSON(w, err.Status, api.ErrorBody{Error: err})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkHeaderBytes is HEADERS_TOO_LARGE if r's request line and headers
// take more than limit bytes, nil if not or if limit is not positive.
func checkHeaderBytes(r *http.Request, limit int) *api.Error {
	if limit <= 0 {
		return nil
	}
	if n := headerBytes(r); n > limit {
		return api.ErrHeadersTooLarge.
			Withf("the request line and headers take %d bytes, more than the broker's limit of %d", n, limit).
			WithDetail("max_header_bytes", limit)
	}
	return nil
}

// headerBytes is the size of r's request line and header block counted in
// the form clients send: "METHOD target HTTP/1.1", each header as
// "Name: value", every line ended by CRLF, then the empty line. For a block
// sent so it is the exact length on the wire. Headers net/http moves out
// of r.Header count where it put them: Host (r.Host), a chunked request's
// Transfer-Encoding (r.TransferEncoding) and Trailer (the names of
// r.Trailer, as one "Trailer: A, B" line). A line sent without the
// optional space or the CR counts as if it had them (at most 2 bytes
// more), and so does a list of trailer names. Uncounted are the Host
// header of a request with an absolute target (net/http keeps the
// target's host and drops the header), a Cache-Control: no-cache that may
// be net/http's own (addedCacheControl), and what net/http drops without
// a trace: the Content-Length of a chunked request, repeats of an equal
// Content-Length and of a trailer name, and the Transfer-Encoding of an
// HTTP/1.0 request. None of these lets a block past HeaderReadLimit.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.URL.Host == "" && r.Host != "" { // net/http moved the Host header here
		n += len("Host: ") + len(r.Host) + 2
	}
	for _, te := range r.TransferEncoding {
		n += len("Transfer-Encoding: ") + len(te) + 2
	}
	if len(r.Trailer) > 0 {
		n += len("Trailer: ") + 2 - len(", ")
		for k := range r.Trailer {
			n += len(k) + len(", ")
		}
	}
	for k, vs := range r.Header {
		if k == "Cache-Control" && addedCacheControl(r.Header) {
			continue
		}
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// addedCacheControl reports whether h's Cache-Control may be the one
// net/http adds to a request with Pragma: no-cache and no Cache-Control
// (see fixPragmaCacheControl in net/http): counting it could refuse a
// block the client sent within the limit.
func addedCacheControl(h http.Header) bool {
	p, cc := h["Pragma"], h["Cache-Control"]
	return len(p) > 0 && p[0] == "no-cache" && len(cc) == 1 && cc[0] == "no-cache"
}
