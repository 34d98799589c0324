package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Sentinel errors of the transport.
var (
	// ErrNoBrokers reports a configuration without any broker address.
	ErrNoBrokers = errors.New("client: no broker addresses")
	// ErrUnreachable matches (errors.Is) a request that no broker answered:
	// connection refused, reset, or an unreadable answer.
	ErrUnreachable = errors.New("client: no broker answered")
)

// Backoff bounds for retrying another broker after a connection failure or a
// retriable UNAVAILABLE / TOO_MANY_REQUESTS answer.
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
	// maxAttempts bounds the tries of one request (each broker in turn).
	maxAttempts = 5
)

// transport sends requests to the first broker that answers. It is the only
// place that speaks HTTP; every endpoint goes through do or doRaw.
type transport struct {
	hc      *http.Client
	apiKey  string        // sent as X-API-Key when set; immutable
	brokers []string      // base URLs ("http://host:port" or "https://..."); immutable
	current atomic.Uint32 // index into anyBrokers of the one that answered last
	// nodes is brokers and then the cluster's other nodes, once GET
	// /cluster named them (nodes.go); nil until then. book is which
	// nodes it holds, by ID.
	nodes atomic.Pointer[[]string]
	book  nodeBook
	// coordinators maps a group (its path segment) to its coordinator's
	// base URL, in a cluster (coordinators.go).
	coordinators sync.Map
	// answerBuf holds, between answers read by an answerReader, the buffer
	// they are read into: a poll answer of unknown length is then not read
	// by repeated doubling into fresh memory each time.
	answerBuf chan *bytes.Buffer // capacity 1
	// readWithin bounds each attempt of a GET (see once); readWithin, the
	// constant, but in tests. Immutable after newTransport.
	readWithin time.Duration
	// direct is hc's *http.Transport when hc adds nothing of its own to a
	// request (no timeout, cookie jar or redirect policy): requests then
	// go to it straight, with header sets shared between them (headers).
	// http.Client.Do clones every request's headers to be able to follow
	// redirects, which GoQueue never sends; that, and setting each header
	// afresh, were a sixth of a consumer's allocations. nil: hc.Do.
	direct  *http.Transport
	headers sync.Map // headerKey → http.Header, read-only once stored
	// brokerKind is what GET /cluster said the brokers are, once asked
	// (see placement): kindUnknown, kindSingle or kindCluster.
	brokerKind atomic.Int32
	// life ends the requests of a Client's transport at its Close; nil
	// for a Producer's and a Consumer's, whose Close ends their requests
	// itself. Set by NewWithConfig, immutable after.
	life *lifetime
}

// lifetime is what a transport needs to be closed under its requests:
// Close marks it closed, cancels the requests in progress, and waits for
// them to return before closing the connections they leave idle, so
// that no connection (and none of the two goroutines net/http keeps per
// connection) outlives Close.
type lifetime struct {
	// mu is read-held by each attempt in progress; close takes it to wait
	// them out. closed is set (under it) by close.
	mu     sync.RWMutex
	closed bool
	ctx    context.Context // done at close: ends the attempts in progress
	cancel context.CancelFunc
}

func newLifetime() *lifetime {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifetime{ctx: ctx, cancel: cancel}
}

// close ends t's requests and closes its idle connections.
func (t *transport) close() {
	l := t.life
	l.cancel()
	l.mu.Lock() // the attempts in progress have returned
	l.closed = true
	l.mu.Unlock()
	t.hc.CloseIdleConnections()
}

// What the brokers are, as transport.brokerKind records it.
const (
	kindUnknown = iota
	kindSingle
	kindCluster
)

// headerKey names a set of request headers: the body's content type ("":
// none), the answer's, and whether the request writes.
type headerKey struct {
	contentType, accept string
	write               bool // not a GET: api.NoForwardHeader too
}

