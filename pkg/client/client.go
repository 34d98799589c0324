package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Client administers a broker: topics, fetches, groups, offsets and dead
// letters. In a cluster, fetches and publishes follow NOT_LEADER to the
// partition's leader, and a topic's partition offsets are the leaders'. It
// holds no state but its connections and the leaders it learned; Close
// releases the connections. It is safe for concurrent use.
type Client struct {
	t *transport
	// fetchFrom caches, per partKey, the base URL of the node that last
	// answered a fetch of it after following NOT_LEADER: later fetches go
	// there directly.
	fetchFrom sync.Map
}

// Config configures a Client made with NewWithConfig.
type Config struct {
	Brokers    []string     // each "host:port" or a base URL ("https://host:8443")
	APIKey     string       // sent as X-API-Key when the broker requires keys
	HTTPClient *http.Client // e.g. with a TLS config that trusts the broker; default: a client of its own, which gives a connection and a TLS handshake 10 s each
}

// New returns a Client for brokers, each "host:port" or a base URL. Requests
// go to the first that answers.
func New(brokers ...string) (*Client, error) {
	return NewWithConfig(&Config{Brokers: brokers})
}

// NewWithConfig returns a Client as cfg says.
func NewWithConfig(cfg *Config) (*Client, error) {
	if cfg == nil {
		return nil, ErrNoBrokers
	}
	t, err := newTransport(cfg.Brokers, cfg.HTTPClient, cfg.APIKey)
	if err != nil {
		return nil, err
	}
	t.life = newLifetime()
	return &Client{t: t}, nil
}

// Close ends the client's calls in progress (they return ErrClosed) and
// closes its connections; later calls return ErrClosed, a second Close
// nil. Without Close, each connection the client opened stays open, with
// two goroutines, until the broker or IdleConnTimeout (90 s) closes it.
// With Config.HTTPClient, it closes that client's idle connections, as a
// Producer's and a Consumer's Close do.
func (c *Client) Close() error {
	c.t.close()
	return nil
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

// segment is name, a topic's (kind api.ErrInvalidTopicName) or a
// group's (api.ErrInvalidGroupID), escaped as one segment of a request's
// path. "", "." and ".." make no segment: the path names no route
// ("NOT_FOUND: no route", which no sentinel of a topic or group matches),
// so they are refused here, with the code the broker gives them in a body.
func segment(kind *api.Error, what, name string) (string, error) {
	switch name {
	case "":
		return "", kind.Withf("%s is empty", what)
	case ".", "..":
		return "", kind.Withf("%s %q is reserved", what, name)
	}
	return esc(name), nil
}

// topicPath is "/topics/{name}", or why name cannot be one.
func topicPath(name string) (string, error) {
	seg, err := segment(api.ErrInvalidTopicName, "topic name", name)
	return "/topics/" + seg, err
}

// groupPath is "/groups/{id}", or why id cannot be one.
func groupPath(id string) (string, error) {
	seg, err := segment(api.ErrInvalidGroupID, "group ID", id)
	return "/groups/" + seg, err
}

// CreateTopic creates a topic; TOPIC_ALREADY_EXISTS if it exists.
func (c *Client) CreateTopic(ctx context.Context, req api.CreateTopicRequest) (*api.Topic, error) {
	var t api.Topic
	return &t, c.t.do(c.topicWrite(ctx), http.MethodPost, "/topics", req, &t)
}

// topicWrite bounds each attempt of a change of a topic (create, delete,
// alter, add partitions, a DLQ's purge) to three times a read's bound: a cluster node
// answers one within 10 s (it goes through the metadata's leader;
// UNAVAILABLE after), so one that leaves it unanswered longer is stopped
// or hung, and the change goes to the next broker. `goqueue topic create
// --broker n1,n2,n3` waited for a SIGSTOPped n1 for as long as it stayed
// so. A create whose unanswered attempt was applied is then answered
// TOPIC_ALREADY_EXISTS by the next broker.
func (c *Client) topicWrite(ctx context.Context) context.Context {
	return answerWithin(ctx, 3*c.t.readWithin)
}

// Topics lists every topic.
func (c *Client) Topics(ctx context.Context) ([]api.Topic, error) {
	var l api.TopicList
	if err := c.t.do(ctx, http.MethodGet, "/topics", nil, &l); err != nil {
		return nil, err
	}
	c.t.leadersView(ctx, l.Topics, "")
	return l.Topics, nil
}

// Topic describes one topic, with its partitions' offsets.
func (c *Client) Topic(ctx context.Context, name string) (*api.Topic, error) {
	var t api.Topic
	path, err := topicPath(name)
	if err != nil {
		return &t, err
	}
	if err := c.t.do(ctx, http.MethodGet, path, nil, &t); err != nil {
		return &t, err
	}
	l := []api.Topic{t}
	c.t.leadersView(ctx, l, name)
	return &l[0], nil
}

// DeleteTopic deletes a topic and its messages.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	path, err := topicPath(name)
	if err != nil {
		return err
	}
	return c.t.do(c.topicWrite(ctx), http.MethodDelete, path, nil, nil)
}

