package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// recorder is a connection that keeps what the server writes and reads
// nothing: the server's side of a client that sent one request.
type recorder struct {
	net.Conn // nil: the methods the server calls are below
	out      bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error)      { return r.out.Write(b) }
func (r *recorder) SetWriteDeadline(time.Time) error { return nil }
func (r *recorder) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (r *recorder) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }

// serveSeeds are requests of every key the server answers, in its lowest
// and highest versions, about topic "t" and group "g" where they name any.
func serveSeeds(t testing.TB, s *Server) [][]byte {
	batch, err := recordbatch.Build(nil, recordbatch.NewHeader(0), recordbatch.None,
		[]recordbatch.Record{{Value: []byte("v")}, {OffsetDelta: 1, Key: []byte("k"), Value: []byte("w")}})
	if err != nil {
		t.Fatal(err)
	}
	fill := func(r kmsg.Request) {
		switch r := r.(type) {
		case *kmsg.ProduceRequest:
			r.Acks, r.TimeoutMillis = -1, 1000
			p := kmsg.NewProduceRequestTopicPartition()
			p.Records = batch
			r.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{p}}}
		case *kmsg.FetchRequest:
			r.MaxBytes, r.MaxWaitMillis = 1<<20, 0
			p := kmsg.NewFetchRequestTopicPartition()
			p.PartitionMaxBytes = 1 << 20
			r.Topics = []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{p}}}
		case *kmsg.MetadataRequest:
			topic := "t"
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
		case *kmsg.ListOffsetsRequest:
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Timestamp = -1
			r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "t", Partitions: []kmsg.ListOffsetsRequestTopicPartition{p}}}
		case *kmsg.CreateTopicsRequest:
			r.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "u", NumPartitions: 2, ReplicationFactor: 1}}
		case *kmsg.CreatePartitionsRequest:
			r.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t", Count: 2}}
		case *kmsg.JoinGroupRequest:
			r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = "g", 6000, 6000, "consumer"
			r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0}}}
		case *kmsg.SyncGroupRequest:
			r.Group, r.MemberID = "g", "m"
			r.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: "m", MemberAssignment: []byte{0, 0}}}
		case *kmsg.HeartbeatRequest:
			r.Group, r.MemberID = "g", "m"
		case *kmsg.LeaveGroupRequest:
			r.Group, r.MemberID = "g", "m"
			r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
		case *kmsg.OffsetCommitRequest:
			r.Group, r.Generation = "g", -1
			r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Offset: 1}}}}
		case *kmsg.OffsetFetchRequest:
			r.Group = "g"
			r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
		case *kmsg.DescribeGroupsRequest:
			r.Groups = []string{"g"}
		case *kmsg.DeleteGroupsRequest:
			r.Groups = []string{"g"}
		case *kmsg.OffsetDeleteRequest:
			r.Group = "g"
			r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{}}}}
		case *kmsg.FindCoordinatorRequest:
			r.CoordinatorKey, r.CoordinatorKeys = "g", []string{"g"}
		case *kmsg.DescribeConfigsRequest:
			r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"}}
		case *kmsg.AlterConfigsRequest:
			v := "1000"
			r.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t",
				Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &v}}}}
		case *kmsg.IncrementalAlterConfigsRequest:
			v := "1000"
			r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t",
				Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &v}}}}
		case *kmsg.OffsetForLeaderEpochRequest:
			r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{LeaderEpoch: 0}}}}
		case *kmsg.ConsumerGroupHeartbeatRequest:
			r.Group, r.MemberEpoch, r.RebalanceTimeoutMillis, r.SubscribedTopicNames = "h", 0, 6000, []string{"t"}
		case *kmsg.ConsumerGroupDescribeRequest:
			r.Groups = []string{"h"}
		case *kmsg.DeleteTopicsRequest:
			r.TopicNames = []string{"u"}
			name := "u"
			r.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &name}}
		case *kmsg.InitProducerIDRequest:
			r.TransactionTimeoutMillis = 1000
		}
	}
	var out [][]byte
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		api, ok := s.api(k)
		if !ok {
			continue
		}
		for _, v := range []int16{api.min, api.max} {
			r := kmsg.RequestForKey(k)
			r.SetVersion(v)
			fill(r)
			b := binary.BigEndian.AppendUint16(nil, uint16(k))
			b = binary.BigEndian.AppendUint16(b, uint16(v))
			b = binary.BigEndian.AppendUint32(b, 7)
			b = append(b, 0, 1, 'c')
			if r.IsFlexible() {
				b = append(b, 0)
			}
			out = append(out, r.AppendTo(b))
		}
	}
	return out
}

// FuzzServe: no request the listener reads, however broken, panics the
// broker (the listener recovers nothing: a panic would end the process),
// and what it answers is one frame with the request's correlation ID that
// decodes as the response to the request's key and version.
func FuzzServe(f *testing.F) {
	cfg := broker.DefaultConfig()
	cfg.DataDir = f.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	br, err := broker.Open(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { br.Close() })
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		f.Fatal(err)
	}
	s := New(br, Options{Logger: cfg.Logger})
	for _, b := range serveSeeds(f, s) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		rec := &recorder{}
		c := &conn{s: s, nc: rec, host: "127.0.0.1", authenticated: true}
		defer c.dropSessions()
		// Requests that wait (a JoinGroup for its rebalance, a long
		// poll) are cut short, as a shutdown would.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		// An error closes the connection: the answers written before it
		// are what the client gets.
		if c.handle(ctx, frame) == nil {
			c.answer()
		}
		h, _, _, derr := s.decode(frame)
		out := rec.out.Bytes()
		if len(out) == 0 || derr != nil {
			return // nothing to check, or ApiVersions answered in v0
		}
		resp := kmsg.ResponseForKey(h.key)
		resp.SetVersion(h.version)
		for len(out) > 0 {
			if len(out) < 8 || int(binary.BigEndian.Uint32(out)) > len(out)-4 {
				t.Fatalf("answer cut short: % x", out)
			}
			n := int(binary.BigEndian.Uint32(out))
			body := out[4 : 4+n]
			out = out[4+n:]
			if corr := int32(binary.BigEndian.Uint32(body)); corr != h.correlation {
				t.Fatalf("answer to correlation %d, asked %d", corr, h.correlation)
			}
			body = body[4:]
			if resp.IsFlexible() && h.key != kmsg.ApiVersions.Int16() {
				var err error
				if body, err = skipTags(body); err != nil {
					t.Fatalf("answer header: %v", err)
				}
			}
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("%s v%d answer does not decode: %v", kmsg.NameForKey(h.key), h.version, err)
			}
		}
	})
}