// newTransport normalises addrs ("host:port" or a URL) into base URLs.
func newTransport(addrs []string, hc *http.Client, apiKey string) (*transport, error) {
	t := &transport{hc: hc, apiKey: apiKey, answerBuf: make(chan *bytes.Buffer, 1), readWithin: readWithin}
	for _, a := range addrs {
		a = strings.TrimRight(strings.TrimSpace(a), "/")
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		t.brokers = append(t.brokers, a)
	}
	if len(t.brokers) == 0 {
		return nil, ErrNoBrokers
	}
	if t.hc == nil {
		t.hc = &http.Client{Transport: defaultTransport()}
	}
	if tr, ok := t.hc.Transport.(*http.Transport); ok && t.hc.Timeout == 0 && t.hc.Jar == nil && t.hc.CheckRedirect == nil {
		t.direct = tr
	}
	return t, nil
}

// Bounds of the default transport on what comes before a request: a
// broker's host that drops packets, and one that accepts the connection
// but never speaks TLS, held a request (and a Publish or Poll of
// context.Background) for the kernel's connect timeout, about two
// minutes, and for ever. What comes after (the answer) is bounded per
// request (answerWithin, RequestTimeout), as a long poll's wait is the
// caller's.
const (
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
)

// defaultTransport is the transport of a client given no HTTPClient.
func defaultTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		ForceAttemptHTTP2:   true, // as without DialContext
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
}

// send sends req and returns the answer, as hc.Do does (a failure names
// the request as Do's *url.Error does).
func (t *transport) send(req *http.Request) (*http.Response, error) {
	if t.direct == nil {
		return t.hc.Do(req)
	}
	resp, err := t.direct.RoundTrip(req)
	if err != nil {
		op := req.Method[:1] + strings.ToLower(req.Method[1:])
		return nil, &url.Error{Op: op, URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// header is the request headers for a body of contentType ("": none) and
// an answer of accept, with the API key if there is one, and for a write
// api.NoForwardHeader. Sent straight to
// an *http.Transport, which only reads them, one set serves every request
// alike; another RoundTripper may change what it is given, so it gets a
// set of its own each time.
func (t *transport) header(contentType, accept string, write bool) http.Header {
	k := headerKey{contentType, accept, write}
	if t.direct != nil {
		if h, ok := t.headers.Load(k); ok {
			return h.(http.Header)
		}
	}
	// Accept-Encoding stated, the transport does not add its own gzip
	// header to every request (an allocation each): no broker compresses
	// its answers.
	h := http.Header{"Accept": {accept}, "Accept-Encoding": {"identity"}}
	if write {
		// A group's writes go to its coordinator, learnt from
		// NOT_COORDINATOR (coordinators.go), not through another node;
		// its reads any node serves, asking the coordinator.
		h[api.NoForwardHeader] = []string{"true"}
	}
	if contentType != "" {
		h["Content-Type"] = []string{contentType}
	}
	if t.apiKey != "" {
		h["X-Api-Key"] = []string{t.apiKey}
	}
	if t.direct != nil {
		t.headers.Store(k, h)
	}
	return h
}

// do sends in (JSON, if not nil) and decodes a successful answer into out (if
// not nil): as JSON, or by out itself if it is an answerReader. A failed
// answer is returned as *api.Error.
func (t *transport) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("client: encode %s %s: %w", method, path, err)
		}
	}
	return t.doRaw(ctx, method, path, "application/json", body, out)
}

// doRaw is do with a body already encoded as contentType.
//
// A request that could not reach a broker, or that a broker refused as
// UNAVAILABLE or TOO_MANY_REQUESTS, is sent again to the next broker after a
// growing pause, up to maxAttempts tries or until ctx is done. A POST may so
// be applied twice (a publish written but not answered): delivery is at least
// once.
//
// A request naming a group goes to the group's coordinator (see
// toCoordinator).
func (t *transport) doRaw(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	if group := groupOf(path); group != "" {
		return t.toCoordinator(ctx, group, method, path, contentType, body, out)
	}
	return t.doAt(ctx, "", method, path, contentType, body, out)
}

