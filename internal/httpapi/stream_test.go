package httpapi_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// streamClient is the client end of a consumer stream, driven by hand.
type streamClient struct {
	t    *testing.T
	conn net.Conn
	r    *api.StreamReader
	w    *api.StreamWriter
}

// dialStream sends the upgrade with key (none if "") and returns the
// answer's status and, on 101, the stream.
func dialStream(t *testing.T, s *brokertest.Server, key string) (int, *streamClient) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+api.StreamPath, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", api.StreamProtocol)
	if key != "" {
		secret, _, _ := strings.Cut(key, ":")
		req.Header.Set("X-API-Key", secret)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return resp.StatusCode, nil
	}
	sc := &streamClient{t: t, conn: conn, r: api.NewStreamReader(br, 1<<20), w: api.NewStreamWriter(conn)}
	t.Cleanup(func() { conn.Close() })
	return resp.StatusCode, sc
}

func (c *streamClient) send(typ api.StreamType, id uint32, payload []byte) {
	c.t.Helper()
	if err := c.w.Write(typ, id, payload); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame, failing after 10 s.
func (c *streamClient) next() api.StreamFrame {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := c.r.Read()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *streamClient) subscribe(id uint32, m *member) {
	c.send(api.StreamSubscribe, id, (&api.StreamSubscription{Group: m.group, MemberID: m.id, Generation: m.gen}).Append(nil))
}

// sync sends a PING and returns the frames that came before its PONG.
func (c *streamClient) sync(id uint32) []api.StreamFrame {
	c.t.Helper()
	c.send(api.StreamPing, id, nil)
	var out []api.StreamFrame
	for {
		f := c.next()
		if f.Type == api.StreamPong && f.ID == id {
			return out
		}
		out = append(out, f)
	}
}

// delivered decodes a DELIVER frame's messages.
func (c *streamClient) delivered(f api.StreamFrame) []binMessage {
	c.t.Helper()
	if f.Type != api.StreamDeliver {
		c.t.Fatalf("frame %v %d %s, want DELIVER", f.Type, f.ID, f.Payload)
	}
	msgs, err := decodePollStored(f.Payload)
	if err != nil {
		c.t.Fatal(err)
	}
	return msgs
}

// subscribedToTen starts a broker with ten messages in orders/0 and a
// member of billing subscribed to them on a stream (subscription 1), with
// no credit yet.
func subscribedToTen(t *testing.T) (*brokertest.Server, *streamClient) {
	t.Helper()
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 10)
	m := join(t, s, "billing", api.JoinRequest{Topics: []string{"orders"}})
	_, sc := dialStream(t, s, "")
	sc.subscribe(1, m)
	return s, sc
}

func wantStreamError(t *testing.T, f api.StreamFrame, typ api.StreamType, want *api.Error) {
	t.Helper()
	if f.Type != typ {
		t.Fatalf("frame %v %s, want %v", f.Type, f.Payload, typ)
	}
	e, err := api.ParseStreamError(f.Payload)
	if err != nil || !errors.Is(e, want) {
		t.Fatalf("%v frame says %v (%v), want %s", typ, e, err, want.Code)
	}
}

