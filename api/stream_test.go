package api

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

func TestStreamFrames(t *testing.T) {
	sub := StreamSubscription{Group: "billing", MemberID: "m-1", Generation: 7, MaxBytes: 1 << 20}
	settle := StreamSettle{Sub: 3, Reject: true, Release: true, DelayMS: 250, VisibilityMS: 9, Reason: "boom",
		Ranges: []OffsetRange{{Topic: "orders", Partition: 2, From: 10, To: 12}, {Topic: "o", Partition: 0, From: 0, To: 1}}}
	produced := []PublishResult{{Partition: 2, Offset: 41}, {Partition: 0, Offset: 1 << 40}}
	frames := []StreamFrame{
		{Type: StreamSubscribe, ID: 1, Payload: sub.Append(nil)},
		{Type: StreamCredit, ID: 1, Payload: AppendStreamCredit(nil, 500)},
		{Type: StreamDeliver, ID: 1, Payload: []byte("stored answer")},
		{Type: StreamAck, ID: 2, Payload: settle.Append(nil)},
		{Type: StreamPing, ID: 3},
		{Type: StreamError, ID: 1, Payload: AppendStreamError(nil, ErrStaleGeneration.Withf("gen 6"))},
		{Type: StreamProduce, ID: 4, Payload: append(AppendStreamProduceHead(nil, "orders"), AppendFrame(nil, 2, []byte("batch"))...)},
		{Type: StreamProduced, ID: 4, Payload: AppendStreamProduced(nil, produced)},
	}
	var wire bytes.Buffer
	w := NewStreamWriter(&wire)
	for _, f := range frames {
		if err := w.Write(f.Type, f.ID, f.Payload); err != nil {
			t.Fatal(err)
		}
	}
	r := NewStreamReader(&wire, 1<<20)
	for i, want := range frames {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != want.Type || got.ID != want.ID || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("frame %d = %v %d %q, want %v %d %q", i, got.Type, got.ID, got.Payload, want.Type, want.ID, want.Payload)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}

	if got, err := ParseStreamSubscription(frames[0].Payload); err != nil || got != sub {
		t.Errorf("subscription = %+v, %v; want %+v", got, err, sub)
	}
	if got, err := ParseStreamCredit(frames[1].Payload); err != nil || got != 500 {
		t.Errorf("credit = %d, %v", got, err)
	}
	if got, err := ParseStreamSettle(frames[3].Payload); err != nil || !reflect.DeepEqual(got, settle) {
		t.Errorf("settle = %+v, %v; want %+v", got, err, settle)
	}
	e, err := ParseStreamError(frames[5].Payload)
	if err != nil || !errors.Is(e, ErrStaleGeneration) || e.Message != "gen 6" || e.Status != ErrStaleGeneration.Status || !e.Retriable {
		t.Errorf("error = %+v, %v", e, err)
	}
	if got, err := ParseStreamProduction(frames[6].Payload); err != nil || got.Topic != "orders" || !bytes.Equal(got.Body, AppendFrame(nil, 2, []byte("batch"))) {
		t.Errorf("production = %+v, %v", got, err)
	}
	if got, err := ParseStreamProduced(nil, frames[7].Payload); err != nil || !slices.Equal(got, produced) {
		t.Errorf("produced = %v, %v; want %v", got, err, produced)
	}
}

// ReadShared reads each payload into the buffer it is given, growing it
// for a longer one; the frames are those Read returns.
func TestStreamReadShared(t *testing.T) {
	payloads := [][]byte{[]byte("short"), bytes.Repeat([]byte("l"), 300), nil, []byte("again")}
	var wire []byte
	for i, p := range payloads {
		wire = AppendStreamFrame(wire, StreamProduce, uint32(i), p)
	}
	r := NewStreamReader(bytes.NewReader(wire), 1<<20)
	buf := make([]byte, 0, 16)
	for i, want := range payloads {
		f, next, err := r.ReadShared(buf)
		if err != nil || f.ID != uint32(i) || !bytes.Equal(f.Payload, want) {
			t.Fatalf("frame %d = %d %q, %v; want %q", i, f.ID, f.Payload, err, want)
		}
		if len(want) <= 16 && len(want) > 0 && &next[:1][0] != &buf[:1][0] {
			t.Fatalf("frame %d of %d bytes was not read into the buffer given", i, len(want))
		}
		if cap(next) < len(want) {
			t.Fatalf("frame %d: buffer of %d bytes returned for a payload of %d", i, cap(next), len(want))
		}
		buf = next
	}
	if _, _, err := r.ReadShared(buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestStreamReaderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
		want error
	}{
		{"length below the header", []byte{0, 0, 0, 4, 1, 0, 0, 0, 0}, ErrStreamFrame},
		{"unknown type", AppendStreamFrame(nil, streamTypes, 1, nil), ErrStreamFrame},
		{"type zero", AppendStreamFrame(nil, 0, 1, nil), ErrStreamFrame},
		{"longer than the bound", AppendStreamFrame(nil, StreamDeliver, 1, make([]byte, 60)), ErrStreamFrameTooLarge},
		{"cut in the header", []byte{0, 0, 0, 9, 3}, io.ErrUnexpectedEOF},
		{"cut in the payload", AppendStreamFrame(nil, StreamDeliver, 1, make([]byte, 20))[:15], io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewStreamReader(bytes.NewReader(tc.wire), 50).Read()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read = %v, want %v", err, tc.want)
			}
		})
	}
}

