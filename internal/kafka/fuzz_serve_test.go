package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"reflect"
	"strings"
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

// fuzzServer is a Server with opts over a fresh broker holding topic "t"
// of one partition, closed with the test.
func fuzzServer(f *testing.F, opts Options) *Server {
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
	opts.Logger = cfg.Logger
	return New(br, opts)
}

// serveFrame serves frame on a fresh authenticated connection of s and
// fails t unless what the connection writes is one frame per request,
// with its correlation ID, that decodes as the response to the request's
// key and version.
func serveFrame(t *testing.T, s *Server, frame []byte) {
	rec := &recorder{}
	c := &conn{s: s, nc: rec, host: "127.0.0.1", authenticated: true}
	defer c.dropSessions()
	// Requests that wait (a JoinGroup for its rebalance, a long poll) are
	// cut short, as a shutdown would.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// An error closes the connection: the answers written before it are
	// what the client gets.
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
}

// FuzzServe: no request frame the listener reads, however broken, panics
// the broker (the listener recovers nothing: a panic would end the
// process), and what it answers decodes (serveFrame).
func FuzzServe(f *testing.F) {
	s := fuzzServer(f, Options{})
	for _, b := range serveSeeds(f, s) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) { serveFrame(t, s, frame) })
}

// fields fills kmsg requests from fuzzed bytes, field by field: every
// request it makes encodes, so the fuzzer spends its inputs on the
// handlers rather than on the decoder, with values that break rules
// (negative counts, extremes, names of what exists and of what does not).
type fields struct {
	b     []byte
	batch []byte // a valid record batch, for byte fields
	id    [16]byte
}

func (f *fields) next() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

// record is a record batch whose header fields (producer, sequence,
// timestamps, transactional and control bits) and records are fuzzed,
// compressed with a fuzzed codec, its length and CRC right: one a
// produce request's checks must judge by its content.
func (f *fields) record() []byte {
	var h recordbatch.Header
	f.fill(reflect.ValueOf(&h).Elem())
	var recs []recordbatch.Record
	f.fill(reflect.ValueOf(&recs).Elem())
	codecs := []recordbatch.Codec{recordbatch.None, recordbatch.Gzip, recordbatch.Snappy, recordbatch.LZ4, recordbatch.Zstd}
	b, err := recordbatch.Build(nil, h, codecs[int(f.next())%len(codecs)], recs)
	if err != nil {
		return nil
	}
	return b
}

var fieldStrings = []string{"t", "g", "", "u", "m", "consumer", "range", "retention.ms", "cleanup.policy",
	"max.message.bytes", "-1", "t\x00", strings.Repeat("x", 300), "__consumer_offsets", "t.dlq"}

