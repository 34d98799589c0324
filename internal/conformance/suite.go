package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// scenario is one behaviour of consumer groups, checked through a Target
// that offers the Features it needs.
type scenario struct {
	name  string
	needs Feature
	run   func(t *testing.T, tg Target)
}

func scenarios() []scenario {
	return slices.Concat(deliveryScenarios(), membershipScenarios(), handoffScenarios(), offsetScenarios(), topicScenarios())
}

// Run runs every scenario as a subtest of t, each in its own synctest
// bubble on a fresh Target that newTarget makes inside the bubble (its
// cleanups, registered on the t it is given, run inside the bubble too).
// The scenarios that need a Feature in lacks are skipped, and the others
// never call the Target's methods for one.
func Run(t *testing.T, lacks Feature, newTarget func(t *testing.T) Target) {
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			if s.needs&lacks != 0 {
				t.Skipf("the target lacks %v", s.needs&lacks)
			}
			synctest.Test(t, func(t *testing.T) { s.run(t, limited{newTarget(t), lacks}) })
		})
	}
}

func createTopic(t *testing.T, tg Target, name string, partitions int32) {
	t.Helper()
	if err := tg.CreateTopic(name, partitions); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func publish(t *testing.T, tg Target, topic string, recs ...Record) []broker.Position {
	t.Helper()
	pos, err := tg.Publish(topic, recs...)
	if err != nil || len(pos) != len(recs) {
		t.Fatalf("publish %d records to %s: %v, %v", len(recs), topic, pos, err)
	}
	return pos
}

// publishN publishes n records "m<i>" to one partition.
func publishN(t *testing.T, tg Target, topic string, partition int32, n int) {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Value: []byte("m" + strconv.Itoa(i)), Partition: partition}
	}
	publish(t, tg, topic, recs...)
}

// publishSpread publishes n keyless records "m<i>", spread round-robin.
func publishSpread(t *testing.T, tg Target, topic string, n int) {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Value: []byte("m" + strconv.Itoa(i)), Partition: broker.AnyPartition}
	}
	publish(t, tg, topic, recs...)
}

func describe(t *testing.T, tg Target, group string) broker.GroupDescription {
	t.Helper()
	d, err := tg.Describe(group)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	return d
}

func offsets(t *testing.T, tg Target, group string) broker.Offsets {
	t.Helper()
	o, err := tg.Offsets(group)
	if err != nil {
		t.Fatalf("offsets of %s: %v", group, err)
	}
	return o
}

// partitionStatus is d's status of one partition.
func partitionStatus(t *testing.T, d broker.GroupDescription, topic string, p int32) broker.PartitionStatus {
	t.Helper()
	for _, s := range d.Partitions {
		if s.Topic == topic && s.Partition == p {
			return s
		}
	}
	t.Fatalf("group %s shows no %s/%d: %+v", d.ID, topic, p, d.Partitions)
	return broker.PartitionStatus{}
}

// wantCode fails t unless err is the coded error want, with want's
// retriability.
func wantCode(t *testing.T, what string, err error, want *api.Error) *api.Error {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != want.Code {
		t.Fatalf("%s: %v, want %s", what, err, want.Code)
	}
	if ae.Retriable != want.Retriable {
		t.Fatalf("%s: %s retriable %v, want %v", what, ae.Code, ae.Retriable, want.Retriable)
	}
	return ae
}

// member is one consumer driving the group protocol by hand, as a client
// would: it owns what the broker last told it, and reports it.
type member struct {
	t     *testing.T
	tg    Target
	group string
	id    string
	gen   int64
	owned broker.Assignment
	// history is every assignment the broker gave this member, in order.
	history []broker.Assignment
}

func join(t *testing.T, tg Target, group string, p broker.JoinParams) *member {
	t.Helper()
	res, err := tg.Join(group, p)
	if err != nil {
		t.Fatalf("join %s as %q: %v", group, p.MemberID, err)
	}
	return &member{t: t, tg: tg, group: group, id: res.MemberID, gen: res.Generation, owned: res.Assigned,
		history: []broker.Assignment{res.Assigned}}
}

// heartbeat reports what m owns and takes the answer: m then owns exactly
// the assigned partitions (it releases revoked ones at once, as a client
// that committed them would).
func (m *member) heartbeat() broker.HeartbeatResult {
	m.t.Helper()
	res, err := m.tg.Heartbeat(m.group, broker.HeartbeatParams{MemberID: m.id, Generation: m.gen, Owned: m.owned})
	if err != nil {
		m.t.Fatalf("heartbeat of %s: %v", m.id, err)
	}
	m.gen, m.owned = res.Generation, res.Assigned
	m.history = append(m.history, res.Assigned)
	return res
}