// AddPartitions grows topic to count partitions.
func (c *Client) AddPartitions(ctx context.Context, topic string, count int32) (*api.Topic, error) {
	var t api.Topic
	path, err := topicPath(topic)
	if err != nil {
		return &t, err
	}
	return &t, c.t.do(c.topicWrite(ctx), http.MethodPost, path+"/partitions", api.AddPartitionsRequest{Count: count}, &t)
}

// Publish publishes msgs through the JSON endpoint, as one all-or-nothing
// batch. The Producer is the fast path; this is for a few messages. In a
// cluster it follows NOT_LEADER to the leader it names; messages for
// partitions of different leaders cannot be one publish (NOT_LEADER): use
// the Producer, which splits them by leader. It is not idempotent: a
// publish whose connection broke, or that a broker left unanswered for
// 20 s, is sent again (to the next broker, or the partition's new
// leader), and may so be stored twice; one that fails so says it may
// have been stored.
func (c *Client) Publish(ctx context.Context, topic string, msgs ...api.PublishMessage) (*api.PublishResponse, error) {
	path, err := topicPath(topic)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(api.PublishRequest{Messages: msgs})
	if err != nil {
		return nil, fmt.Errorf("client: encode publish: %w", err)
	}
	var r api.PublishResponse
	_, err = c.t.follow(answerWithin(ctx, c.t.publishWithin()), "", http.MethodPost, path+"/messages", "application/json", body, &r)
	return &r, err
}

// FetchOptions choose where a fetch starts and how long it waits.
type FetchOptions struct {
	Offset    int64 // used unless Timestamp is set
	Timestamp int64 // ms since the Unix epoch: start at the first message at or after it
	Max       int   // most messages; 0: the broker's default
	WaitMS    int64 // long-poll for up to this long when nothing is there
}

// Fetch reads one partition without a group. The answer's Messages are
// converted; NextOffset is where to continue.
func (c *Client) Fetch(ctx context.Context, topic string, partition int32, o FetchOptions) ([]*Message, *api.FetchResponse, error) {
	tpath, err := topicPath(topic)
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{}
	if o.Timestamp != 0 {
		q.Set("timestamp", strconv.FormatInt(o.Timestamp, 10))
	} else {
		q.Set("offset", strconv.FormatInt(o.Offset, 10))
	}
	if o.Max > 0 {
		q.Set("max", strconv.Itoa(o.Max))
	}
	if o.WaitMS > 0 {
		q.Set("wait_ms", strconv.FormatInt(o.WaitMS, 10))
	}
	var r api.FetchResponse
	path := tpath + "/partitions/" + strconv.Itoa(int(partition)) + "/messages?" + q.Encode()
	key := partKey{topic, partition}
	base := ""
	if v, ok := c.fetchFrom.Load(key); ok {
		base = v.(string)
	}
	// A hung leader's answer is waited for no longer than any read's, plus
	// the wait asked for.
	actx := answerWithin(ctx, c.t.readWithin+time.Duration(o.WaitMS)*time.Millisecond)
	served, err := c.t.follow(actx, base, http.MethodGet, path, "", nil, &r)
	switch {
	case err == nil && served != base:
		c.fetchFrom.Store(key, served)
	case err != nil && base != "" && (errors.Is(err, ErrUnreachable) || errors.Is(err, api.ErrNotLeader)):
		c.fetchFrom.Delete(key) // the leader moved or is down: ask any broker next time
	}
	if err != nil {
		return nil, nil, err
	}
	msgs := make([]*Message, len(r.Messages))
	for i := range r.Messages {
		msgs[i] = fromWire(&r.Messages[i])
	}
	return msgs, &r, nil
}

// Groups lists every consumer group; in a cluster, those of every node
// that answers (each node lists the groups it coordinates).
func (c *Client) Groups(ctx context.Context) ([]api.GroupDescription, error) {
	return c.t.allGroups(ctx)
}

// Group describes one group: members, per-partition progress and lag,
// rebalances.
func (c *Client) Group(ctx context.Context, id string) (*api.GroupDescription, error) {
	var g api.GroupDescription
	path, err := groupPath(id)
	if err != nil {
		return &g, err
	}
	return &g, c.t.do(ctx, http.MethodGet, path, nil, &g)
}

