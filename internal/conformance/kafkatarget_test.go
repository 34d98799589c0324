package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/conformance"
	"github.com/abd-ulbasit/goqueue/internal/kafka"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// kafkaLacks is what Kafka's protocol cannot say of the suite's Target:
//   - Deliveries: Kafka consumers fetch from a position they keep and
//     commit offsets; nothing delivers a message to one member, counts its
//     deliveries, or acks, nacks or extends it (that would be KIP-932's
//     share groups, which the front end does not speak).
//   - Assignors: KIP-848 assignment is always incremental, by a server-side
//     assignor the front end maps to cooperative-sticky; no eager range,
//     roundrobin or sticky.
//   - Resets: resetting offsets is a tool's client-side computation
//     (ListOffsets, then OffsetCommit), not a request the broker answers
//     with its own semantics (dry runs, shifts, a group's changes).
//   - SessionTimeouts: a KIP-848 member does not name its session timeout;
//     it is the broker's (Kafka's group.consumer.session.timeout.ms).
//   - RebalanceStats: ConsumerGroupDescribe says no rebalance history.
const kafkaLacks = conformance.Deliveries | conformance.Assignors | conformance.Resets |
	conformance.SessionTimeouts | conformance.RebalanceStats

// Over Kafka's wire protocol, a KIP-848 consumer group behaves as on the
// broker itself: each of the suite's calls is the request a Kafka client or
// tool would send (ConsumerGroupHeartbeat, OffsetCommit, Fetch, Produce,
// ...), framed by kmsg and served by internal/kafka over net.Pipe inside the
// suite's bubble.
func TestKafka(t *testing.T) {
	conformance.Run(t, kafkaLacks, func(t *testing.T) conformance.Target { return newKafkaTarget(t) })
}

// newKafkaTarget starts a broker, a Kafka server over it and a client
// connection, all stopped by t's cleanup. Call it inside a bubble.
func newKafkaTarget(t *testing.T) *kafkaTarget {
	k := &kafkaTarget{t: t, core: conformance.StartCore(t), epochs: map[string]int64{}, static: map[string]string{}}
	k.start()
	t.Cleanup(k.stop)
	return k
}

// kafkaTarget drives the Kafka front end as one client connection does.
// Besides the connection, it keeps only what a Kafka client keeps: topic
// IDs, and each member's last epoch and instance ID.
type kafkaTarget struct {
	t    *testing.T
	core *conformance.Core
	srv  *kafka.Server
	cl   *kclient
	halt func() error // stops srv's Serve

	ids    map[[16]byte]string // topic ID → name, from Metadata
	epochs map[string]int64    // member ID → the epoch last answered to it
	static map[string]string   // member ID → instance ID, of static members
	next   map[string]int32    // topic → next partition of a keyless record
	minted int                 // member IDs this client named
}

func (k *kafkaTarget) start() {
	k.t.Helper()
	k.srv = kafka.New(k.core.Broker(), kafka.Options{Logger: slog.New(slog.DiscardHandler), IdleTimeout: 24 * time.Hour})
	var ln *pipeListener
	ln, k.halt = serve(k.srv)
	cl, err := dialKafka(ln)
	if err != nil {
		k.t.Fatalf("kafka: connect: %v", err)
	}
	k.cl, k.ids = cl, map[[16]byte]string{}
}

func (k *kafkaTarget) stop() {
	k.t.Helper()
	if k.cl == nil {
		return
	}
	k.cl.Close()
	if err := k.halt(); err != nil {
		k.t.Errorf("kafka: serve: %v", err)
	}
	k.cl = nil
}

// Restart stops the Kafka server, restarts the broker under it on the same
// data and connects again, as a client reconnects to a restarted broker.
func (k *kafkaTarget) Restart() {
	k.t.Helper()
	k.stop()
	k.core.Restart()
	k.start()
}

func (k *kafkaTarget) CreateTopic(name string, partitions int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, -1
	req.Topics = append(req.Topics, rt)
	resp, err := k.cl.do(req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if err := codeError(t.ErrorCode, t.ErrorMessage); err != nil {
			return err
		}
	}
	return nil
}

func (k *kafkaTarget) AddPartitions(topic string, count int32) error {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	req.Topics = append(req.Topics, rt)
	resp, err := k.cl.do(req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.CreatePartitionsResponse).Topics {
		if err := codeError(t.ErrorCode, t.ErrorMessage); err != nil {
			return err
		}
	}
	return nil
}