// doAt is doRaw sent to the broker at base (a base URL, such as a
// partition's leader), retried there alone: another broker would only
// answer NOT_LEADER. base "" means any broker, as doRaw.
func (t *transport) doAt(ctx context.Context, base, method, path, contentType string, body []byte, out any) error {
	wait := backoffMin
	var last error
	cut := false               // an attempt went unanswered (see afterSilence)
	var silent map[string]bool // the brokers that left it unanswered
	for attempt := 0; attempt < maxAttempts; attempt++ {
		target, cur := t.anyBroker()
		switch {
		case base != "":
			target = base
		case silent[target]:
			target, _ = answeringBroker(t.anyBrokers(), cur, silent)
		}
		err := t.once(ctx, target, method, path, contentType, body, out)
		if err == nil || !retryElsewhere(err) || ctx.Err() != nil {
			return afterSilence(method, cut, err)
		}
		if errors.Is(err, errSilent) {
			// The node is hung: asking it again would wait as long
			// again, and a write it may have applied could be applied
			// once more per try when it resumes. Any broker's request
			// goes to the others, until each has left it unanswered
			// (chase moves on from base): counted by broker, not by
			// attempt, as another broker may answer UNAVAILABLE for a
			// moment, or the turn (shared by every request) come back
			// to the hung one before it.
			if silent == nil {
				silent = make(map[string]bool)
			}
			silent[target] = true
			if _, ok := answeringBroker(t.anyBrokers(), cur, silent); base != "" || !ok {
				return err
			}
		}
		cut = cut || errors.Is(err, errSilent)
		last = err
		if base == "" {
			t.next(cur)
		}
		if attempt+1 < maxAttempts {
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			wait = min(2*wait, backoffMax)
		}
	}
	return fmt.Errorf("client: %s %s: gave up after %d tries: %w", method, path, maxAttempts, afterSilence(method, cut, last))
}

// answeringBroker is the first of bs from turn cur on that is not in
// silent; ok is false when every one is.
func answeringBroker(bs []string, cur uint32, silent map[string]bool) (b string, ok bool) {
	n := uint32(len(bs))
	for i := range n {
		if b := bs[(cur+i)%n]; !silent[b] {
			return b, true
		}
	}
	return bs[cur%n], false
}

// once sends one request to base, each attempt within answerWithin's
// bound when ctx has one. A write cut by the bound may have been applied
// (the node may have written it and then stopped, or resume and write
// it): its error says so.
func (t *transport) once(ctx context.Context, base, method, path, contentType string, body []byte, out any) error {
	d, ok := ctx.Value(answerWithinKey{}).(time.Duration)
	if !ok && method == http.MethodGet {
		d, ok = t.readWithin, true
	}
	if ok {
		actx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		err := t.attempt(actx, base, method, path, contentType, body, out)
		if err != nil && ctx.Err() == nil && actx.Err() != nil {
			unsure := ""
			if method != http.MethodGet {
				unsure = " (it may have been applied)"
			}
			return &connError{err: fmt.Errorf("%w: %s %s unanswered for %v%s", errSilent, method, path, d, unsure)}
		}
		return err
	}
	return t.attempt(ctx, base, method, path, contentType, body, out)
}

// afterSilence is err, the outcome of a request of method; cut says an
// earlier attempt of it was cut by answerWithin's bound. A write that
// attempt may have applied is answered by the next node as if it had
// not been sent (a purge TOPIC_NOT_FOUND, a create
// TOPIC_ALREADY_EXISTS): the error then says what came before. It
// still matches what it wraps (errors.Is, errors.As); a context's error
// and ErrClosed are left as they are.
func afterSilence(method string, cut bool, err error) error {
	var ma *maybeApplied
	switch {
	case !cut || err == nil || method == http.MethodGet, errors.Is(err, errSilent), errors.As(err, &ma),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrClosed):
		return err
	}
	return &maybeApplied{err}
}

// maybeApplied is a write's error after an attempt of it went unanswered
// (see afterSilence).
type maybeApplied struct{ err error }

func (e *maybeApplied) Error() string {
	return e.err.Error() + " (after an attempt left unanswered, which may have applied it)"
}
func (e *maybeApplied) Unwrap() error { return e.err }

