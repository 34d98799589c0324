package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// target is one partition of a produce request and the batch it is sent.
type target struct {
	topic     string
	partition int32
	batch     []byte
}

// produceFrame is a Produce v7 request frame with correlation corr.
func produceFrame(corr int32, acks int16, targets ...target) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(7)
	req.Acks, req.TimeoutMillis = acks, 5000
	for _, tg := range targets {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = tg.topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = tg.partition, tg.batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("t")).AppendRequest(nil, req, corr)
}

// metadataFrame is a Metadata v1 request frame with correlation corr.
func metadataFrame(corr int32) []byte {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(1)
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("t")).AppendRequest(nil, req, corr)
}

// oneRecord is a valid batch of one record.
func oneRecord() []byte {
	var bb recordbatch.Builder
	bb.Reset(nil)
	bb.Add(0, time.Now().UnixMilli(), nil, []byte("v"), nil)
	return bb.Finish(recordbatch.NewHeader(0))
}

// readAnswer reads one response frame from c: its correlation ID and body
// (a non-flexible header), or the error that ended the read (io.EOF when
// the broker closed the connection).
func readAnswer(c net.Conn) (int32, []byte, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

// A produce with acks 0 gets no answer; when it fails, the broker closes
// the connection, as Kafka does, so that the client learns of it and
// refreshes its metadata. Kept open, a kcat producer with acks=0 whose
// partition's leader had moved (a cluster node killed and back) went on
// sending to the old leader, which dropped every batch: 3,000 records of
// 4,000 were lost without a sign. The answers to produce requests before
// it are written first; one that succeeds keeps the connection open.
func TestProduceAcksZeroFailureClosesConnection(t *testing.T) {
	corrupt := oneRecord()
	corrupt[len(corrupt)-1] ^= 0xff
	for _, tc := range []struct {
		name   string
		before []byte // a produce with acks 1 sent with it, answered first
		send   []target
		closed bool
	}{
		{name: "written", send: []target{{"t", 0, oneRecord()}}},
		{name: "unknown partition", send: []target{{"t", 7, oneRecord()}}, closed: true},
		{name: "unknown topic", send: []target{{"none", 0, oneRecord()}}, closed: true},
		{name: "corrupt batch", send: []target{{"t", 0, corrupt}}, closed: true},
		{name: "after an answer that waits", before: produceFrame(1, 1, target{"t", 0, oneRecord()}),
			send: []target{{"t", 7, oneRecord()}}, closed: true},
		// The partition written waits for its fsync, so the failure of
		// the other is found when the answers are completed.
		{name: "one partition of two", send: []target{{"t", 0, oneRecord()}, {"t", 7, oneRecord()}}, closed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveFresh(t, func(c *broker.Config) { c.Fsync = broker.FsyncAlways }, Options{}, nil)
			defer s.stop(t)
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// One write: the broker reads the requests after the first
			// before it answers it.
			frames := append(append(tc.before, produceFrame(2, 0, tc.send...)...), metadataFrame(3)...)
			if _, err := c.Write(frames); err != nil {
				t.Fatal(err)
			}
			if tc.before != nil {
				corr, body, err := readAnswer(c)
				if err != nil || corr != 1 {
					t.Fatalf("answer to the produce before: correlation %d, %v; want 1", corr, err)
				}
				resp := kmsg.NewPtrProduceResponse()
				resp.SetVersion(7)
				if err := resp.ReadFrom(body); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
					t.Fatalf("answer to the produce before: %+v, %v", resp, err)
				}
			}
			corr, _, err := readAnswer(c)
			switch {
			case tc.closed && !errors.Is(err, io.EOF):
				t.Fatalf("after the failed produce: correlation %d, %v; want the connection closed", corr, err)
			case !tc.closed && (err != nil || corr != 3):
				t.Fatalf("after the produce: correlation %d, %v; want the metadata answer (3)", corr, err)
			}
		})
	}
}

// A produce with acks other than -1, 0 and 1 is answered
// INVALID_REQUIRED_ACKS for each partition and nothing is written, as
// Kafka answers it; acks=2 from librdkafka (kcat -X acks=2) was taken and
// answered as if written by two replicas.
func TestProduceRefusesInvalidAcks(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, acks := range []int16{2, 3, -2, 1000} {
		corr := int32(i + 1)
		if _, err := c.Write(produceFrame(corr, acks, target{"t", 0, oneRecord()})); err != nil {
			t.Fatal(err)
		}
		got, body, err := readAnswer(c)
		if err != nil || got != corr {
			t.Fatalf("acks %d: correlation %d, %v; want an answer (%d)", acks, got, err, corr)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(7)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != kerr.InvalidRequiredAcks.Code || sp.BaseOffset != -1 {
			t.Fatalf("acks %d: error %d, base offset %d; want INVALID_REQUIRED_ACKS (%d), -1", acks, sp.ErrorCode, sp.BaseOffset, kerr.InvalidRequiredAcks.Code)
		}
	}
	if _, hw, err := s.br.PartitionBounds("t", 0); err != nil || hw != 0 {
		t.Fatalf("high watermark %d, %v; want 0: nothing written", hw, err)
	}
}
