package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A fetch's answer is read into memory and held until written, so the
// bytes a client asks for are bounded by Options.MaxFetchBytes, as a
// Kafka broker's fetch.max.bytes bounds them: five fetches of 60 bytes
// asking 1 GiB each of a 200 MB partition held 1 GB until written (for
// up to 30 s to a client that reads nothing).
func TestFetchAskingTooMuchIsBounded(t *testing.T) {
	const bound, record, records = 64 << 10, 20 << 10, 50 // 1 MB stored
	s := serveFresh(t, nil, Options{MaxFetchBytes: bound}, nil)
	defer s.stop(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("t"), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range records { // a batch each
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte("x"), record)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 4, -1, 100, 1, 1<<30
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 30
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// Asked on a connection of its own at v4, which names topics (kgo
	// would ask at the newest version, by topic ID).
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := binary.BigEndian.AppendUint32(nil, 0)
	frame = binary.BigEndian.AppendUint16(frame, uint16(kmsg.Fetch))
	frame = append(frame, 0, 4, 0, 0, 0, 1, 0xff, 0xff) // v4, correlation 1, no client ID
	frame = req.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var answer []byte
	// The answer's buffer is sized for the bytes the fetch may answer,
	// not for what the log holds past its offset (1 MB here).
	allocated := testkit.Allocated(func() {
		if _, err = c.Write(frame); err != nil {
			return
		}
		var size [4]byte
		if _, err = io.ReadFull(c, size[:]); err != nil {
			return
		}
		answer = make([]byte, binary.BigEndian.Uint32(size[:]))
		_, err = io.ReadFull(c, answer)
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocated > 512<<10 {
		t.Errorf("a fetch bounded at %d bytes allocated %d bytes", bound, allocated)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(4)
	if err := resp.ReadFrom(answer[4:]); err != nil { // after the correlation ID
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("fetch: error code %d", sp.ErrorCode)
	}
	got := len(sp.RecordBatches)
	if got == 0 || got > bound+record+1024 {
		t.Fatalf("a fetch asking 1 GiB got %d bytes of batches; want at most about %d (the bound and a batch)", got, bound+record)
	}
}