func (k *kafkaTarget) DeleteTopic(name string) error {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 5000
	req.TopicNames = []string{name} // v0-v5
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = &name // v6+
	req.Topics = append(req.Topics, rt)
	resp, err := k.cl.do(req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.DeleteTopicsResponse).Topics {
		if err := codeError(t.ErrorCode, t.ErrorMessage); err != nil {
			return err
		}
	}
	return nil
}

// metadata asks for topics (nil: all) and learns their IDs.
func (k *kafkaTarget) metadata(topics ...string) ([]kmsg.MetadataResponseTopic, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := k.cl.do(req)
	if err != nil {
		return nil, err
	}
	out := resp.(*kmsg.MetadataResponse).Topics
	for _, t := range out {
		if t.ErrorCode != 0 {
			return nil, codeError(t.ErrorCode, nil)
		}
		k.ids[t.TopicID] = *t.Topic
	}
	return out, nil
}

// partitions is the partition count of topic.
func (k *kafkaTarget) partitions(topic string) (int32, error) {
	md, err := k.metadata(topic)
	if err != nil {
		return 0, err
	}
	return int32(len(md[0].Partitions)), nil
}

// topicID is the ID of topic, from Metadata.
func (k *kafkaTarget) topicID(topic string) ([16]byte, error) {
	for id, name := range k.ids {
		if name == topic {
			return id, nil
		}
	}
	md, err := k.metadata(topic)
	if err != nil {
		return [16]byte{}, err
	}
	return md[0].TopicID, nil
}

// topicName is the name of the topic with ID id, from Metadata.
func (k *kafkaTarget) topicName(id [16]byte) (string, error) {
	if name, ok := k.ids[id]; ok {
		return name, nil
	}
	if _, err := k.metadata(); err != nil {
		return "", err
	}
	if name, ok := k.ids[id]; ok {
		return name, nil
	}
	return "", fmt.Errorf("kafka: no topic has ID %x", id)
}