// A frame that announces 16 MiB and sends 1 KiB makes ReadShared (the
// broker's reader, for every stream connection) hold about the first
// chunk, not the announcement.
func TestStreamReaderAllocatesAsBytesArrive(t *testing.T) {
	const announced = 16 << 20
	wire := AppendStreamFrame(nil, StreamProduce, 1, make([]byte, 1024))
	binary.BigEndian.PutUint32(wire, announced+5)
	var err error
	allocated := testkit.Allocated(func() { _, _, err = NewStreamReader(bytes.NewReader(wire), announced+5).ReadShared(nil) })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read = %v, want io.ErrUnexpectedEOF", err)
	}
	if allocated > 1<<20 {
		t.Fatalf("allocated %d bytes for 1 KiB of a %d byte frame", allocated, announced)
	}
}

func TestStreamPayloadsRefuse(t *testing.T) {
	sub := (&StreamSubscription{Group: "g", MemberID: "m"}).Append(nil)
	settle := (&StreamSettle{Ranges: []OffsetRange{{Topic: "t", To: 1}}}).Append(nil)
	for name, err := range map[string]error{
		"subscribe short":      second(ParseStreamSubscription(sub[:len(sub)-1])),
		"subscribe long":       second(ParseStreamSubscription(append(sub, 0))),
		"credit short":         second(ParseStreamCredit([]byte{0, 1})),
		"settle short":         second(ParseStreamSettle(settle[:12])),
		"settle cut range":     second(ParseStreamSettle(settle[:len(settle)-1])),
		"settle trailing":      second(ParseStreamSettle(append(settle, 0))),
		"settle count too big": second(ParseStreamSettle(append(settle[:17:17], 0xff, 0xff, 0xff, 0xff))),
		"error not json":       second(ParseStreamError([]byte("nope"))),
		"error without code":   second(ParseStreamError([]byte(`{"error":{}}`))),
		"produce no topic":     second(ParseStreamProduction([]byte{0})),
		"produce cut topic":    second(ParseStreamProduction([]byte{0, 9, 'o'})),
		"produced short":       second(ParseStreamProduced(nil, []byte{0, 0})),
		"produced count high":  second(ParseStreamProduced(nil, AppendStreamProduced(nil, []PublishResult{{}})[:10])),
		"produced trailing":    second(ParseStreamProduced(nil, append(AppendStreamProduced(nil, []PublishResult{{}}), 0))),
	} {
		if !errors.Is(err, ErrStreamFrame) {
			t.Errorf("%s: %v, want ErrStreamFrame", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// FuzzStreamReader: any bytes read as frames either give frames whose
// payloads parse or re-encode to the same bytes, or an error; never a
// panic or a frame beyond the bound.
func FuzzStreamReader(f *testing.F) {
	f.Add(AppendStreamFrame(nil, StreamSubscribe, 1, (&StreamSubscription{Group: "g", MemberID: "m", Generation: 1}).Append(nil)))
	f.Add(AppendStreamFrame(nil, StreamAck, 2, (&StreamSettle{Sub: 1, Ranges: []OffsetRange{{Topic: "t", To: 3}}}).Append(nil)))
	f.Add(AppendStreamFrame(nil, StreamCredit, 1, AppendStreamCredit(nil, 9)))
	f.Add(AppendStreamFrame(nil, StreamError, 1, AppendStreamError(nil, ErrUnknownMember)))
	f.Add(AppendStreamFrame(nil, StreamProduce, 2, append(AppendStreamProduceHead(nil, "t"), AppendFrame(nil, 0, []byte{1})...)))
	f.Add(AppendStreamFrame(nil, StreamProduced, 2, AppendStreamProduced(nil, []PublishResult{{Partition: 1, Offset: 7}})))
	f.Fuzz(func(t *testing.T, wire []byte) {
		const bound = 1 << 12
		r := NewStreamReader(bytes.NewReader(wire), bound)
		for {
			fr, err := r.Read()
			if err != nil {
				return
			}
			if len(fr.Payload)+5 > bound {
				t.Fatalf("frame of %d bytes past the bound", len(fr.Payload))
			}
			switch fr.Type {
			case StreamSubscribe:
				if s, err := ParseStreamSubscription(fr.Payload); err == nil && !bytes.Equal(s.Append(nil), fr.Payload) {
					t.Fatalf("subscription %+v does not re-encode to its bytes", s)
				}
			case StreamAck, StreamNack, StreamExtend:
				if s, err := ParseStreamSettle(fr.Payload); err == nil {
					// Flags bits beyond the two known are dropped.
					b := s.Append(nil)
					if len(b) != len(fr.Payload) {
						t.Fatalf("settle %+v re-encodes to %d bytes, was %d", s, len(b), len(fr.Payload))
					}
				}
			case StreamCredit:
				ParseStreamCredit(fr.Payload)
			case StreamError, StreamSettled:
				ParseStreamError(fr.Payload)
			case StreamProduce:
				if p, err := ParseStreamProduction(fr.Payload); err == nil &&
					!bytes.Equal(append(AppendStreamProduceHead(nil, p.Topic), p.Body...), fr.Payload) {
					t.Fatalf("production %+v does not re-encode to its bytes", p)
				}
			case StreamProduced:
				if rs, err := ParseStreamProduced(nil, fr.Payload); err == nil && !bytes.Equal(AppendStreamProduced(nil, rs), fr.Payload) {
					t.Fatalf("produced %v does not re-encode to its bytes", rs)
				}
			}
		}
	})
}