// The upgrade is authenticated as any request; a subscription is
// authorized as a poll of its group and member is; a request without the
// upgrade headers is refused.
func TestStreamRefusals(t *testing.T) {
	keys := []string{matrixKeys["full"], matrixKeys["member"], matrixKeys["other"]}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = keys }))
	createTopicWithKey(t, s, "orders")
	if status, _ := dialStream(t, s, ""); status != http.StatusUnauthorized {
		t.Fatalf("upgrade without a key: %d, want 401", status)
	}
	status, raw := sendWithKey(t, s, matrixKeys["full"], "GET", api.StreamPath, "")
	wantError(t, status, raw, api.ErrBadRequest)

	status, raw = sendWithKey(t, s, matrixKeys["full"], "POST", "/groups/billing/join", `{"topics":["orders"]}`)
	if status != http.StatusOK {
		t.Fatalf("join: %d %s", status, raw)
	}
	var j api.JoinResponse
	mustUnmarshal(t, raw, &j)
	m := &member{group: "billing", id: j.MemberID, gen: j.Generation}

	_, other := dialStream(t, s, matrixKeys["other"])
	other.subscribe(1, m)
	wantStreamError(t, other.next(), api.StreamError, api.ErrForbidden)

	_, sc := dialStream(t, s, matrixKeys["member"])
	sc.subscribe(1, &member{group: "billing", id: "nobody", gen: 1})
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 10)) // the poll, not the SUBSCRIBE, finds no such member
	wantStreamError(t, sc.next(), api.StreamError, api.ErrUnknownMember)
	sc.subscribe(2, m)
	sc.send(api.StreamCredit, 2, api.AppendStreamCredit(nil, 10))
	if got := sc.sync(3); len(got) != 0 {
		t.Fatalf("an allowed subscription answered %v", got[0].Type)
	}
	sc.send(api.StreamDeliver, 9, nil)
	wantStreamError(t, sc.next(), api.StreamError, api.ErrBadRequest)
	if _, err := sc.r.Read(); err == nil {
		t.Fatal("the stream stayed open after a frame a client does not send")
	}
}

// Deliveries never exceed the credit granted; acks over the stream settle
// as POST /ack does, and only refusals are answered.
func TestStreamCreditAndAcks(t *testing.T) {
	s, sc := subscribedToTen(t)
	if got := sc.sync(2); len(got) != 0 {
		t.Fatalf("delivered %v before any credit", got[0].Type)
	}
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 3))
	first := sc.delivered(sc.next())
	if len(first) != 3 || first[0].offset != 0 || first[2].offset != 2 {
		t.Fatalf("first delivery %+v, want offsets 0-2", first)
	}
	if got := sc.sync(3); len(got) != 0 {
		t.Fatalf("delivered %v past the credit", got[0].Type)
	}
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 100))
	var rest []binMessage
	for len(rest) < 7 {
		rest = append(rest, sc.delivered(sc.next())...)
	}
	if len(rest) != 7 || rest[0].offset != 3 {
		t.Fatalf("then %d messages from %d, want 7 from 3", len(rest), rest[0].offset)
	}

	ack := api.StreamSettle{Sub: 1, Ranges: []api.OffsetRange{{Topic: "orders", Partition: 0, From: 0, To: 10}}}
	sc.send(api.StreamAck, 4, ack.Append(nil))
	if got := sc.sync(5); len(got) != 0 {
		t.Fatalf("an ack of what was in flight answered %v %s", got[0].Type, got[0].Payload)
	}
	var offs api.OffsetsResponse
	if status := s.DoJSON("GET", "/groups/billing/offsets", nil, &offs); status != http.StatusOK || offs.Offsets["orders"][0] != 10 {
		t.Fatalf("committed after the stream's ack: %d %+v, want orders/0 at 10", status, offs)
	}
	sc.send(api.StreamAck, 6, ack.Append(nil)) // settled already
	got := sc.sync(7)
	if len(got) != 1 || got[0].ID != 6 {
		t.Fatalf("a second ack of the same messages answered %d frames, want one SETTLED for 6", len(got))
	}
	wantStreamError(t, got[0], api.StreamSettled, api.ErrNotInFlight)

	nack := api.StreamSettle{Sub: 1, Ranges: []api.OffsetRange{{Topic: "orders", From: 0, To: 1}}, Release: true, DelayMS: 5}
	sc.send(api.StreamNack, 8, nack.Append(nil))
	got = sc.sync(9)
	if len(got) != 1 {
		t.Fatalf("a nack with release and a delay answered %d frames, want SETTLED", len(got))
	}
	wantStreamError(t, got[0], api.StreamSettled, api.ErrInvalidArgument)
}