// readWithin bounds each attempt of a GET made without answerWithin's
// bound (a Fetch's: this plus its wait): a read is answered at once (a
// node asks a peer for at most 2 s), and a node stopped with its
// connections whole (SIGSTOP, a hung process) held `goqueue topic
// describe`, `group describe`, `group list` and `consume` of
// context.Background for as long as it stayed so, on every node, while
// it led a partition read or coordinated the group, or for ever while it
// was one of the nodes `group list` asks.
const readWithin = 5 * time.Second

// publishWithin bounds each attempt of a publish that is not idempotent
// (Client.Publish, a Producer's request that is not pipelined) to four
// times a read's bound, 20 s: a cluster node answers a publish within
// 15 s (a Raft majority within appendTimeout, UNAVAILABLE after), a
// single broker once its write is done (under fsync always, once the
// fsync it shares with the publishes beside it is: under load, seconds),
// so one that leaves it unanswered longer is stopped or hung. Without a
// bound a publish of context.Background to such a node waited for as long
// as it stayed so. Cut, the publish goes to the next broker (after a
// leader's failover, to the new leader) and may so be stored twice, the
// hung node having written it, as a publish whose connection broke may
// (at least once); one given up says it may have been applied.
func (t *transport) publishWithin() time.Duration { return 4 * t.readWithin }

// answerWithinKey is the context key of answerWithin's bound.
type answerWithinKey struct{}

// answerWithin bounds each attempt of the requests made with the context
// it returns to d: a node that leaves one unanswered that long (stopped,
// hung, cut off without the connection breaking) is unreachable, as a
// node that refuses the connection is, and a request that only it serves
// (a group's coordinator) is not asked of it again but waits out its
// failover (chase). For requests the broker answers at once (heartbeats,
// commits), never for long polls.
func answerWithin(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, answerWithinKey{}, d)
}

// errSilent is an attempt that answerWithin's bound cut.
var errSilent = errors.New("no answer")

// attempt is one try of once. A closed transport's is ErrClosed.
func (t *transport) attempt(ctx context.Context, base, method, path, contentType string, body []byte, out any) error {
	if l := t.life; l != nil {
		l.mu.RLock()
		defer l.mu.RUnlock()
		if l.closed || l.ctx.Err() != nil {
			return ErrClosed
		}
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(l.ctx, cancel)()
		err := t.attemptOnce(actx, base, method, path, contentType, body, out)
		if err != nil && ctx.Err() == nil && l.ctx.Err() != nil {
			return ErrClosed
		}
		return err
	}
	return t.attemptOnce(ctx, base, method, path, contentType, body, out)
}