func (f *fields) fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(f.next()&1 == 1)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		switch c := f.next(); c % 8 {
		case 0:
			v.SetInt(0)
		case 1:
			v.SetInt(-1)
		case 2:
			v.SetInt(int64(c >> 3))
		case 3:
			v.SetInt(1<<(bits-1) - 1)
		case 4:
			v.SetInt(-1 << (bits - 1))
		default:
			var x int64
			for range bits / 8 {
				x = x<<8 | int64(f.next())
			}
			v.SetInt(x) // truncated to the field's width
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.next()))
	case reflect.Float64:
		v.SetFloat(float64(int8(f.next())))
	case reflect.String:
		c := int(f.next())
		if c < len(fieldStrings)*12 {
			v.SetString(fieldStrings[c%len(fieldStrings)])
		} else {
			n := int(f.next() % 16)
			b := make([]byte, n)
			for i := range b {
				b[i] = f.next()
			}
			v.SetString(string(b))
		}
	case reflect.Pointer:
		if f.next()%4 == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem())
		v.Set(p)
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 && v.Len() == 16 && f.next()%2 == 0 {
			reflect.Copy(v, reflect.ValueOf(f.id[:]))
			return
		}
		for i := range v.Len() {
			f.fill(v.Index(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			switch c := f.next(); c % 5 {
			case 0:
				v.SetBytes(nil)
			case 1:
				v.SetBytes(f.batch)
			case 4:
				v.SetBytes(f.record())
			case 2:
				b := append([]byte(nil), f.batch...)
				if len(b) > 0 {
					b[int(f.next())%len(b)] ^= 1 << (f.next() % 8)
				}
				v.SetBytes(b)
			default:
				b := make([]byte, f.next()%64)
				for i := range b {
					b[i] = f.next()
				}
				v.SetBytes(b)
			}
			return
		}
		n := int(f.next() % 4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[kmsg.Tags]() {
			return
		}
		for i := range v.NumField() {
			if sf := v.Type().Field(i); sf.IsExported() && sf.Name != "Version" {
				f.fill(v.Field(i))
			}
		}
	}
}

// FuzzServeFields is FuzzServe with requests made field by field
// (fields): key picks one of the keys served, version one of its
// versions, data the fields' values.
func FuzzServeFields(f *testing.F) {
	s := fuzzServer(f, Options{})
	batch, err := recordbatch.Build(nil, recordbatch.NewHeader(0), recordbatch.None,
		[]recordbatch.Record{{Value: []byte("v")}, {OffsetDelta: 1, Key: []byte("k"), Value: []byte("w")}})
	if err != nil {
		f.Fatal(err)
	}
	ti, err := s.b.Topic("t")
	if err != nil {
		f.Fatal(err)
	}
	id := s.topicID(ti)
	var keys []int16
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		if _, ok := s.api(k); ok {
			keys = append(keys, k)
		}
	}
	for i := range keys {
		f.Add(uint8(i), uint8(0), []byte{})
		f.Add(uint8(i), uint8(255), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
		f.Add(uint8(i), uint8(3), []byte{3, 2, 0, 1, 12, 2, 1, 3, 4, 1, 0, 0, 0, 1})
	}
	f.Fuzz(func(t *testing.T, key, version uint8, data []byte) {
		k := keys[int(key)%len(keys)]
		api, _ := s.api(k)
		v := api.min + int16(version)%(api.max-api.min+1)
		req := kmsg.RequestForKey(k)
		(&fields{b: data, batch: batch, id: id}).fill(reflect.ValueOf(req).Elem())
		req.SetVersion(v)
		b := binary.BigEndian.AppendUint16(nil, uint16(k))
		b = binary.BigEndian.AppendUint16(b, uint16(v))
		b = binary.BigEndian.AppendUint32(b, 7)
		b = append(b, 0, 1, 'c')
		if req.IsFlexible() {
			b = append(b, 0)
		}
		serveFrame(t, s, req.AppendTo(b))
	})
}

// requestFrame is r's frame, its size first, with correlation ID corr and
// client ID "c".
func requestFrame(r kmsg.Request, corr int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(r.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = append(b, 0, 1, 'c')
	if r.IsFlexible() {
		b = append(b, 0)
	}
	b = r.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// FuzzUnauthenticated reads fuzzed bytes as the request frames of a
// connection that has not authenticated, to a broker with a full-access
// key and a scoped one: the connection authenticates only by a PLAIN
// exchange whose password is the full-access key, and until then nothing
// but ApiVersions and the SASL requests is served.
func FuzzUnauthenticated(f *testing.F) {
	const full, scoped = "full-access-key", "scoped-key"
	s := fuzzServer(f, Options{APIKeys: []string{full, scoped + ":produce=t"}})
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, saslPlain
	auth := func(v int16, pass string) []byte {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.Version, r.SASLAuthBytes = v, []byte("\x00user\x00"+pass)
		return requestFrame(r, 2)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	for _, frames := range [][][]byte{
		{requestFrame(hs, 1), auth(2, full), requestFrame(md, 3)},
		{requestFrame(hs, 1), auth(0, scoped), requestFrame(md, 3)},
		{requestFrame(hs, 1), auth(1, full+"x"), requestFrame(md, 3)},
		{requestFrame(av, 1), requestFrame(md, 2)},
		{auth(2, full), requestFrame(md, 3)},
	} {
		f.Add(bytes.Join(frames, nil))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &conn{s: s, nc: &recorder{}, host: "127.0.0.1"}
		defer c.dropSessions()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := bytes.NewReader(in)
		for {
			frame, err := readFrame(r, nil, maxUnauthenticatedRequest, nil)
			if err != nil {
				return
			}
			was := c.authenticated
			h, req, api, derr := s.decode(frame)
			err = c.handle(ctx, frame)
			if !was && derr == nil && !api.beforeAuth && err == nil {
				t.Fatalf("%s served before authentication", kmsg.NameForKey(h.key))
			}
			if !was && c.authenticated {
				sa, ok := req.(*kmsg.SASLAuthenticateRequest)
				if !ok || !bytes.HasSuffix(sa.SASLAuthBytes, []byte("\x00"+full)) {
					t.Fatalf("authenticated by %s %+v", kmsg.NameForKey(h.key), req)
				}
			}
			if err != nil {
				return // the connection closes
			}
		}
	})
}