// A rebalance that changes a subscribed member's assignment is told at
// once (ASSIGN), not at the member's next poll; after its heartbeat the
// member subscribes again with its generation and is delivered to.
func TestStreamAssignOnRebalance(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	a := join(t, s, "billing", api.JoinRequest{Topics: []string{"orders"}})
	_, sc := dialStream(t, s, "")
	sc.subscribe(1, a)
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 100))
	if got := sc.sync(2); len(got) != 0 {
		t.Fatalf("an idle subscription answered %v", got[0].Type)
	}
	join(t, s, "billing", api.JoinRequest{Topics: []string{"orders"}})
	if f := sc.next(); f.Type != api.StreamAssign || f.ID != 1 {
		t.Fatalf("after a second member joined: %v %d, want ASSIGN 1", f.Type, f.ID)
	}
	a.heartbeat()
	sc.subscribe(1, a)
	publishSpread(t, s, "orders", 4)
	var got []binMessage
	for len(got) < 2 {
		f := sc.next()
		if f.Type == api.StreamAssign {
			continue // the revocation's second step
		}
		got = append(got, sc.delivered(f)...)
	}
	for _, m := range got {
		if !slices.Contains(a.owned["orders"], m.partition) {
			t.Fatalf("delivered partition %d, which %v does not hold", m.partition, a.owned)
		}
	}
}

// Closing a stream is not leaving: the member stays in its group, and the
// stream's goroutines stop (TestMain checks for leaks). Shutdown ends the
// streams still open, and waits for them.
func TestStreamCloseAndShutdown(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	m := join(t, s, "billing", api.JoinRequest{Topics: []string{"orders"}})
	_, sc := dialStream(t, s, "")
	sc.subscribe(1, m)
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 10))
	sc.sync(2) // the subscription's poll now waits
	sc.conn.Close()
	if d := describeGroup(t, s, "billing"); len(d.Members) != 1 || d.Members[0].MemberID != m.id {
		t.Fatalf("after the stream closed the group has %+v, want member %s", d.Members, m.id)
	}

	_, sc = dialStream(t, s, "")
	sc.subscribe(1, m)
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 10))
	sc.sync(2)
	s.Stop() // returns once the stream's goroutines did
	sc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := sc.r.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("read after shutdown: %v, want EOF", err)
	}
}

// A subscription whose poll fails ends with the HTTP poll's error; the
// member subscribes again under the same id (after a heartbeat, with its
// generation) and is delivered to on the credit it granted before.
func TestStreamSubscribesAgainAfterAnError(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 5)
	m := join(t, s, "billing", api.JoinRequest{Topics: []string{"orders"}})
	_, sc := dialStream(t, s, "")
	stale := *m
	stale.gen = m.gen + 5 // a generation the group never had
	sc.subscribe(1, &stale)
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 10))
	f := sc.next()
	if f.Type != api.StreamError || f.ID != 1 {
		t.Fatalf("a poll of generation %d answered %v %d %s, want ERROR 1", stale.gen, f.Type, f.ID, f.Payload)
	}
	e, err := api.ParseStreamError(f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	status, raw := s.Do("POST", "/groups/billing/poll", api.PollRequest{MemberID: m.id, Generation: stale.gen})
	wantError(t, status, raw, e) // the code the HTTP poll answers
	sc.subscribe(1, m)
	got := sc.delivered(sc.next())
	if len(got) != 5 {
		t.Fatalf("after subscribing again: %d messages, want the 5 the earlier credit covers", len(got))
	}
}

// produce sends a PRODUCE frame of batches to partition 0 of topic.
func (c *streamClient) produce(id uint32, topic string, batches ...[]byte) {
	c.t.Helper()
	c.produceTo(id, topic, 0, batches...)
}

// produceTo sends a PRODUCE frame of batches to partition p of topic.
func (c *streamClient) produceTo(id uint32, topic string, p int32, batches ...[]byte) {
	c.t.Helper()
	payload := api.AppendStreamProduceHead(nil, topic)
	for _, b := range batches {
		payload = api.AppendFrame(payload, p, b)
	}
	c.send(api.StreamProduce, id, payload)
}

