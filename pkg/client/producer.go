package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// ErrClosed is returned by calls on a Producer, Consumer or Client after
// Close, and by the calls a Client's Close ended.
var ErrClosed = errors.New("client: closed")

// Header is one message header. It is the batch codec's type, so
// records are encoded without converting their headers.
type Header = recordbatch.RecordHeader

// Record is a message to publish.
type Record struct {
	Key       []byte // nil: no key; keyed records go where the broker's murmur2 partitioner puts them
	Value     []byte
	Headers   []Header
	Partition *int32 // nil: by key, or spread over partitions when there is no key
	// Timestamp zero: the time the record's batch opened. The clock is read
	// once per batch, not per record, so such a timestamp is at most about
	// Linger earlier than the publish.
	Timestamp time.Time
}

// Position is where a published record landed.
type Position struct {
	Partition int32
	Offset    int64
}

// ProducerConfig configures NewProducer. Zero values take the defaults noted.
type ProducerConfig struct {
	Brokers []string // "host:port" or base URLs; required
	// Linger is how long a request waits for more records before it is
	// sent while another request of the producer is in flight (default
	// 5 ms): with nothing in flight, records leave at once. A request is
	// sent sooner once it holds BatchBytes, or when the requests in flight
	// have all been answered.
	Linger     time.Duration
	BatchBytes int // default 1 MiB
	// BufferBytes bounds the records waiting to be sent or answered;
	// PublishAsync blocks while it is full (default (MaxInFlight+1) ×
	// BatchBytes for each node with requests in flight: MaxInFlight full
	// requests out and one gathering, which keeps the broker busy; per
	// node, so that a node that stops answering, holding its requests
	// until RequestTimeout, does not fill the buffer of the others'). A larger buffer adds no throughput: it only
	// lets a producer run further ahead of its sends, into memory it has
	// not used yet, and the first touch of each fresh page (a page fault)
	// cost more than encoding its records: with 16 MiB, four producers of
	// 250k records each spent 0.6-0.7 µs of CPU per record, against 0.3
	// with 4-5 MiB.
	BufferBytes int
	// MetadataMaxAge is how long a topic's partition count is trusted
	// before it is asked again (default 30 s).
	MetadataMaxAge time.Duration
	// MaxInFlight is how many requests may be in flight at once to each
	// node (default 4; a single broker is one node). On a broker that hands out producer IDs (POST /producers),
	// each partition's requests go back to back over one connection to
	// the partition's leader (partition p over the (p % 4)th of four per
	// node), up to api.MaxInFlightPerPartition of them per partition, as
	// idempotent batches: the broker writes them in the order sent, and a
	// request sent again after a lost answer, or to the next leader after
	// a failover, is not written twice. Otherwise (an older broker, a
	// custom HTTPClient or TLS) requests that share a partition are never
	// in flight together. Either way each partition's records are written
	// in publish order.
	MaxInFlight int
	// RetryTimeout is how long a pipelined request (see MaxInFlight) is
	// sent again after a failure — a broker or leader unreachable, or
	// answering UNAVAILABLE — before its records fail, counted from the
	// publish of its first record (default 15 s, and at least 0.75 s, the
	// time 5 quick tries take): records queued behind a failing request
	// of their partition wait within the same RetryTimeout, not one after
	// it. A try cut by RequestTimeout may end that much past it. A cluster's leader election takes 2–4 s: a
	// shorter budget fails the records in flight to a leader that died.
	RetryTimeout time.Duration
	// RequestTimeout is how long a node may leave every pipelined request
	// it was sent unanswered (default 5 s): a node stopped, hung, or cut
	// off without its connection breaking answers nothing, and its
	// connection is then closed and its requests sent again (within
	// RetryTimeout), to their partitions' leaders as then known. Each
	// answer gives the next as long again. Meanwhile the other nodes'
	// requests go on (MaxInFlight and the default buffer are per node),
	// but for a moment when the producer asks a hung node first (leaders
	// asked again, a connection opened: 1.5 s and RequestTimeout at
	// most). A broker may hold a write up to 15 s when its partition
	// cannot commit (no quorum); such a connection is cut too, and its
	// requests sent again, which changes nothing but the connection. A
	// request that is not pipelined is not idempotent: each attempt of
	// it gets the longer of RequestTimeout and 20 s (more than a node
	// holds a write); then, sent to any broker, it goes to the next (and
	// may be stored twice), sent to a partition's leader, it fails saying
	// it may have been stored.
	RequestTimeout time.Duration
	// NoStream sends the pipelined requests (see MaxInFlight) as HTTP
	// requests rather than as PRODUCE frames on the broker's stream (GET
	// /stream), the default: the same bodies on the same kind of
	// connection, written and answered in the same order, but a frame has
	// no request line and headers for the broker to parse (docs/latency.md).
	// A broker without the stream, or whose stream takes no PRODUCE frames
	// (older than them), gets HTTP requests; so do requests that are not
	// pipelined.
	NoStream   bool
	HTTPClient *http.Client // default: a client of this producer's own
	APIKey     string       // sent as X-API-Key when the broker requires keys
}