// Publish produces one RecordBatch per partition with acks=all. Records
// for any partition are partitioned as Kafka's default partitioner does:
// keyed by murmur2, keyless round-robin (here, per call sequence).
func (k *kafkaTarget) Publish(topic string, recs ...conformance.Record) ([]broker.Position, error) {
	parts := make([]int32, len(recs))
	byPart := map[int32][]int{} // partition → indexes of recs, in order
	var n int32
	for i, r := range recs {
		p := r.Partition
		if p == broker.AnyPartition {
			if n == 0 {
				var err error
				if n, err = k.partitions(topic); err != nil {
					return nil, err
				}
			}
			if r.Key != nil {
				p = api.KeyPartition(r.Key, n)
			} else {
				if k.next == nil {
					k.next = map[string]int32{}
				}
				p = k.next[topic] % n
				k.next[topic]++
			}
		}
		parts[i] = p
		byPart[p] = append(byPart[p], i)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		batch, err := recordBatch(recs, byPart[p])
		if err != nil {
			return nil, err
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := k.cl.do(req)
	if err != nil {
		return nil, err
	}
	base := map[int32]int64{}
	for _, t := range resp.(*kmsg.ProduceResponse).Topics {
		for _, p := range t.Partitions {
			if err := codeError(p.ErrorCode, p.ErrorMessage); err != nil {
				return nil, err
			}
			base[p.Partition] = p.BaseOffset
		}
	}
	out := make([]broker.Position, len(recs))
	for p, idx := range byPart {
		for j, i := range idx {
			out[i] = broker.Position{Partition: p, Offset: base[p] + int64(j)}
		}
	}
	return out, nil
}

// recordBatch encodes recs[idx...] as one uncompressed batch, timestamped
// by the producer (a zero Timestamp is now, the client's clock).
func recordBatch(recs []conformance.Record, idx []int) ([]byte, error) {
	h := recordbatch.NewHeader(0)
	rs := make([]recordbatch.Record, len(idx))
	for j, i := range idx {
		r := recs[i]
		ts := r.Timestamp
		if ts.IsZero() {
			ts = time.Now()
		}
		ms := ts.UnixMilli()
		if j == 0 {
			h.FirstTimestamp, h.MaxTimestamp = ms, ms
		}
		h.MaxTimestamp = max(h.MaxTimestamp, ms)
		rs[j] = recordbatch.Record{TimestampDelta: ms - h.FirstTimestamp, Key: r.Key, Value: r.Value}
		if rs[j].Value == nil {
			rs[j].Value = []byte{}
		}
		for _, key := range slices.Sorted(maps.Keys(r.Headers)) {
			rs[j].Headers = append(rs[j].Headers, recordbatch.RecordHeader{Key: key, Value: []byte(r.Headers[key])})
		}
	}
	return recordbatch.Build(nil, h, recordbatch.None, rs)
}

// Read fetches one partition from offset without waiting, as a consumer
// that assigned itself the partition does, and decodes the batches.
func (k *kafkaTarget) Read(topic string, partition int32, offset int64, max int) ([]conformance.Message, error) {
	id, err := k.topicID(topic)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, 0, 0, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = partition, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := k.cl.do(req)
	if err != nil {
		return nil, err
	}
	fr := resp.(*kmsg.FetchResponse)
	if err := codeError(fr.ErrorCode, nil); err != nil {
		return nil, err
	}
	var out []conformance.Message
	for _, t := range fr.Topics {
		for _, p := range t.Partitions {
			if err := codeError(p.ErrorCode, nil); err != nil {
				return nil, err
			}
			msgs, err := decodeBatches(topic, partition, p.RecordBatches)
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				if m.Offset >= offset && len(out) < max {
					out = append(out, m)
				}
			}
		}
	}
	return out, nil
}

// decodeBatches decodes the data records of a fetch answer's batches; a
// partial batch at the end (cut by max bytes) is ignored, as clients do.
func decodeBatches(topic string, partition int32, b []byte) ([]conformance.Message, error) {
	var out []conformance.Message
	for len(b) > 0 {
		n, ok := recordbatch.Len(b)
		if !ok || n > len(b) {
			break
		}
		batch := b[:n]
		b = b[n:]
		h, err := recordbatch.CheckFrame(batch)
		if err != nil {
			return nil, err
		}
		if h.Control() {
			continue
		}
		it, err := recordbatch.NewIter(batch, 1<<20)
		if err != nil {
			return nil, err
		}
		var v recordbatch.View
		for it.Next(&v) {
			m := conformance.Message{Topic: topic, Partition: partition, Offset: h.BaseOffset + int64(v.OffsetDelta),
				Key: slices.Clone(v.Key), Value: slices.Clone(v.Value), Timestamp: time.UnixMilli(h.FirstTimestamp + v.TimestampDelta)}
			if h.LogAppendTime() {
				m.Timestamp = time.UnixMilli(h.MaxTimestamp)
			}
			hs := v.Headers()
			for key, val, ok := hs.Next(); ok; key, val, ok = hs.Next() {
				if m.Headers == nil {
					m.Headers = map[string]string{}
				}
				m.Headers[string(key)] = string(val)
			}
			out = append(out, m)
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// heartbeat sends one ConsumerGroupHeartbeat and reads its answer.
func (k *kafkaTarget) heartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	resp, err := k.cl.do(req)
	if err != nil {
		return nil, err
	}
	hr := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
	return hr, codeError(hr.ErrorCode, hr.ErrorMessage)
}

// assignment is a heartbeat answer's assignment by topic name.
func (k *kafkaTarget) assignment(a *kmsg.ConsumerGroupHeartbeatResponseAssignment) (broker.Assignment, error) {
	out := broker.Assignment{}
	if a == nil {
		return out, nil
	}
	for _, t := range a.Topics {
		name, err := k.topicName(t.TopicID)
		if err != nil {
			return nil, err
		}
		out[name] = slices.Sorted(slices.Values(t.Partitions))
	}
	return out, nil
}

// Join is a ConsumerGroupHeartbeat at epoch 0. What KIP-848 cannot say is
// refused here rather than dropped: the suite never asks for it of a target
// that lacks it (kafkaLacks).
func (k *kafkaTarget) Join(group string, p broker.JoinParams) (broker.JoinResult, error) {
	switch {
	case p.Assignor != "", p.SessionTimeout != 0, p.OffsetReset != "", p.MaxRetries != 0, p.VisibilityTimeout != 0, p.MaxInFlight != 0:
		return broker.JoinResult{}, fmt.Errorf("kafka: a KIP-848 join cannot say %+v", p)
	}
	if p.MemberID == "" {
		// From v1 on a client names itself (a UUID; any unique ID will do).
		k.minted++
		p.MemberID = fmt.Sprintf("kafka-member-%d", k.minted)
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = group, p.MemberID, 0, p.Topics
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{} // a join owns nothing yet
	// A join must name its rebalance timeout; a Kafka consumer's is its
	// max.poll.interval.ms, by default 5 minutes.
	req.RebalanceTimeoutMillis = 300_000
	if p.RebalanceTimeout > 0 {
		req.RebalanceTimeoutMillis = int32(p.RebalanceTimeout.Milliseconds())
	}
	if p.InstanceID != "" {
		req.InstanceID = kmsg.StringPtr(p.InstanceID)
	}
	hr, err := k.heartbeat(req)
	if err != nil {
		return broker.JoinResult{}, err
	}
	assigned, err := k.assignment(hr.Assignment)
	if err != nil {
		return broker.JoinResult{}, err
	}
	id := *hr.MemberID
	k.epochs[id] = int64(hr.MemberEpoch)
	if p.InstanceID != "" {
		k.static[id] = p.InstanceID
	}
	return broker.JoinResult{MemberID: id, Generation: int64(hr.MemberEpoch), Assigned: assigned,
		HeartbeatInterval: time.Duration(hr.HeartbeatIntervalMillis) * time.Millisecond, Assignor: api.AssignorCooperativeSticky}, nil
}

// Heartbeat reports the member's owned partitions by topic ID. KIP-848
// says no revocation: what the member owns and is not assigned any more is
// what it must release.
func (k *kafkaTarget) Heartbeat(group string, p broker.HeartbeatParams) (broker.HeartbeatResult, error) {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, p.MemberID, int32(p.Generation), -1
	if p.Owned != nil {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, name := range slices.Sorted(maps.Keys(p.Owned)) {
			id, err := k.topicID(name)
			if err != nil {
				continue // deleted: nothing to own
			}
			rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			rt.TopicID, rt.Partitions = id, p.Owned[name]
			req.Topics = append(req.Topics, rt)
		}
	}
	hr, err := k.heartbeat(req)
	if err != nil {
		return broker.HeartbeatResult{}, err
	}
	assigned, err := k.assignment(hr.Assignment)
	if err != nil {
		return broker.HeartbeatResult{}, err
	}
	k.epochs[p.MemberID] = int64(hr.MemberEpoch)
	revoked := broker.Assignment{}
	for t, ps := range p.Owned {
		for _, q := range ps {
			if !slices.Contains(assigned[t], q) {
				revoked[t] = append(revoked[t], q)
			}
		}
	}
	return broker.HeartbeatResult{Generation: int64(hr.MemberEpoch), Assigned: assigned, Revoked: revoked,
		HeartbeatInterval: time.Duration(hr.HeartbeatIntervalMillis) * time.Millisecond}, nil
}

// Leave is a heartbeat at epoch -1, or -2 for a static member (KIP-848's
// temporary leave: it keeps its place until its session timeout).
func (k *kafkaTarget) Leave(group, memberID string) error {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, memberID, -1, -1
	if iid, ok := k.static[memberID]; ok {
		req.MemberEpoch, req.InstanceID = -2, kmsg.StringPtr(iid)
	}
	_, err := k.heartbeat(req)
	return err
}

var errNoDeliveries = errors.New("kafka: no per-message delivery (the suite skips what needs it)")

func (k *kafkaTarget) Poll(context.Context, string, broker.PollParams) ([]conformance.Message, error) {
	return nil, errNoDeliveries
}

func (k *kafkaTarget) Ack(string, broker.Settle) (broker.SettleResult, error) {
	return broker.SettleResult{}, errNoDeliveries
}

func (k *kafkaTarget) Nack(string, broker.NackParams) (broker.SettleResult, error) {
	return broker.SettleResult{}, errNoDeliveries
}

func (k *kafkaTarget) Extend(string, broker.ExtendParams) (broker.SettleResult, error) {
	return broker.SettleResult{}, errNoDeliveries
}

func (k *kafkaTarget) Reset(string, broker.ResetParams) (broker.ResetResult, error) {
	return broker.ResetResult{}, errors.New("kafka: no offset reset request (the suite skips what needs it)")
}

// Commit is an OffsetCommit in the member's epoch. OffsetCommit answers
// carry no message, and the front end says both a stale epoch and a
// partition the member does not own as STALE_MEMBER_EPOCH (Kafka has no
// code for the second); a client tells them apart as a Kafka consumer
// can, by its own epoch: committed in the epoch it was last answered, the
// partition is not its own.
func (k *kafkaTarget) Commit(group string, p broker.CommitParams) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation, req.RetentionTimeMillis = group, p.MemberID, int32(p.Generation), -1
	for _, topic := range slices.Sorted(maps.Keys(p.Offsets)) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for _, part := range slices.Sorted(maps.Keys(p.Offsets[topic])) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = part, p.Offsets[topic][part], -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := k.cl.do(req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.OffsetCommitResponse).Topics {
		for _, part := range t.Partitions {
			if part.ErrorCode == kerr.StaleMemberEpoch.Code {
				if epoch, ok := k.epochs[p.MemberID]; ok && p.Generation < epoch {
					return api.ErrStaleGeneration.Withf("commit in epoch %d, the member's is %d", p.Generation, epoch)
				}
				return api.ErrNotOwner.Withf("%s/%d is not %s's", t.Topic, part.Partition, p.MemberID)
			}
			if err := codeError(part.ErrorCode, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Offsets is an OffsetFetch of every committed offset. Kafka answers a
// group it does not know with no offsets, not an error.
func (k *kafkaTarget) Offsets(group string) (broker.Offsets, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group // Topics nil: all of them
	resp, err := k.cl.do(req)
	if err != nil {
		return nil, err
	}
	or := resp.(*kmsg.OffsetFetchResponse)
	if err := codeError(or.ErrorCode, nil); err != nil {
		return nil, err
	}
	out := broker.Offsets{}
	for _, t := range or.Topics {
		for _, p := range t.Partitions {
			if err := codeError(p.ErrorCode, nil); err != nil {
				return nil, err
			}
			if p.Offset < 0 {
				continue
			}
			if out[t.Topic] == nil {
				out[t.Topic] = map[int32]int64{}
			}
			out[t.Topic][p.Partition] = p.Offset
		}
	}
	return out, nil
}

func (k *kafkaTarget) DeleteGroup(group string) error {
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{group}
	resp, err := k.cl.do(req)
	if err != nil {
		return err
	}
	for _, g := range resp.(*kmsg.DeleteGroupsResponse).Groups {
		if err := codeError(g.ErrorCode, nil); err != nil {
			return err
		}
	}
	return nil
}

// kafkaStates are KIP-848's group states, as the table spells them.
var kafkaStates = map[string]string{"Empty": api.GroupStateEmpty, "Reconciling": api.GroupStateReconciling,
	"Stable": api.GroupStateStable, "Dead": api.GroupStateDead}

// Describe is a ConsumerGroupDescribe for the group and its members, and,
// as kafka-consumer-groups --describe does, an OffsetFetch and ListOffsets
// for each partition of the topics subscribed or committed: committed
// offset, high watermark, lag and owner. Kafka says no rebalance history
// (RebalanceStats), no time lag and nothing in flight.
func (k *kafkaTarget) Describe(group string) (broker.GroupDescription, error) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := k.cl.do(req)
	if err != nil {
		return broker.GroupDescription{}, err
	}
	g := resp.(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
	if err := codeError(g.ErrorCode, g.ErrorMessage); err != nil {
		return broker.GroupDescription{}, err
	}
	state, ok := kafkaStates[g.State]
	if !ok {
		return broker.GroupDescription{}, fmt.Errorf("kafka: group state %q", g.State)
	}
	d := broker.GroupDescription{ID: g.Group, State: state, Generation: int64(g.Epoch), Assignor: g.AssignorName}
	owner := map[string]map[int32]string{}
	topics := map[string]bool{}
	for _, m := range g.Members {
		md := broker.MemberDescription{MemberID: m.MemberID, Generation: int64(m.MemberEpoch), Assigned: broker.Assignment{},
			Idle: len(m.TargetAssignment.TopicPartitions) == 0}
		if m.InstanceID != nil {
			md.InstanceID = *m.InstanceID
		}
		for _, tp := range m.Assignment.TopicPartitions {
			md.Assigned[tp.Topic] = tp.Partitions
			if owner[tp.Topic] == nil {
				owner[tp.Topic] = map[int32]string{}
			}
			for _, p := range tp.Partitions {
				owner[tp.Topic][p] = m.MemberID
			}
		}
		for _, t := range m.SubscribedTopics {
			topics[t] = true
		}
		d.Members = append(d.Members, md)
	}
	committed, err := k.Offsets(group)
	if err != nil {
		return broker.GroupDescription{}, err
	}
	for t := range committed {
		topics[t] = true
	}
	for _, t := range slices.Sorted(maps.Keys(topics)) {
		earliest, hw, err := k.listOffsets(t)
		if errors.Is(err, api.ErrTopicNotFound) {
			continue // deleted
		}
		if err != nil {
			return broker.GroupDescription{}, err
		}
		for p := range int32(len(hw)) {
			c, ok := committed[t][p]
			lag := hw[p] - earliest[p]
			if !ok {
				c = -1
			} else {
				lag = hw[p] - c
			}
			d.Partitions = append(d.Partitions, broker.PartitionStatus{Topic: t, Partition: p, Owner: owner[t][p],
				Committed: c, HighWatermark: hw[p], Lag: lag})
			d.Lag += lag
		}
	}
	return d, nil
}

// listOffsets is the earliest offset and the high watermark of every
// partition of topic.
func (k *kafkaTarget) listOffsets(topic string) (earliest, latest []int64, err error) {
	n, err := k.partitions(topic)
	if err != nil {
		return nil, nil, err
	}
	at := func(ts int64) ([]int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := range n {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := k.cl.do(req)
		if err != nil {
			return nil, err
		}
		out := make([]int64, n)
		for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if err := codeError(p.ErrorCode, nil); err != nil {
					return nil, err
				}
				out[p.Partition] = p.Offset
			}
		}
		return out, nil
	}
	if earliest, err = at(-2); err != nil {
		return nil, nil, err
	}
	latest, err = at(-1)
	return earliest, latest, err
}

// The Kafka target's Publish and Read say what the broker stores: a
// record produced over Kafka reads back from the broker with its key,
// value, headers and timestamp, and one the broker stored reads back over
// Kafka the same, so the suite's answers over Kafka are the front end's.
func TestKafkaTargetRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKafkaTarget(t)
		if err := k.CreateTopic("orders", 2); err != nil {
			t.Fatal(err)
		}
		sent := conformance.Record{Key: []byte("k"), Value: []byte("v"), Headers: map[string]string{"a": "1", "b": ""},
			Partition: broker.AnyPartition, Timestamp: time.UnixMilli(1234)}
		pos, err := k.Publish("orders", sent)
		if err != nil || len(pos) != 1 || pos[0] != (broker.Position{Partition: api.KeyPartition([]byte("k"), 2), Offset: 0}) {
			t.Fatalf("publish: %v, %v", pos, err)
		}
		stored := broker.Message{Value: []byte("w"), Partition: pos[0].Partition, Timestamp: 5678,
			Headers: []commitlog.Header{{Key: "c", Value: []byte("3")}}}
		if _, err := k.core.Broker().Publish("orders", []broker.Message{stored}); err != nil {
			t.Fatal(err)
		}
		fetched, err := k.core.Broker().Fetch(context.Background(), "orders", broker.FetchRequest{Partition: pos[0].Partition, MaxMessages: 10, MaxBytes: 1 << 20})
		if err != nil || len(fetched.Records) != 2 {
			t.Fatalf("broker fetch: %+v, %v", fetched, err)
		}
		if r := fetched.Records[0]; string(r.Key) != "k" || string(r.Value) != "v" || r.Timestamp != 1234 || len(r.Headers) != 2 {
			t.Fatalf("the broker stored %+v", r)
		}
		got, err := k.Read("orders", pos[0].Partition, 0, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("read: %+v, %v", got, err)
		}
		want := []conformance.Message{
			{Topic: "orders", Partition: pos[0].Partition, Offset: 0, Key: []byte("k"), Value: []byte("v"), Headers: sent.Headers, Timestamp: time.UnixMilli(1234)},
			{Topic: "orders", Partition: pos[0].Partition, Offset: 1, Value: []byte("w"), Headers: map[string]string{"c": "3"}, Timestamp: time.UnixMilli(5678)},
		}
		for i := range want {
			if fmt.Sprintf("%+v", got[i]) != fmt.Sprintf("%+v", want[i]) {
				t.Fatalf("read %+v\nwant %+v", got[i], want[i])
			}
		}
		if got, err := k.Read("orders", pos[0].Partition, 1, 10); err != nil || len(got) != 1 || got[0].Offset != 1 {
			t.Fatalf("read from offset 1: %+v, %v", got, err)
		}
		_, err = k.Read("nosuch", 0, 0, 10)
		if !errors.Is(err, api.ErrTopicNotFound) {
			t.Fatalf("read of an unknown topic: %v", err)
		}
	})
}
