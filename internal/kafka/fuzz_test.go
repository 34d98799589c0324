package kafka

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// seedFrames are valid requests of a few kinds and versions, framed.
func seedFrames() [][]byte {
	var out [][]byte
	for _, r := range []kmsg.Request{
		kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrMetadataRequest(), kmsg.NewPtrProduceRequest(),
		kmsg.NewPtrFetchRequest(), kmsg.NewPtrJoinGroupRequest(), kmsg.NewPtrOffsetCommitRequest(),
	} {
		for _, v := range []int16{0, 3, 9, 12} {
			if v > r.MaxVersion() {
				continue
			}
			r.SetVersion(v)
			b := binary.BigEndian.AppendUint16(nil, uint16(r.Key()))
			b = binary.BigEndian.AppendUint16(b, uint16(v))
			b = binary.BigEndian.AppendUint32(b, 7)
			b = binary.BigEndian.AppendUint16(b, 3)
			b = append(b, "cli"...)
			if r.IsFlexible() {
				b = append(b, 0)
			}
			b = r.AppendTo(b)
			out = append(out, b)
		}
	}
	return out
}

// FuzzDecode: no request frame, however broken, panics the decoder; what it
// accepts has a handler and a version inside the handler's range.
func FuzzDecode(f *testing.F) {
	for _, b := range seedFrames() {
		f.Add(b)
	}
	s := &Server{}
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, req, api, err := s.decode(frame)
		if err != nil {
			return
		}
		if req == nil || api.serve == nil || h.version < api.min || h.version > api.max {
			t.Fatalf("accepted %+v with handler %+v", h, api)
		}
	})
}

// FuzzReadFrame: sizes out of bounds are refused before anything is read
// or allocated; in-bounds frames come back whole.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 10
		frame, err := readFrame(bytes.NewReader(in), nil, max, nil)
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(in))
		if n > max || len(frame) != n || !bytes.Equal(frame, in[4:4+n]) {
			t.Fatalf("frame of %d bytes from a size of %d", len(frame), n)
		}
	})
}