// Defaults of ProducerConfig.
const (
	DefaultLinger         = 5 * time.Millisecond
	DefaultBatchBytes     = 1 << 20
	DefaultBufferBytes    = (DefaultMaxInFlight + 1) * DefaultBatchBytes // with the other defaults
	DefaultMetadataMaxAge = 30 * time.Second
	DefaultMaxInFlight    = 4
	DefaultRetryTimeout   = 15 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// Producer publishes records in batches on the broker's binary fast path
// (POST /topics/{topic}/batches). Records of one topic are gathered for up to
// Linger into one request, one Kafka RecordBatch per partition. In a cluster
// a request holds the partitions of one leader and goes to that node; a
// NOT_LEADER answer re-learns the leaders and sends the refused batches
// where they now belong (see send). Up to
// MaxInFlight requests are in flight, but never two that share a partition
// and never one that would overtake an earlier request of its partitions, so
// records published in order to one partition are written in that order.
//
// All state below mu is guarded by mu; run, the dispatcher, is started by
// NewProducer and waited for by Close, and waits for the sends it starts.
type Producer struct {
	cfg ProducerConfig
	t   *transport

	mu     sync.Mutex
	topics map[string]*topicState
	// last and lastName are the topic of the latest publish: a producer
	// publishing to one topic finds it without a map lookup per record.
	last     *topicState
	lastName string
	ready    []*request          // sealed, waiting for run, oldest first
	buffered int                 // bytes accepted and not yet answered
	sealed   uint64              // requests sealed so far; a request's seq is the count at its sealing
	pending  map[uint64]struct{} // seqs of sealed requests not yet answered (they finish out of order)
	progress chan struct{}       // closed and replaced when a request is answered
	closed   bool
	// free holds buffers of answered requests for reuse, so that a batch
	// grows into storage that is already large instead of copying itself
	// through every size on the way.
	free [][]byte
	// spare holds answered requests, their per-partition batches and
	// callback slices kept for reuse, so that a record costs no allocation.
	spare []*request
	// busy marks the partitions of requests in flight; inFlight counts
	// them, and inFlightOn by the node each was picked for (its
	// slotOn), each node at most MaxInFlight: a node that stops
	// answering holds its own slots, not the others'.
	busy       map[partKey]bool
	inFlight   int
	inFlightOn map[string]int
	// bufferPerNode: BufferBytes was left to its default, which is per
	// node with requests in flight (bufferLimitLocked); immutable.
	bufferPerNode bool

	// Pipelined, idempotent sending (pipeline.go; see send). pid is the
	// producer ID the broker gave (-1: none, requests are not pipelined);
	// asked says it was asked for. seqs is each partition's sequence
	// state; retry holds pipelined requests to send again, in the order
	// they were first sent.
	pid     int64
	asked   bool
	canPipe bool   // immutable: own HTTP client, http:// brokers
	dial    dialer // immutable
	seqs    map[partKey]*partSeq
	retry   []*request
	// pipes are the connections pipelined requests go on, by leader and
	// group (openKey); only run uses them.
	pipes map[openKey]*pipe
	// noStream are the brokers (base URLs) found without the stream; only
	// run uses it.
	noStream map[string]bool

	wake chan struct{} // buffered(1): something to send, or closing
	done chan struct{} // closed when run returns
}

// topicState is what the producer knows of one topic; guarded by
// Producer.mu.
type topicState struct {
	partitions int32
	// leaders is each partition's leader as a base URL; "" (and every
	// partition on a single broker) means any broker. leaderIDs are their
	// node IDs.
	leaders   []string
	leaderIDs []uint64
	// lost are the partitions that can never have a leader again (nil:
	// none), which keyless records avoid, as Kafka clients avoid a
	// partition with no leader.
	lost      []bool
	fetchedAt time.Time
	// expired says the partition count and leaders must be asked again
	// before the next record: they are older than MetadataMaxAge (noticed
	// when a request opens, so the clock is not read per record) or an
	// answer showed them wrong.
	expired bool
	sticky  int32 // partition of keyless records in the open requests
	// cluster says the topic is a cluster's: its partitions have replicas
	// and leaders (node IDs, even with none known yet). path is its
	// batches endpoint.
	cluster bool
	path    string
	// maxMessage is the topic's largest record (key, value and headers)
	// as its description said; 0: not said (an older broker).
	maxMessage int
	// open holds the requests gathering records, one per leader and pipe
	// group (openKey). No two hold the same partition (enqueue seals the
	// older first), so the order they are sealed in never reorders a
	// partition's records.
	open map[openKey]*request
	// cur is, by partition, the open request holding that partition's
	// batch (nil: none): the per-record path of enqueue.
	cur []*request
	// batchHint is the largest batch of the last request sealed, with some
	// headroom: the capacity a new batch starts with, so that batches of a
	// busy topic do not grow by doubling each time.
	batchHint int
}

// pipeGroups is how many connections a producer's pipelined requests use:
// partition p's requests go over connection p % pipeGroups, so each
// partition's requests keep one ordered connection while the broker, which
// handles a connection's requests one after another, works on requests of
// different groups at once (as it did on a producer's requests sent one at
// a time over several connections).
const pipeGroups = 4

// openKey names an open request: its leader (a base URL, or "" for any
// broker) and, if it is pipelined, its partitions' pipe group.
type openKey struct {
	node  string
	group int32
	part  int32 // a cluster's pipelined request: its partition + 1; else 0
}

// partKey names one partition of one topic.
type partKey struct {
	topic     string
	partition int32
}

// request is one POST of frames for one topic.
type request struct {
	topic  string
	node   string       // the leader its partitions had when it opened; "": any broker
	key    openKey      // its key in topicState.open while open
	parts  []int32      // frame order
	slots  []*partBatch // by partition; nil: no record of that partition here
	bytes  int
	opened time.Time
	now    int64  // opened in ms: the timestamp of records that carry none
	seq    uint64 // order of sealing; set by sealLocked
	// piped: sent on the producer's pipe, its batches carrying sequence
	// numbers (set when it opens). The rest concerns piped requests:
	// framed says their headers are written (a retry sends them as they
	// are); attempts counts failed sends; retrying says it failed once and is counted in its
	// partitions' recovering; retryAt is when it may go again.
	piped    bool
	path     string
	framed   bool
	attempts int
	retrying bool
	retryAt  time.Time
	// slotOn is the node whose in-flight slot it holds (its node when
	// picked; a retry may be rerouted after).
	slotOn string
	// writing says run is writing it (its buffers in use); answered, that
	// its answer came meanwhile, so run lets it go after the write.
	writing, answered bool
	// kept are the partBatches of an answered request, for reuse.
	kept []*partBatch
}

// partBatch is one partition's records in a request: encoded into their
// frame as they are published, and their callbacks in publish order.
type partBatch struct {
	// buf is the frame: frameHeaderLen bytes for the partition and length
	// (written when sent), then the batch b builds.
	buf []byte
	b   recordbatch.Builder
	cbs []func(Position, error)
	// epoch and seq are the producer epoch and first sequence number of
	// a piped request's batch, set when it is first sent.
	epoch int16
	seq   int32
}

// frameHeaderLen is the partition and length before each batch of a
// batches body (api.AppendFrame).
const frameHeaderLen = 8

// slot returns r's batch of partition part, or nil.
func (r *request) slot(part int32) *partBatch {
	if int(part) < len(r.slots) {
		return r.slots[part]
	}
	return nil
}

// NewProducer starts a producer. It does not contact a broker until the
// first publish.
func NewProducer(cfg *ProducerConfig) (*Producer, error) {
	if cfg == nil {
		cfg = &ProducerConfig{} // refused below, as a zero config is
	}
	c := *cfg
	if c.Linger <= 0 {
		c.Linger = DefaultLinger
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.MetadataMaxAge <= 0 {
		c.MetadataMaxAge = DefaultMetadataMaxAge
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.RetryTimeout <= 0 {
		c.RetryTimeout = DefaultRetryTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	perNode := c.BufferBytes <= 0
	if perNode {
		c.BufferBytes = (c.MaxInFlight + 1) * c.BatchBytes
	}
	t, err := newTransport(c.Brokers, c.HTTPClient, c.APIKey)
	if err != nil {
		return nil, err
	}
	canPipe := c.HTTPClient == nil
	for _, b := range t.brokers {
		canPipe = canPipe && strings.HasPrefix(b, "http://")
	}
	p := &Producer{
		cfg:           c,
		t:             t,
		topics:        make(map[string]*topicState),
		busy:          make(map[partKey]bool),
		inFlightOn:    make(map[string]int),
		bufferPerNode: perNode,
		pending:       make(map[uint64]struct{}),
		pid:           -1,
		canPipe:       canPipe,
		dial:          (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		seqs:          make(map[partKey]*partSeq),
		pipes:         make(map[openKey]*pipe),
		noStream:      make(map[string]bool),
		progress:      make(chan struct{}),
		wake:          make(chan struct{}, 1),
		done:          make(chan struct{}),
	}
	go p.run()
	return p, nil
}

// Publish publishes rec and waits for the broker's answer: when it returns
// nil, the record is as durable as the topic's fsync policy promises. It
// waits up to Linger for company. With ctx done before the call, rec is
// not published; once rec is queued, ctx ending returns ctx's error but
// does not withdraw rec, which may still be written.
func (p *Producer) Publish(ctx context.Context, topic string, rec *Record) (Position, error) {
	type result struct {
		pos Position
		err error
	}
	ch := make(chan result, 1)
	p.PublishAsync(ctx, topic, rec, func(pos Position, err error) { ch <- result{pos, err} })
	select {
	case r := <-ch:
		return r.pos, r.err
	case <-ctx.Done():
		return Position{}, ctx.Err()
	}
}

// PublishAsync queues rec and returns; cb (if not nil) is called exactly once
// with where rec landed or why it did not, from the producer's sender
// goroutine (or from this call if rec is refused before it is queued). cb
// must not block for long, and must not publish: the goroutine that runs it
// reads the answers that make room in the buffer. Callbacks of one
// partition run in publish order.
// PublishAsync blocks only while the buffer is full, until ctx is done; a
// record whose ctx is done before it is queued fails with ctx's error, and
// one larger than its topic's max_message_bytes (key, value and headers)
// with api.ErrMessageTooLarge, without taking the records sent with it
// down.
func (p *Producer) PublishAsync(ctx context.Context, topic string, rec *Record, cb func(Position, error)) {
	if cb == nil {
		cb = func(Position, error) {}
	}
	if err := p.enqueue(ctx, topic, rec, cb); err != nil {
		cb(Position{}, err)
	}
}

func (p *Producer) enqueue(ctx context.Context, topic string, rec *Record, cb func(Position, error)) error {
	if rec == nil {
		return errors.New("client: nil record")
	}
	if err := ctx.Err(); err != nil {
		// Not queued: a done context's error says the record was not
		// published (it was queued, and written, all the same).
		return err
	}
	if topic == "" || topic == "." || topic == ".." {
		// Asked of the broker, it is a request for GET /topics/, which
		// is no route: NOT_FOUND, which names no topic (see segment).
		_, err := topicPath(topic)
		return err
	}
	size := len(rec.Key) + len(rec.Value) + 16
	recSize := len(rec.Key) + len(rec.Value) // as the broker counts a record against its topic's max_message_bytes
	for _, h := range rec.Headers {
		size += len(h.Key) + len(h.Value) + 4
		recSize += len(h.Key) + len(h.Value)
	}
	rechecked := false
	p.mu.Lock()
	var ts0 *topicState
	for {
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		if !p.asked {
			// Learn whether the broker takes idempotent batches first.
			p.mu.Unlock()
			if err := p.askID(ctx); err != nil {
				return err
			}
			p.mu.Lock()
			continue
		}
		ts0 = p.topicLocked(topic)
		if ts0 == nil || ts0.expired {
			// Learn the topic's partitions (and leaders) first.
			p.mu.Unlock()
			if _, err := p.refresh(ctx, topic); err != nil {
				return err
			}
			p.mu.Lock()
			continue
		}
		if ts0.maxMessage > 0 && recSize > ts0.maxMessage {
			// Refused here, not by the broker: in a batch it failed the
			// whole batch, and the later batches of its partition in
			// flight with it, records that were fine; and past the
			// broker's largest request it was BODY_TOO_LARGE, not
			// MESSAGE_TOO_LARGE. The limit may have been raised since it
			// was read: read once more first.
			if !rechecked {
				rechecked, ts0.expired = true, true
				continue
			}
			p.mu.Unlock()
			return api.ErrMessageTooLarge.Withf("record is %d bytes (key, value and headers); topic %q allows %d", recSize, topic, ts0.maxMessage).
				WithDetail("size", recSize).WithDetail("max_message_bytes", ts0.maxMessage)
		}
		if p.buffered > 0 && p.buffered+size > p.bufferLimitLocked() {
			if err := p.awaitProgressLocked(ctx); err != nil {
				return err
			}
			continue
		}
		break
	}
	defer p.mu.Unlock()
	n := ts0.partitions
	part := int32(0)
	switch {
	case rec.Partition != nil:
		part = *rec.Partition
		if part < 0 || part >= n {
			return api.ErrPartitionNotFound.Withf("topic %q has partitions 0..%d; there is no partition %d", topic, n-1, part)
		}
	case rec.Key != nil:
		part = api.KeyPartition(rec.Key, n)
	default:
		part = ts0.sticky % n
	}
	var r *request
	if int(part) < len(ts0.cur) {
		r = ts0.cur[part]
	}
	if r == nil {
		r = p.openLocked(ts0, topic, part)
	}
	pb := r.slots[part]
	ms := r.now
	if !rec.Timestamp.IsZero() {
		ms = rec.Timestamp.UnixMilli()
	}
	before := len(pb.buf)
	pb.b.Add(0, ms, rec.Key, rec.Value, rec.Headers)
	pb.buf = pb.b.Bytes()
	pb.cbs = append(pb.cbs, cb)
	grew := len(pb.buf) - before
	r.bytes += grew
	p.buffered += grew
	if r.bytes >= p.cfg.BatchBytes {
		p.sealOneLocked(ts0, r)
	}
	return nil
}

// bufferLimitLocked is the bytes the buffer may hold now: BufferBytes, or
// by default BufferBytes for each node with requests in flight.
func (p *Producer) bufferLimitLocked() int {
	if !p.bufferPerNode {
		return p.cfg.BufferBytes
	}
	return p.cfg.BufferBytes * max(1, len(p.inFlightOn))
}

// topicLocked is what the producer knows of topic, or nil.
func (p *Producer) topicLocked(topic string) *topicState {
	if p.last != nil && p.lastName == topic {
		return p.last
	}
	ts := p.topics[topic]
	if ts != nil {
		p.last, p.lastName = ts, topic
	}
	return ts
}

// openLocked starts part's batch in the open request for part's leader,
// opening that request if there is none, and returns the request. It runs
// once per batch, so it does what the per-record path must not: read the
// clock, look up maps, take buffers.
func (p *Producer) openLocked(ts *topicState, topic string, part int32) *request {
	node := ""
	if int(part) < len(ts.leaders) {
		node = ts.leaders[part]
	}
	// In a cluster too: a batch sent again to a partition's next leader is
	// recognised there (every replica knows the producers' sequences).
	piped := p.pid >= 0 && p.canPipe
	key := openKey{node: node}
	if piped {
		key.group = part % pipeGroups
		if ts.cluster {
			// One partition per request: partitions that share a leader
			// now may not after a failover, and a request goes whole to
			// one node.
			key.part = part + 1
		}
	}
	r := ts.open[key]
	if r == nil {
		now := time.Now()
		r = p.takeRequestLocked()
		r.topic, r.node, r.opened, r.now = topic, node, now, now.UnixMilli()
		r.piped, r.path = piped, ts.path
		if ts.open == nil {
			ts.open = make(map[openKey]*request)
		}
		ts.open[key] = r
		r.key = key
		if now.Sub(ts.fetchedAt) >= p.cfg.MetadataMaxAge {
			ts.expired = true // asked again before the next record
		}
		p.signal() // run must learn of the linger deadline
	}
	// Another open request (for the leader the producer knew before) may
	// hold part's earlier records: it must reach the send queue first, or
	// part's records could be written out of order.
	for _, o := range ts.open {
		if o != r && o.slot(part) != nil {
			p.sealOneLocked(ts, o)
		}
	}
	var pb *partBatch
	if k := len(r.kept); k > 0 {
		pb, r.kept = r.kept[k-1], r.kept[:k-1]
	} else {
		pb = new(partBatch)
	}
	buf := p.takeBufLocked()
	// The hint has an eighth of headroom over the last batch; a kept
	// buffer that holds the last batch itself will do, or every small
	// change of batch size would drop the kept buffers for new ones.
	if cap(buf) < ts.batchHint-ts.batchHint/9 {
		buf = make([]byte, 0, ts.batchHint)
	}
	if cap(buf) < frameHeaderLen+recordbatch.HeaderLen {
		buf = make([]byte, 0, 4096)
	}
	pb.b.Reset(buf[:frameHeaderLen])
	pb.buf = pb.b.Bytes()
	r.slots = growTo(r.slots, part)
	r.slots[part] = pb
	r.parts = append(r.parts, part)
	ts.cur = growTo(ts.cur, part)
	ts.cur[part] = r
	return r
}

// growTo returns s long enough to index i.
func growTo[T any](s []*T, i int32) []*T {
	if int(i) < len(s) {
		return s
	}
	return append(s, make([]*T, int(i)+1-len(s))...)
}

// takeRequestLocked returns an empty request, reused if one is spare.
func (p *Producer) takeRequestLocked() *request {
	if k := len(p.spare); k > 0 {
		r := p.spare[k-1]
		p.spare = p.spare[:k-1]
		return r
	}
	return new(request)
}

// putRequestLocked keeps the answered request r for reuse: its batches'
// buffers go to free, its batches and callback slices (emptied, so no
// callback is kept alive) stay with it.
func (p *Producer) putRequestLocked(r *request) {
	for _, part := range r.parts {
		pb := r.slots[part]
		p.putBufLocked(pb.buf)
		pb.buf, pb.b = nil, recordbatch.Builder{}
		clear(pb.cbs)
		pb.cbs = pb.cbs[:0]
		r.slots[part] = nil
		r.kept = append(r.kept, pb)
	}
	if len(p.spare) >= maxFree {
		return
	}
	*r = request{slots: r.slots[:0], parts: r.parts[:0], kept: r.kept}
	p.spare = append(p.spare, r)
}

// maxFree bounds the buffers kept for reuse.
const maxFree = 16

// takeBufLocked returns a buffer for reuse, or nil.
func (p *Producer) takeBufLocked() []byte {
	n := len(p.free)
	if n == 0 {
		return nil
	}
	b := p.free[n-1]
	p.free = p.free[:n-1]
	return b
}

// putBufLocked keeps b for reuse.
func (p *Producer) putBufLocked(b []byte) {
	if len(p.free) < maxFree && cap(b) > 0 {
		p.free = append(p.free, b[:0])
	}
}

// askID asks the broker for a producer ID (POST /producers). A broker
// without the route (older than pipelined producing) leaves the producer
// without one: it then sends one request per partition at a time. Each
// node asked gets refreshAttempt, as a refresh does: a node that accepts
// the connection and answers nothing (stopped, hung) held the first
// Publish for as long as its context, for ever with Background.
func (p *Producer) askID(ctx context.Context) error {
	pid := int64(-1)
	if p.canPipe {
		var ans api.ProducerIDResponse
		err := p.t.do(answerWithin(ctx, refreshAttempt), http.MethodPost, "/producers", nil, &ans)
		switch {
		case err == nil:
			pid = ans.ProducerID
		case isCode(err, api.ErrNotFound) || isCode(err, api.ErrMethodNotAllowed):
		default:
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.asked {
		p.pid, p.asked = pid, true
	}
	return nil
}

// refresh asks a broker for topic's partition count and leaders.
func (p *Producer) refresh(ctx context.Context, topic string) (int32, error) {
	// Each node asked gets refreshAttempt: a hung one (the leader that
	// stopped, most likely, when leaders are asked again) held run, and
	// every partition's requests, for all of refreshTimeout, every time.
	pl, err := p.t.placement(answerWithin(ctx, refreshAttempt), topic)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := p.topics[topic]
	if ts == nil {
		ts = &topicState{}
		p.topics[topic] = ts
	}
	// An address the metadata could not give (GET /cluster unreadable)
	// but a NOT_LEADER answer did stays known while that node leads.
	for i := range min(len(pl.leaders), len(ts.leaders)) {
		if pl.leaders[i] == "" && pl.ids[i] != 0 && pl.ids[i] == ts.leaderIDs[i] {
			pl.leaders[i] = ts.leaders[i]
		}
	}
	ts.partitions, ts.leaders, ts.leaderIDs, ts.fetchedAt, ts.expired = pl.partitions, pl.leaders, pl.ids, time.Now(), false
	ts.lost = pl.lost
	if ts.partitions > 0 && ts.lostLocked(ts.sticky%ts.partitions) {
		ts.sticky = p.nextStickyLocked(ts, topic)
	}
	// Known even before any leader is (see placement), and kept: a
	// request opened while the leaders were unknown must still hold one
	// partition, or it would go whole to its first partition's leader,
	// which refuses the others for good; and a topic's brokers do not
	// stop being a cluster.
	ts.cluster = ts.cluster || pl.cluster
	ts.path = "/topics/" + esc(topic) + "/batches"
	ts.maxMessage = int(pl.maxMessage)
	return pl.partitions, nil
}

// sealLocked moves ts's open requests to the send queue.
func (p *Producer) sealLocked(ts *topicState) {
	for _, r := range ts.open {
		p.sealOneLocked(ts, r)
	}
}

// sealOneLocked moves r, one of ts's open requests, to the send queue.
func (p *Producer) sealOneLocked(ts *topicState, r *request) {
	largest := 0
	for _, part := range r.parts {
		largest = max(largest, len(r.slots[part].buf))
		if int(part) < len(ts.cur) && ts.cur[part] == r {
			ts.cur[part] = nil
		}
	}
	ts.batchHint = largest + largest/8
	p.sealed++
	r.seq = p.sealed
	p.pending[p.sealed] = struct{}{}
	p.ready = append(p.ready, r)
	delete(ts.open, r.key)
	if ts.partitions > 0 {
		ts.sticky = p.nextStickyLocked(ts, r.topic)
	}
	p.signal()
}

// nextStickyLocked is the partition the keyless records of ts go to next:
// the first after the current one that is not backed up, or simply the
// next if all are; never a lost one unless all are. Taking the next in
// turn, a producer sent a third of its keyless records, and then most of
// them as the others' requests were answered, to partitions whose leader
// had died or hung, each waiting out the failover, while other partitions
// had healthy leaders.
func (p *Producer) nextStickyLocked(ts *topicState, topic string) int32 {
	n := ts.partitions
	for i := range n {
		if part := (ts.sticky + 1 + i) % n; !ts.lostLocked(part) && !p.backedUpLocked(ts, topic, part) {
			return part
		}
	}
	for i := range n {
		if part := (ts.sticky + 1 + i) % n; !ts.lostLocked(part) {
			return part
		}
	}
	return (ts.sticky + 1) % n
}

// lostLocked reports whether partition part of ts is lost.
func (ts *topicState) lostLocked(part int32) bool {
	return int(part) < len(ts.lost) && ts.lost[part]
}

// backedUpLocked reports whether a partition of ts can take no request
// now: one of its requests failed and waits to go again, it has as many
// in flight as a partition may, or its leader has as many as a node may.
func (p *Producer) backedUpLocked(ts *topicState, topic string, part int32) bool {
	if s := p.seqs[partKey{topic, part}]; s != nil && (s.recovering > 0 || s.outstanding >= api.MaxInFlightPerPartition) {
		return true
	}
	node := ""
	if int(part) < len(ts.leaders) {
		node = ts.leaders[part]
	}
	return !p.roomLocked(node)
}

// signal wakes run without blocking.
func (p *Producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush sends everything published before it and waits for the answers.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	for _, ts := range p.topics {
		p.sealLocked(ts)
	}
	target := p.sealed
	for p.pendingUpToLocked(target) {
		if err := p.awaitProgressLocked(ctx); err != nil {
			return err
		}
	}
	p.mu.Unlock()
	return nil
}

// awaitProgressLocked waits, with p.mu released, until a request is
// answered. Called with p.mu held; it returns with p.mu held, or released
// with ctx's error.
func (p *Producer) awaitProgressLocked(ctx context.Context) error {
	wait := p.progress
	p.mu.Unlock()
	select {
	case <-wait:
		p.mu.Lock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pendingUpToLocked reports whether a request sealed as seq ≤ target is
// still unanswered.
func (p *Producer) pendingUpToLocked(target uint64) bool {
	for seq := range p.pending {
		if seq <= target {
			return true
		}
	}
	return false
}

// Close sends what is buffered, waits for the answers and stops the
// producer. Later publishes fail with ErrClosed. With the broker down,
// the records it cannot write fail (ErrUnreachable) and Close returns
// about RetryTimeout after they were published (at most RequestTimeout
// later, when the broker takes connections and answers nothing).
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	for _, ts := range p.topics {
		p.sealLocked(ts)
	}
	close(p.progress) // wake publishers blocked on a full buffer
	p.progress = make(chan struct{})
	p.signal()
	p.mu.Unlock()
	<-p.done
	p.t.hc.CloseIdleConnections()
	return nil
}