// PRODUCE frames sent back to back are written and answered in the order
// sent, each as POST /topics/{t}/batches would answer it: a refused one
// (authorization, an unknown topic, a batch the broker does not take, a
// malformed body) is answered with an ERROR of its id, writes nothing, and
// the stream goes on.
func TestStreamProduce(t *testing.T) {
	keys := []string{matrixKeys["full"], matrixKeys["produce"]}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = keys }))
	createTopicWithKey(t, s, "orders")
	createTopicWithKey(t, s, "payments")
	_, sc := dialStream(t, s, matrixKeys["produce"])
	one := func(v string) []byte { return encodeBatch(0, []testRecord{{value: []byte(v), ts: 1}}) }
	two := encodeBatch(0, []testRecord{{value: []byte("a"), ts: 1}, {value: []byte("b"), ts: 2}})

	sc.produce(1, "orders", one("x"))
	sc.produce(2, "payments", one("y"))                                                        // the key may not
	sc.produce(3, "orders", two, one("z"))                                                     // two frames: two results
	sc.produce(4, "orders-none", one("y"))                                                     // no such topic
	sc.produce(5, "orders", encodeBatch(0x10, []testRecord{{value: []byte("t"), ts: 1}}))      // transactional
	sc.send(api.StreamProduce, 6, append(api.AppendStreamProduceHead(nil, "orders"), 0, 0, 0)) // a cut frame
	sc.produce(7, "orders", one("w"))

	want := []struct {
		id      uint32
		offsets []api.PublishResult
		err     *api.Error
	}{
		{1, []api.PublishResult{{Partition: 0, Offset: 0}}, nil},
		{2, nil, api.ErrForbidden},
		{3, []api.PublishResult{{Partition: 0, Offset: 1}, {Partition: 0, Offset: 3}}, nil},
		{4, nil, api.ErrTopicNotFound},
		{5, nil, api.ErrInvalidArgument},
		{6, nil, api.ErrBadRequest},
		{7, []api.PublishResult{{Partition: 0, Offset: 4}}, nil},
	}
	for _, w := range want {
		f := sc.next()
		if f.ID != w.id {
			t.Fatalf("answer %v to frame %d, want an answer to %d", f.Type, f.ID, w.id)
		}
		if w.err != nil {
			wantStreamError(t, f, api.StreamError, w.err)
			continue
		}
		if f.Type != api.StreamProduced {
			t.Fatalf("frame %d answered %v %s, want PRODUCED", f.ID, f.Type, f.Payload)
		}
		got, err := api.ParseStreamProduced(nil, f.Payload)
		if err != nil || !slices.Equal(got, w.offsets) {
			t.Fatalf("frame %d produced %v (%v), want %v", f.ID, got, err, w.offsets)
		}
	}
	for topic, want := range map[string]int64{"orders": 5, "payments": 0} {
		status, raw := sendWithKey(t, s, matrixKeys["full"], "GET", "/topics/"+topic, "")
		var tp api.Topic
		if status != http.StatusOK {
			t.Fatalf("describe %s: %d %s", topic, status, raw)
		}
		mustUnmarshal(t, raw, &tp)
		if n := tp.PartitionInfo[0].HighWatermark; n != want {
			t.Fatalf("%s holds %d messages, want %d", topic, n, want)
		}
	}
}

// A PRODUCE frame whose body passes --max-body-bytes is refused as POST
// /topics/{t}/batches refuses it, BODY_TOO_LARGE, and the stream goes on;
// a frame past what such a body's frame can be refuses the stream itself
// (an ERROR of id 0) and ends it.
func TestStreamProduceTooLarge(t *testing.T) {
	const limit = 4096
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxBodyBytes = limit }))
	createTopic(t, s, "orders", 1)
	_, sc := dialStream(t, s, "")
	batch := func(n int) []byte { return encodeBatch(0, []testRecord{{value: make([]byte, n), ts: 1}}) }

	sc.produce(1, "orders", batch(limit)) // a body a little over the limit, in a frame the stream reads
	f := sc.next()
	if f.ID != 1 {
		t.Fatalf("a body over the limit answered with id %d, want 1", f.ID)
	}
	wantStreamError(t, f, api.StreamError, api.ErrBodyTooLarge)
	sc.produce(2, "orders", batch(10))
	if f := sc.next(); f.Type != api.StreamProduced || f.ID != 2 {
		t.Fatalf("after a refused frame: %v %d %s, want PRODUCED 2", f.Type, f.ID, f.Payload)
	}
	sc.produce(3, "orders", batch(2*limit))
	f = sc.next()
	if f.ID != 0 {
		t.Fatalf("a frame past the stream's bound answered with id %d, want 0", f.ID)
	}
	wantStreamError(t, f, api.StreamError, api.ErrBodyTooLarge)
	if _, err := sc.r.Read(); err == nil {
		t.Fatal("the stream stayed open after a frame past its bound")
	}
}