// consume is what m gets to process next, up to max messages. Where the
// target has Deliveries it is a poll. Without, it is what a Kafka consumer
// does: fetch each partition m owns from the group's committed offset, or
// from offset 0 where none is (the earliest: these scenarios delete no
// records). Unlike a poll it keeps no position: scenarios call it once per
// assignment.
func (m *member) consume(max int) []Message {
	m.t.Helper()
	if !lacks(m.tg, Deliveries) {
		return m.poll(max, 0)
	}
	committed := offsets(m.t, m.tg, m.group)
	var out []Message
	for _, topic := range slices.Sorted(maps.Keys(m.owned)) {
		for _, p := range m.owned[topic] {
			if len(out) == max {
				return out
			}
			got, err := m.tg.Read(topic, p, committed[topic][p], max-len(out))
			if err != nil {
				m.t.Fatalf("%s reads %s/%d: %v", m.id, topic, p, err)
			}
			out = append(out, got...)
		}
	}
	return out
}

// done is m finishing msgs: an ack, or where the target lacks Deliveries
// a commit, in m's generation, of the offset after each partition's last
// message.
func (m *member) done(msgs ...Message) {
	m.t.Helper()
	if !lacks(m.tg, Deliveries) {
		m.ack(msgs...)
		return
	}
	next := broker.Offsets{}
	for _, msg := range msgs {
		if next[msg.Topic] == nil {
			next[msg.Topic] = map[int32]int64{}
		}
		next[msg.Topic][msg.Partition] = max(next[msg.Topic][msg.Partition], msg.Offset+1)
	}
	if err := m.tg.Commit(m.group, broker.CommitParams{MemberID: m.id, Generation: m.gen, Offsets: next}); err != nil {
		m.t.Fatalf("commit of %v by %s: %v", refs(msgs), m.id, err)
	}
}

func (m *member) poll(max int, wait time.Duration) []Message {
	m.t.Helper()
	got, err := m.tg.Poll(context.Background(), m.group, broker.PollParams{MemberID: m.id, Generation: m.gen, MaxMessages: max, Wait: wait})
	if err != nil {
		m.t.Fatalf("poll of %s: %v", m.id, err)
	}
	return got
}

// settle names msgs as m's.
func (m *member) settle(msgs ...Message) broker.Settle {
	s := broker.Settle{MemberID: m.id, Generation: m.gen}
	for _, msg := range msgs {
		s.Messages = append(s.Messages, msg.Ref())
	}
	return s
}

func (m *member) ack(msgs ...Message) {
	m.t.Helper()
	if res, err := m.tg.Ack(m.group, m.settle(msgs...)); err != nil || res.Succeeded != len(msgs) {
		m.t.Fatalf("ack of %v by %s: %+v, %v", refs(msgs), m.id, res, err)
	}
}

// nack nacks msgs with p (its Settle filled from m) and expects success.
func (m *member) nack(p broker.NackParams, msgs ...Message) {
	m.t.Helper()
	p.Settle = m.settle(msgs...)
	if res, err := m.tg.Nack(m.group, p); err != nil || res.Succeeded != len(msgs) {
		m.t.Fatalf("nack of %v by %s: %+v, %v", refs(msgs), m.id, res, err)
	}
}

func (m *member) leave() {
	m.t.Helper()
	if err := m.tg.Leave(m.group, m.id); err != nil {
		m.t.Fatalf("leave of %s: %v", m.id, err)
	}
}

// converge heartbeats every member in turn until the group is stable and a
// full round changes nobody's assignment; it fails after 20 rounds.
// Rounds are 100 ms apart on the bubble's clock, far inside any session
// timeout.
func converge(t *testing.T, ms ...*member) {
	t.Helper()
	var d broker.GroupDescription
	for range 20 {
		changed := false
		for _, m := range ms {
			before := m.owned
			m.heartbeat()
			changed = changed || !sameAssignment(before, m.owned)
		}
		if d = describe(t, ms[0].tg, ms[0].group); !changed && d.State == api.GroupStateStable {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s did not converge: %+v", ms[0].group, d)
}

func sameAssignment(a, b broker.Assignment) bool {
	return maps.EqualFunc(nonEmpty(a), nonEmpty(b), slices.Equal[[]int32])
}

func nonEmpty(a broker.Assignment) broker.Assignment {
	out := broker.Assignment{}
	for t, ps := range a {
		if len(ps) > 0 {
			out[t] = ps
		}
	}
	return out
}

// layout renders who owns what of topic "orders".
func layout(ms ...*member) string {
	var s string
	for _, m := range ms {
		s += fmt.Sprintf("%s:%v ", m.id, nonEmpty(m.owned)["orders"])
	}
	return s
}

// refs returns "topic/partition/offset" of msgs, sorted.
func refs(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)
	}
	slices.Sort(out)
	return out
}

func offsetsOf(msgs []Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}