// GroupOffsets returns a group's committed offsets.
func (c *Client) GroupOffsets(ctx context.Context, id string) (api.Offsets, error) {
	var r api.OffsetsResponse
	path, err := groupPath(id)
	if err != nil {
		return nil, err
	}
	err = c.t.do(ctx, http.MethodGet, path+"/offsets", nil, &r)
	return r.Offsets, err
}

// ResetOffsets moves, copies or deletes a group's committed offsets, or
// with req.DryRun previews it; a reset that changes offsets needs a group
// with no members (GROUP_NOT_EMPTY otherwise).
func (c *Client) ResetOffsets(ctx context.Context, id string, req api.ResetOffsetsRequest) (*api.ResetOffsetsResponse, error) {
	var r api.ResetOffsetsResponse
	path, err := groupPath(id)
	if err != nil {
		return &r, err
	}
	return &r, c.t.do(c.groupWrite(ctx), http.MethodPost, path+"/offsets/reset", req, &r)
}

// groupWrite bounds each attempt of an operator's write of a group (a
// reset, a delete) to twice a read's bound: its coordinator answers
// within 5 s (UNAVAILABLE after, the write kept to be retried), so one
// that leaves it unanswered longer is stopped or hung, and the write
// waits out the group's failover (chase) instead: `goqueue group
// reset-offsets` and `group delete` hung for as long as a paused
// coordinator stayed paused, though another node had taken the group
// over within seconds.
func (c *Client) groupWrite(ctx context.Context) context.Context {
	return answerWithin(ctx, 2*c.t.readWithin)
}

// DeleteGroup deletes a group with no members and its offsets.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	path, err := groupPath(id)
	if err != nil {
		return err
	}
	return c.t.do(c.groupWrite(ctx), http.MethodDelete, path, nil, nil)
}

// ReplayDLQ publishes dead letters of <topic>.dlq again: by default to the
// group that dead-lettered each (see api.DLQReplayRequest).
func (c *Client) ReplayDLQ(ctx context.Context, topic string, req api.DLQReplayRequest) (*api.DLQReplayResponse, error) {
	var r api.DLQReplayResponse
	path, err := topicPath(topic)
	if err != nil {
		return &r, err
	}
	return &r, c.t.do(answerWithin(ctx, c.replayWithin(req.Max)), http.MethodPost, path+"/dlq/replay", req, &r)
}

// replayWithin bounds each attempt of a DLQ replay of up to n messages
// (0: the broker's 1000): a publish's bound, and replayPerMessage more for
// each message, as a replay writes them one DLQ offset at a time (each a
// write of its own: a Raft round in a cluster, an fsync under fsync
// always). `goqueue dlq replay` waited for a broker stopped with its
// connections whole for as long as it stayed so. Cut, the replay goes to
// the next broker, which skips what the broker records as replayed (the
// whole replay on a single broker, where the second waits for the first;
// up to its last claim's renewal, a second ago, in a cluster, which
// answers REPLAY_IN_PROGRESS until the claim lapses): at least once, as
// a replay is.
func (c *Client) replayWithin(n int) time.Duration {
	if n <= 0 {
		n = defaultReplayMax
	}
	return c.t.publishWithin() + time.Duration(n)*replayPerMessage
}

const (
	// defaultReplayMax is the broker's bound on a replay's messages when
	// the request sets none.
	defaultReplayMax = 1000
	// replayPerMessage is how long a replay may take per message on top
	// of a publish's bound: 20 s more for the default 1000.
	replayPerMessage = 20 * time.Millisecond
)

// AlterTopic changes a topic's settings after its creation; those named
// in req.Default go back to the broker's default.
func (c *Client) AlterTopic(ctx context.Context, name string, req api.AlterTopicRequest) (*api.Topic, error) {
	var t api.Topic
	path, err := topicPath(name)
	if err != nil {
		return &t, err
	}
	return &t, c.t.do(c.topicWrite(ctx), http.MethodPatch, path, req, &t)
}

// PurgeDLQ deletes every dead letter of <topic>.dlq. Each attempt is
// bounded as a topic's change is (topicWrite); a purge that a node left
// unanswered and applied is answered TOPIC_NOT_FOUND by the next, and the
// error then says an earlier attempt may have applied it.
func (c *Client) PurgeDLQ(ctx context.Context, topic string) error {
	path, err := topicPath(topic)
	if err != nil {
		return err
	}
	return c.t.do(c.topicWrite(ctx), http.MethodDelete, path+"/dlq", nil, nil)
}

// Version asks the broker for its version.
func (c *Client) Version(ctx context.Context) (*api.VersionInfo, error) {
	var v api.VersionInfo
	return &v, c.t.do(ctx, http.MethodGet, "/version", nil, &v)
}
