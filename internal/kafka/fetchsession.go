package kafka

import (
	"math"
	"math/rand/v2"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227, Fetch v7+): a consumer names its partitions
// once, in the request that opens a session; each later request carries
// only the partitions whose fetch position changed and those it stops
// fetching, and each answer only the partitions with something new —
// records, an error, a moved high watermark or log start. A consumer of
// many partitions then sends and reads little per fetch when few of them
// move. A session lives on the connection that opened it (at most
// maxSessionsPerConn there, the least recently used dropped first) and
// ends with it: a client that comes back on another connection is told
// FETCH_SESSION_ID_NOT_FOUND and opens a new one, as after a Kafka
// broker's cache evicted it.

// maxSessionsPerConn bounds the sessions one connection keeps: a client
// keeps one per broker connection; more are opened only by a client that
// never uses them (each fetch asking for a new one).
const maxSessionsPerConn = 4

// Sessions hold a few hundred bytes a partition. maxSessionPartitions
// bounds one session, maxServerSessionPartitions all of them over every
// connection (about 50 MiB, as Kafka bounds its session cache): a request
// opening a session past either is answered without one (the client
// fetches naming every partition), one growing a session past either ends
// it (FETCH_SESSION_ID_NOT_FOUND: the client opens a new one).
const (
	maxSessionPartitions       = 50_000
	maxServerSessionPartitions = 250_000
)

// Session epochs of a request (KIP-227): initialEpoch opens a session (a
// full request), finalEpoch fetches without one (closing the one named).
const (
	initialEpoch int32 = 0
	finalEpoch   int32 = -1
)

// fetchSession is one session: its partitions, in the order a response
// reads them, and what the client was last told of each.
type fetchSession struct {
	id    int32
	epoch int32  // the epoch its next request must carry
	used  uint64 // the connection's fetch count when last used
	byID  bool   // its topics are named by ID (opened at v13+)
	parts []*sessionPart
	byKey map[sessionKey]*sessionPart
}

// sessionKey names a partition as requests do: by topic name before v13,
// by topic ID from v13 on.
type sessionKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

type sessionPart struct {
	key sessionKey
	// req is the partition's fetch as last requested: offset, epochs,
	// bytes. An incremental request repeats it only when it changes.
	req kmsg.FetchRequestTopicPartition
	// told: the client was answered about the partition since it joined
	// the session (or last had an error), last with these bounds.
	told          bool
	hwm, logStart int64
}

// openSession resolves the session fields of req (v7+): the request that
// lists every partition the answer covers (req itself without a session),
// the session the answer is for (nil: none) and whether the answer is
// incremental, or a top-level error code.
func (c *conn) openSession(req *kmsg.FetchRequest) (full *kmsg.FetchRequest, sess *fetchSession, incremental bool, code int16) {
	if req.Version < 7 {
		return req, nil, false, 0
	}
	c.fetches++
	byID := req.Version >= 13
	switch req.SessionEpoch {
	case finalEpoch:
		c.dropSession(req.SessionID)
		return req, nil, false, 0
	case initialEpoch:
		c.dropSession(req.SessionID)
		sess = &fetchSession{epoch: 1, used: c.fetches, byID: byID, byKey: make(map[sessionKey]*sessionPart)}
		sess.update(req)
		if !c.keep(sess) {
			return req, nil, false, 0
		}
		return sess.request(req), sess, false, 0
	}
	sess = c.sessions[req.SessionID]
	switch {
	case sess == nil:
		return nil, nil, false, kerr.FetchSessionIDNotFound.Code
	case req.SessionEpoch != sess.epoch:
		return nil, nil, false, kerr.InvalidFetchSessionEpoch.Code // the session stays, as in Kafka
	case byID != sess.byID:
		c.dropSession(sess.id)
		return nil, nil, false, kerr.FetchSessionTopicIDError.Code
	}
	sess.used = c.fetches
	sess.epoch = nextEpoch(sess.epoch)
	before := len(sess.parts)
	sess.update(req)
	n := c.s.sessionParts.Add(int64(len(sess.parts) - before))
	switch {
	case len(sess.parts) == 0:
		// Every partition forgotten: it ends, answered without a session.
		c.dropSession(sess.id)
		return sess.request(req), nil, false, 0
	case len(sess.parts) > maxSessionPartitions || n > maxServerSessionPartitions:
		c.dropSession(sess.id)
		return nil, nil, false, kerr.FetchSessionIDNotFound.Code
	}
	return sess.request(req), sess, true, 0
}