// attemptOnce is attempt's request.
func (t *transport) attemptOnce(ctx context.Context, base, method, path, contentType string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	reader, custom := out.(answerReader)
	accept := "application/json"
	if custom {
		accept = reader.accept()
	}
	if body == nil {
		contentType = ""
	}
	req.Header = t.header(contentType, accept, method != http.MethodGet)
	resp, err := t.send(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return &connError{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if custom {
		err = t.readAnswer(resp, reader)
	} else {
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return &connError{err: fmt.Errorf("decode %s %s answer: %w", method, path, err)}
	}
	return nil
}

// decodeError turns a failed answer into *api.Error. A body that is not the
// coded envelope (a proxy's page, say) becomes an error of the status's kind.
// A coded envelope longer than maxErrorBody (an ack or nack refused for
// thousands of messages lists each in details.result) is read only that far
// and decoded up to its cut: its code, message and retriable come first,
// the details it loses are not needed to act on the code.
func decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
	cut := len(raw) > maxErrorBody
	if cut {
		raw = raw[:maxErrorBody]
	}
	var eb api.ErrorBody
	if !cut && json.Unmarshal(raw, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	if e := envelopeHead(raw); e != nil {
		e.Status = resp.StatusCode
		return e
	}
	base := api.ErrInternal
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		base = api.ErrUnavailable
	case resp.StatusCode == http.StatusTooManyRequests:
		base = api.ErrTooManyRequests
	case resp.StatusCode == http.StatusNotFound:
		base = api.ErrNotFound
	case resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge:
		// net/http's own refusal of headers past twice the broker's
		// limit (below it the broker answers coded), or a proxy's.
		base = api.ErrHeadersTooLarge
	case resp.StatusCode/100 == 4:
		base = api.ErrBadRequest
	}
	shown := strings.TrimSpace(string(raw[:min(len(raw), maxShownBody)]))
	e := base.Withf("HTTP %d: %s", resp.StatusCode, shown)
	e.Status = resp.StatusCode
	return e
}

const (
	// maxErrorBody is how much of a failed answer is read.
	maxErrorBody = 1 << 20
	// maxShownBody is how much of a body that is no coded error its
	// error message quotes.
	maxShownBody = 512
)

// envelopeHead decodes the code, message and retriable of a coded error
// envelope whose end may be cut off (details are skipped, and lost if the
// cut falls in them). It returns nil if raw holds no code. A retriable
// that the cut lost is the error table's for the code.
func envelopeHead(raw []byte) *api.Error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if !enterObject(dec) {
		return nil
	}
	for {
		key, ok := nextKey(dec)
		if !ok {
			return nil
		}
		if key == "error" {
			break
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil
		}
	}
	if !enterObject(dec) {
		return nil
	}
	var (
		e         api.Error
		retriable *bool
	)
	for {
		key, ok := nextKey(dec)
		if !ok {
			break
		}
		var err error
		switch key {
		case "code":
			err = dec.Decode(&e.Code)
		case "message":
			err = dec.Decode(&e.Message)
		case "retriable":
			retriable = new(bool)
			err = dec.Decode(retriable)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			break
		}
	}
	if e.Code == "" {
		return nil
	}
	if retriable != nil {
		e.Retriable = *retriable
	} else {
		for _, known := range api.Codes() {
			if known.Code == e.Code {
				e.Retriable = known.Retriable
			}
		}
	}
	return &e
}

// enterObject reads the '{' that opens an object.
func enterObject(dec *json.Decoder) bool {
	t, err := dec.Token()
	return err == nil && t == json.Delim('{')
}

// nextKey reads the next key of an object; false at its end or a cut.
func nextKey(dec *json.Decoder) (string, bool) {
	t, err := dec.Token()
	if err != nil {
		return "", false
	}
	k, ok := t.(string)
	return k, ok
}

// answerReader is an out of do that reads a successful answer's body itself,
// in whichever of the types it accepts the broker chose. body is valid only
// during read: it is a reused buffer.
type answerReader interface {
	accept() string                        // the Accept header to send
	read(h http.Header, body []byte) error // h: the answer's headers
}

// maxKeptAnswer bounds the answer buffer a transport keeps for the next.
const maxKeptAnswer = 16 << 20

// readAnswer reads the whole body of resp into the transport's answer
// buffer (or a new one if that is in use) and hands it to r.
func (t *transport) readAnswer(resp *http.Response, r answerReader) error {
	var buf *bytes.Buffer
	select {
	case buf = <-t.answerBuf:
		buf.Reset()
	default:
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxKeptAnswer {
			select {
			case t.answerBuf <- buf:
			default:
			}
		}
	}()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	return r.read(resp.Header, buf.Bytes())
}

// connError is a request that got no answer from a broker. blameless
// says a pipelined request is not the one the connection broke on: it was
// behind another unanswered one, or answers came on the connection before
// it broke (a network that drops connections, not a request that cannot
// be sent); sending it again does not count as an attempt.
type connError struct {
	err       error
	blameless bool
}

func (e *connError) Error() string { return "client: broker unreachable: " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *connError) Is(target error) bool { return target == ErrUnreachable }

// retryElsewhere reports whether err is worth trying on the next broker.
func retryElsewhere(err error) bool {
	var ce *connError
	if errors.As(err, &ce) {
		return true
	}
	var e *api.Error
	if errors.As(err, &e) && e.Details["written_partitions"] != nil {
		// Some partitions of the publish took their messages: sending it
		// again stores those a second time (it did, under an acknowledged
		// record, in a failover test).
		return false
	}
	return errors.Is(err, api.ErrUnavailable) || errors.Is(err, api.ErrTooManyRequests)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
