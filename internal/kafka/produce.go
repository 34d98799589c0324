package kafka

import (
	"context"
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// produce appends each partition's batches as sent. Every acks value waits
// for the topic's fsync policy, which is what "written" means on GoQueue
// (acks 1 and -1 are the same on one broker); acks 0 gets no answer at all,
// and closes the connection if it failed (errUnansweredFailure).
func (s *Server) produce(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ProduceRequest)
	resp, wait := s.startProduce(req)
	if wait != nil {
		wait()
	}
	if req.Acks == 0 {
		if produceFailed(resp) {
			return nil, errUnansweredFailure
		}
		return nil, nil
	}
	return resp, nil
}

// errUnansweredFailure closes the connection of a produce with acks 0
// that failed, as Kafka closes it: the client gets no answer, and a closed
// connection is how it learns that something went wrong and refreshes its
// metadata. Kept open, a producer whose partition's leader had moved kept
// sending to the old one, which dropped every batch, until its periodic
// metadata refresh (5 minutes in librdkafka).
var errUnansweredFailure = errors.New("kafka: a produce with acks 0 failed")

// produceFailed reports whether any partition of resp has an error.
func produceFailed(resp *kmsg.ProduceResponse) bool {
	for _, st := range resp.Topics {
		for _, sp := range st.Partitions {
			if sp.ErrorCode != 0 {
				return true
			}
		}
	}
	return false
}

// startProduce writes each partition's batches, in the order sent, and
// returns the answer and wait, which completes it: it returns once the
// batches are as durable as their topics promise, and marks those that
// could not be made so. A connection reads and writes its next requests
// before it waits (see conn.answer), so their batches share one fsync;
// wait must be called, also when no answer is sent (acks 0), and before
// the answer is read. wait is nil when there is nothing to wait for
// (fsync=interval or never; a replicated topic): the answer is final.
func (s *Server) startProduce(req *kmsg.ProduceRequest) (*kmsg.ProduceResponse, func()) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.SetVersion(req.Version)
	if req.TransactionID != nil {
		// Transactions are not offered (InitProducerID refuses them).
		refuseProduce(req, resp, kerr.TransactionalIDAuthorizationFailed.Code)
		return resp, nil
	}
	if req.Acks < -1 || req.Acks > 1 {
		// Kafka takes -1, 0 and 1 only, and answers any other value
		// without writing anything: the client is wrong about what it
		// asks for, and taking it would promise something undefined.
		refuseProduce(req, resp, kerr.InvalidRequiredAcks.Code)
		return resp, nil
	}
	var waits []durableWait
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		if _, replicated := s.clusterPlacement(rt.Topic); replicated && len(rt.Partitions) > 1 && distinctPartitions(rt.Partitions) {
			s.writeSideBySide(rt, st)
			continue
		}
		for j := range rt.Partitions {
			if w := s.producePartition(rt.Topic, &rt.Partitions[j], &st.Partitions[j]); w.durable != nil {
				waits = append(waits, w)
			}
		}
	}
	if len(waits) == 0 {
		return resp, nil
	}
	return resp, func() { awaitDurable(waits) }
}

// refuseProduce answers every partition of req with code, as Kafka answers
// a produce it does not write at all.
func refuseProduce(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code int16) {
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.BaseOffset, sp.ErrorCode = rp.Partition, -1, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}

// writeSideBySide writes the partitions of rt, a replicated topic, side by
// side: each append waits for its Raft commit within WriteBatch (and has
// no wait after), so a request to n partitions takes about one commit,
// not n. (A topic named twice in one request is served entry after entry,
// in order.)
func (s *Server) writeSideBySide(rt kmsg.ProduceRequestTopic, st *kmsg.ProduceResponseTopic) {
	var wg sync.WaitGroup
	for j := range rt.Partitions {
		wg.Go(func() { s.producePartition(rt.Topic, &rt.Partitions[j], &st.Partitions[j]) })
	}
	wg.Wait()
}

// durableWait is one partition's wait for the batches it wrote, and its
// answer to mark if the wait fails.
type durableWait struct {
	durable func() error
	sp      *kmsg.ProduceResponseTopicPartition
}

// awaitDurable runs waits side by side: each is an fsync of a partition of
// its own (fsync=always), so a request to n partitions takes about one
// fsync, not n.
func awaitDurable(waits []durableWait) {
	var wg sync.WaitGroup
	for i := range waits {
		w := &waits[i]
		wait := func() {
			if err := w.durable(); err != nil {
				w.sp.BaseOffset, w.sp.ErrorCode = -1, errorCode(err)
				msg := errText(err)
				w.sp.ErrorMessage = &msg
			}
		}
		if len(waits) > 1 {
			wg.Go(wait)
		} else {
			wait()
		}
	}
	wg.Wait()
}

// producePartition writes one partition's batches, fills in its answer and
// returns its wait for durability (nil durable: nothing to wait for).
func (s *Server) producePartition(topic string, rp *kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) durableWait {
	*sp = kmsg.NewProduceResponseTopicPartition()
	sp.Partition = rp.Partition
	sp.LogAppendTime = -1
	base, durable, code, msg := s.appendLed(topic, rp.Partition, rp.Records)
	sp.BaseOffset, sp.ErrorCode = base, code
	if msg != "" {
		sp.ErrorMessage = &msg
	}
	if earliest, _, err := s.b.PartitionBounds(topic, rp.Partition); err == nil {
		sp.LogStartOffset = earliest
	}
	return durableWait{durable: durable, sp: sp}
}

// appendBatches writes the batches of one partition of a produce request
// (clients send one; more are taken in order) and returns the first one's
// base offset and the wait for the last one's durability (which covers
// the others: they are in the same log, before it), or a Kafka error code
// and message.
func (s *Server) appendBatches(topic string, partition int32, records []byte) (int64, func() error, int16, string) {
	first := int64(-1)
	var durable func() error
	for len(records) > 0 {
		n, ok := recordbatch.Len(records)
		if !ok || n > len(records) {
			return -1, durable, kerr.CorruptMessage.Code, "truncated record batch"
		}
		base, d, code, msg := s.appendBatch(topic, partition, records[:n])
		if code != 0 {
			return -1, durable, code, msg
		}
		durable = d
		if first < 0 {
			first = base
		}
		records = records[n:]
	}
	if first < 0 {
		return -1, nil, kerr.CorruptMessage.Code, "no record batch"
	}
	return first, durable, 0, ""
}

// appendBatch writes one batch; the broker checks an idempotent producer's
// sequences (a duplicate is answered with its first offset).
func (s *Server) appendBatch(topic string, partition int32, b []byte) (int64, func() error, int16, string) {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return -1, nil, kerr.CorruptMessage.Code, err.Error()
	}
	if h.Magic != recordbatch.Magic {
		return -1, nil, kerr.UnsupportedForMessageFormat.Code, "only RecordBatch v2 (magic 2) is accepted"
	}
	if h.Transactional() || h.Control() {
		return -1, nil, kerr.InvalidRecord.Code, "transactional and control batches are not accepted"
	}
	base, durable, err := s.appends.WriteBatch(topic, partition, b)
	if err != nil {
		return -1, nil, errorCode(err), errText(err)
	}
	return base, durable, 0, ""
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// distinctPartitions reports whether no partition appears twice: batches
// for one partition must be appended in the order they were sent.
func distinctPartitions(ps []kmsg.ProduceRequestTopicPartition) bool {
	for i := range ps {
		for j := range i {
			if ps[i].Partition == ps[j].Partition {
				return false
			}
		}
	}
	return true
}
