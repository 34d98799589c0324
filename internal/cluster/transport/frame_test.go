package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

func TestFrameRoundTrip(t *testing.T) {
	envs := []multiraft.Envelope{
		{Group: 0, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(7))}},
		{Group: 1 << 40, Msg: &pb.Message{Type: pb.MsgApp.Enum(), To: new(uint64(3)), Entries: []*pb.Entry{{Index: new(uint64(9)), Term: new(uint64(7)), Data: []byte("x")}}}},
		{Group: 5, Quiesce: true, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(3)), Commit: new(uint64(4))}},
		{Group: 6, Wake: true, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(3))}},
	}
	b, n, err := appendFrame(nil, envs)
	if err != nil || n != len(envs) {
		t.Fatalf("encode: %v, %d envelopes taken", err, n)
	}
	b2, _, _ := appendFrame(nil, envs[:1])
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

// A frame whose length says more than its messages hold is refused, not
// read as if the rest were not there.
func TestFrameWithBytesLeftOver(t *testing.T) {
	b, _, err := appendFrame(nil, []multiraft.Envelope{{Group: 3, Msg: &pb.Message{Type: pb.MsgVote.Enum(), To: new(uint64(2))}}})
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, 0xde, 0xad)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(b)), nil); !errors.Is(err, errFrame) {
		t.Fatalf("read a frame with 2 bytes after its message: %v, want errFrame", err)
	}
}

// TestLargeBatchGoesInFrames: a batch of appends larger than a frame
// should be goes whole, in frames of about frameTarget bytes, in order; as
// one frame it was refused when over maxFrame (a restarted peer caught up by
// many groups at once: 100–200 MB seen) and dropped with every message in
// it. An envelope that alone is over maxFrame is left out, and the others
// still go, those before it too.
func TestLargeBatchGoesInFrames(t *testing.T) {
	app := func(group uint64, size int) multiraft.Envelope {
		return multiraft.Envelope{Group: group, Msg: &pb.Message{Type: pb.MsgApp.Enum(), To: new(uint64(2)),
			Entries: []*pb.Entry{{Index: new(uint64(1)), Data: bytes.Repeat([]byte{'x'}, size)}}}}
	}
	var batch []multiraft.Envelope
	for g := range uint64(24) {
		batch = append(batch, app(g, 1<<20))
	}
	batch = append(batch[:12], append([]multiraft.Envelope{app(1000, maxFrame+1)}, batch[12:]...)...)
	var (
		wire    bytes.Buffer
		frames  int
		dropped []error
	)
	_, err := eachFrame(nil, batch, func(frame []byte) error {
		if len(frame) > frameTarget+2<<20 {
			t.Errorf("a frame of %d bytes", len(frame))
		}
		frames++
		wire.Write(frame)
		return nil
	}, func(err error) { dropped = append(dropped, err) })
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&wire)
	var groups []uint64
	for range frames {
		got, _, err := readFrame(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			groups = append(groups, e.Group)
		}
	}
	if len(groups) != 24 || len(dropped) != 1 || frames < 6 {
		t.Fatalf("%d envelopes went in %d frames, %d dropped; want the 24 in 6 or more, and the one over maxFrame dropped", len(groups), frames, len(dropped))
	}
	for i, g := range groups {
		if g != uint64(i) {
			t.Fatalf("envelope %d is group %d: out of order", i, g)
		}
	}
	t.Logf("24 MiB in %d frames", frames)
}

// FuzzReadFrame feeds arbitrary bytes to the decoder: it must fail cleanly,
// never panic or allocate without bound.
func FuzzReadFrame(f *testing.F) {
	b, _, _ := appendFrame(nil, []multiraft.Envelope{{Group: 3, Msg: &pb.Message{Type: pb.MsgVote.Enum(), To: new(uint64(2))}}})
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

// A hello carries node and boot; a node of the version before boots is
// refused with a reason an operator can act on; anything else is no peer.
func TestHello(t *testing.T) {
	node, boot, err := readHello(bytes.NewReader(appendHello(nil, 3, 0xfeed)))
	if node != 3 || boot != 0xfeed || err != nil {
		t.Fatalf("hello: node %d boot %x %v", node, boot, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"older version", appendGreeting(nil, oldHelloMagic, 3), errOlderPeer},
		{"a call, not a hello", appendGreeting(nil, callMagic, 3), errFrame},
		{"no peer", []byte("GET / HTTP/1.1\r\n"), errFrame},
		{"boot cut short", appendHello(nil, 3, 1)[:15], io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := readHello(bytes.NewReader(tc.b)); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
}

// Whatever reaches the cluster listener can announce a call of MaxCall or
// a frame of maxFrame and send nothing more: the reads allocate as the
// bytes arrive, not the size announced (which made a few hundred such
// connections, a 12-byte greeting and 4 bytes each, cost gigabytes).
func TestReadsAllocateAsBytesArrive(t *testing.T) {
	short := func(size int) io.Reader {
		return bytes.NewReader(append(binary.BigEndian.AppendUint32(nil, uint32(size)), make([]byte, 1024)...))
	}
	var err error
	allocated := testkit.Allocated(func() { _, err = readBlob(short(MaxCall)) })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("readBlob: %v; want io.ErrUnexpectedEOF", err)
	}
	if allocated > 1<<20 {
		t.Errorf("readBlob allocated %d bytes for 1 KiB sent of %d announced", allocated, MaxCall)
	}
	allocated = testkit.Allocated(func() { _, _, err = readFrame(bufio.NewReader(short(maxFrame)), nil) })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("readFrame: %v; want io.ErrUnexpectedEOF", err)
	}
	if allocated > 1<<20 {
		t.Errorf("readFrame allocated %d bytes for 1 KiB sent of %d announced", allocated, maxFrame)
	}
}