// keep gives s an ID and keeps it on c, dropping c's least recently used
// session when c has maxSessionsPerConn; false, keeping nothing, if s is
// past the bounds on partitions.
func (c *conn) keep(s *fetchSession) bool {
	n := int64(len(s.parts))
	if n > maxSessionPartitions {
		return false
	}
	if c.s.sessionParts.Add(n) > maxServerSessionPartitions {
		c.s.sessionParts.Add(-n)
		return false
	}
	if len(c.sessions) >= maxSessionsPerConn {
		var oldest *fetchSession
		for _, o := range c.sessions {
			if oldest == nil || o.used < oldest.used {
				oldest = o
			}
		}
		c.dropSession(oldest.id)
	}
	if c.sessions == nil {
		c.sessions = make(map[int32]*fetchSession)
	}
	s.id = rand.Int32N(math.MaxInt32) + 1 // never 0, which is no session
	for c.sessions[s.id] != nil {
		s.id = rand.Int32N(math.MaxInt32) + 1
	}
	c.sessions[s.id] = s
	return true
}

// dropSession ends session id of c, if c has it.
func (c *conn) dropSession(id int32) {
	if s := c.sessions[id]; s != nil {
		delete(c.sessions, id)
		c.s.sessionParts.Add(-int64(len(s.parts)))
	}
}

// dropSessions ends every session of c, as it closes.
func (c *conn) dropSessions() {
	for id := range c.sessions {
		c.dropSession(id)
	}
}

// nextEpoch follows epoch; after the largest comes 1 (0 opens a session).
func nextEpoch(epoch int32) int32 {
	if epoch == math.MaxInt32 {
		return 1
	}
	return epoch + 1
}

// update takes req's partitions into the session (new ones at the end) and
// drops its forgotten ones.
func (s *fetchSession) update(req *kmsg.FetchRequest) {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := sessionKey{topic: rt.Topic, topicID: rt.TopicID, partition: rp.Partition}
			p := s.byKey[k]
			if p == nil {
				p = &sessionPart{key: k}
				s.byKey[k] = p
				s.parts = append(s.parts, p)
			}
			// Its unknown tags would keep the request's frame alive.
			p.req, p.req.UnknownTags = rp, kmsg.Tags{}
		}
	}
	if len(req.ForgottenTopics) == 0 {
		return
	}
	for _, ft := range req.ForgottenTopics {
		for _, part := range ft.Partitions {
			delete(s.byKey, sessionKey{topic: ft.Topic, topicID: ft.TopicID, partition: part})
		}
	}
	kept := s.parts[:0]
	for _, p := range s.parts {
		if s.byKey[p.key] == p {
			kept = append(kept, p)
		}
	}
	clear(s.parts[len(kept):])
	s.parts = kept
}

// request is req with every partition of the session in place of the ones
// it names, in the session's order (a topic is listed again wherever
// another's partitions come between).
func (s *fetchSession) request(req *kmsg.FetchRequest) *kmsg.FetchRequest {
	full := *req
	full.Topics, full.ForgottenTopics = nil, nil
	for _, p := range s.parts {
		if n := len(full.Topics); n == 0 || full.Topics[n-1].Topic != p.key.topic || full.Topics[n-1].TopicID != p.key.topicID {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = p.key.topic, p.key.topicID
			full.Topics = append(full.Topics, rt)
		}
		rt := &full.Topics[len(full.Topics)-1]
		rt.Partitions = append(rt.Partitions, p.req)
	}
	return &full
}

// answered records what resp, the answer to the session's request, tells
// the client, and leaves out of an incremental answer the partitions with
// nothing new (no records, no error, the bounds it was last told). The
// partitions that returned records go to the end of the session's order,
// so that an answer filled by the first ones does not starve the others
// next time.
func (s *fetchSession) answered(resp *kmsg.FetchResponse, incremental bool) {
	resp.SessionID = s.id
	var served []*sessionPart
	var back map[*sessionPart]bool // served, as a set
	topics := resp.Topics[:0]
	for _, rt := range resp.Topics {
		parts := rt.Partitions[:0]
		for _, rp := range rt.Partitions {
			p := s.byKey[sessionKey{topic: rt.Topic, topicID: rt.TopicID, partition: rp.Partition}]
			if p == nil { // not the session's: cannot happen, answer it
				parts = append(parts, rp)
				continue
			}
			news := len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 || !p.told || rp.HighWatermark != p.hwm || rp.LogStartOffset != p.logStart
			// After an error the partition is news again, whatever its
			// bounds, so its client learns the error is gone.
			p.told, p.hwm, p.logStart = rp.ErrorCode == 0, rp.HighWatermark, rp.LogStartOffset
			if len(rp.RecordBatches) > 0 && !back[p] {
				if back == nil {
					back = make(map[*sessionPart]bool)
				}
				back[p] = true
				served = append(served, p)
			}
			if news || !incremental {
				parts = append(parts, rp)
			}
		}
		if rt.Partitions = parts; len(parts) > 0 {
			topics = append(topics, rt)
		}
	}
	resp.Topics = topics
	if len(served) == 0 {
		return
	}
	order := make([]*sessionPart, 0, len(s.parts))
	for _, p := range s.parts {
		if !back[p] {
			order = append(order, p)
		}
	}
	s.parts = append(order, served...)
}
