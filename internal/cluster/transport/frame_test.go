package transport

import (
	"bufio"
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

func TestFrameRoundTrip(t *testing.T) {
	envs := []multiraft.Envelope{
		{Group: 0, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(7))}},
		{Group: 1 << 40, Msg: &pb.Message{Type: pb.MsgApp.Enum(), To: new(uint64(3)), Entries: []*pb.Entry{{Index: new(uint64(9)), Term: new(uint64(7)), Data: []byte("x")}}}},
		{Group: 5, Quiesce: true, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(3)), Commit: new(uint64(4))}},
		{Group: 6, Wake: true, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(3))}},
	}
	b, err := appendFrame(nil, envs)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := appendFrame(nil, envs[:1])
	r := bufio.NewReader(bytes.NewReader(append(b, b2...)))
	got, buf, err := readFrame(r, nil)
	if err != nil || len(got) != len(envs) {
		t.Fatalf("read: %v, %d envelopes", err, len(got))
	}
	for i := range envs {
		if got[i].Group != envs[i].Group || got[i].Quiesce != envs[i].Quiesce || got[i].Wake != envs[i].Wake || !proto.Equal(got[i].Msg, envs[i].Msg) {
			t.Fatalf("envelope %d: got %v/%v", i, got[i].Group, got[i].Msg)
		}
	}
	if got, _, err := readFrame(r, buf); err != nil || len(got) != 1 || !proto.Equal(got[0].Msg, envs[0].Msg) {
		t.Fatalf("second frame: %v %v", got, err)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the decoder: it must fail cleanly,
// never panic or allocate without bound.
func FuzzReadFrame(f *testing.F) {
	b, _ := appendFrame(nil, []multiraft.Envelope{{Group: 3, Msg: &pb.Message{Type: pb.MsgVote.Enum(), To: new(uint64(2))}}})
	f.Add(b)
	f.Add([]byte{0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			if _, _, err := readFrame(r, nil); err != nil {
				return
			}
		}
	})
}