// Each DELIVER's answer is released once written, so its read buffers
// serve the next polls: of the 67 buffers 200 deliveries of 16 MB read
// into, 4–6 are made and the rest reused (16–32 made under -race, where
// sync.Pool drops a quarter of what it is given). Never released (as
// before), every one was made.
func TestStreamReleasesItsAnswers(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	const batches, perBatch = 200, 20
	value := strings.Repeat("v", 4000)
	for range batches {
		msgs := make([]map[string]any, perBatch)
		for i := range msgs {
			msgs[i] = map[string]any{"value": value}
		}
		publish(t, s, "orders", map[string]any{"messages": msgs})
	}
	m := join(t, s, "billing", api.JoinRequest{Topics: []string{"orders"}, MaxInFlight: batches * perBatch})
	_, sc := dialStream(t, s, "")
	// Deliveries of about one batch each: each poll reads its own.
	sc.send(api.StreamSubscribe, 1, (&api.StreamSubscription{Group: m.group, MemberID: m.id, Generation: m.gen, MaxBytes: 96 << 10}).Append(nil))
	got0, made0 := s.Broker().PollBuffers()
	for got := 0; got < batches*perBatch; {
		sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, perBatch))
		got += len(sc.delivered(sc.next()))
	}
	got, made := s.Broker().PollBuffers()
	got, made = got-got0, made-made0
	if got < 20 || made*4 > got*3 {
		t.Fatalf("%d of %d read buffers made for %d deliveries; want most reused", made, got, batches)
	}
	t.Logf("%d of %d read buffers made for %d deliveries", made, got, batches)
}

// TestStreamCreditZeroFencesThePollInProgress: after a CREDIT of 0 and
// its PONG, no DELIVER of messages handed out before it comes: the
// subscription was handing five out as the CREDIT came, and hands them back
// instead of writing them; granted credit again, the member gets them
// again. A member releasing a partition takes its credit back and waits
// for a PONG before the release: a delivery handed out before the release
// and written after that PONG reached it as if handed out under its next
// ownership of the partition, though the release took those messages back
// (their acks came too late, and they were delivered twice in one
// ownership): before, the five came after the PONG.
func TestStreamCreditZeroFencesThePollInProgress(t *testing.T) {
	handed, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	restore := httpapi.HoldDeliverWrites(func() {
		once.Do(func() {
			handed <- struct{}{}
			<-release
		})
	})
	defer restore()
	_, sc := subscribedToTen(t)
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 5))
	<-handed // five messages handed out, their DELIVER not written yet

	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 0))
	if got := sc.sync(2); len(got) != 0 {
		t.Fatalf("%v %d came before the PONG of a CREDIT of 0", got[0].Type, got[0].ID)
	}
	close(release)
	if got := sc.sync(3); len(got) != 0 {
		t.Fatalf("%v %d came after the PONG of a CREDIT of 0, with no credit granted since", got[0].Type, got[0].ID)
	}
	sc.send(api.StreamCredit, 1, api.AppendStreamCredit(nil, 5))
	again := sc.delivered(sc.next())
	if len(again) != 5 || again[0].offset != 0 {
		t.Fatalf("granted credit again, delivered %+v, want the five handed back, from offset 0", again)
	}
}
