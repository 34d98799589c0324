package kafka

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// produce appends each partition's batch as sent. Every acks value waits for
// the topic's fsync policy, which is what "written" means on GoQueue (acks
// 1 and -1 are the same on one broker); acks 0 gets no answer at all.
func (s *Server) produce(_ context.Context, _ *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.SetVersion(req.Version)
	if req.TransactionID != nil {
		// Transactions are not offered (InitProducerID refuses them).
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TransactionalIDAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return s.produceAnswer(req, resp), nil
	}
	// Appends to different partitions are independent; where each one
	// waits for its bytes to be durable, they wait side by side, so a
	// request to n partitions takes about one wait, not n. (A topic named
	// twice in one request is served entry after entry, in order.)
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		parallel := len(rt.Partitions) > 1 && distinctPartitions(rt.Partitions) && s.appendWaits(rt.Topic)
		var wg sync.WaitGroup
		for j := range rt.Partitions {
			rp, sp := &rt.Partitions[j], &st.Partitions[j]
			if parallel {
				wg.Go(func() { s.producePartition(rt.Topic, rp, sp) })
			} else {
				s.producePartition(rt.Topic, rp, sp)
			}
		}
		wg.Wait()
	}
	return s.produceAnswer(req, resp), nil
}

// producePartition appends one partition's batches and fills in its answer.
func (s *Server) producePartition(topic string, rp *kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) {
	*sp = kmsg.NewProduceResponseTopicPartition()
	sp.Partition = rp.Partition
	sp.LogAppendTime = -1
	base, code, msg := s.appendLed(topic, rp.Partition, rp.Records)
	sp.BaseOffset, sp.ErrorCode = base, code
	if msg != "" {
		sp.ErrorMessage = &msg
	}
	if earliest, _, err := s.b.PartitionBounds(topic, rp.Partition); err == nil {
		sp.LogStartOffset = earliest
	}
}

// appendWaits reports whether an append to topic waits for more than a
// write to memory: an fsync (fsync=always), or a Raft commit (a topic
// replicated in a cluster).
func (s *Server) appendWaits(topic string) bool {
	if _, ok := s.clusterPlacement(topic); ok {
		return true
	}
	ti, err := s.b.Topic(topic)
	return err == nil && ti.Config.Fsync == broker.FsyncAlways
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

func (s *Server) produceAnswer(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) kmsg.Response {
	if req.Acks == 0 {
		return nil
	}
	return resp
}

// appendBatches appends the batches of one partition of a produce request
// (clients send one; more are taken in order) and returns the first one's
// base offset, or a Kafka error code and message.
func (s *Server) appendBatches(topic string, partition int32, records []byte) (int64, int16, string) {
	first := int64(-1)
	for len(records) > 0 {
		n, ok := recordbatch.Len(records)
		if !ok || n > len(records) {
			return -1, kerr.CorruptMessage.Code, "truncated record batch"
		}
		base, code, msg := s.appendBatch(topic, partition, records[:n])
		if code != 0 {
			return -1, code, msg
		}
		if first < 0 {
			first = base
		}
		records = records[n:]
	}
	if first < 0 {
		return -1, kerr.CorruptMessage.Code, "no record batch"
	}
	return first, 0, ""
}

// appendBatch appends one batch; the broker checks an idempotent
// producer's sequences (a duplicate is answered with its first offset).
func (s *Server) appendBatch(topic string, partition int32, b []byte) (int64, int16, string) {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return -1, kerr.CorruptMessage.Code, err.Error()
	}
	if h.Magic != recordbatch.Magic {
		return -1, kerr.UnsupportedForMessageFormat.Code, "only RecordBatch v2 (magic 2) is accepted"
	}
	if h.Transactional() || h.Control() {
		return -1, kerr.InvalidRecord.Code, "transactional and control batches are not accepted"
	}
	base, err := s.b.AppendBatch(topic, partition, b)
	if err != nil {
		return -1, errorCode(err), errText(err)
	}
	return base, 0, ""
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
