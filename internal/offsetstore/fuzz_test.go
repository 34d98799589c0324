package offsetstore

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// frame is one journal frame of payload, as journal.append writes it.
func frame(payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// FuzzJournal feeds arbitrary bytes, as a damaged or hostile disk may hold,
// to the journal reader: it must never panic, and whatever ops it returns
// must survive being journaled again (encoded, framed, read back) unchanged.
func FuzzJournal(f *testing.F) {
	legacy, err := filepath.Glob(filepath.Join("testdata", "legacy-json", "*.journal"))
	if err != nil || len(legacy) == 0 {
		f.Fatalf("no legacy journal in testdata: %v", err)
	}
	for _, path := range legacy {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ops := []op{
		{Write: Write{Group: "g", TP: delivery.TP{Topic: "t", Partition: 2}, Offset: Offset{Seq: 7, Committed: 20, Acked: []delivery.Range{{From: 22, To: 22}}, Born: 1700000000000}}},
		{Write: Write{Group: "g", TP: delivery.TP{Topic: "t", Partition: 3}, Offset: Offset{Seq: 8}, Delete: true}},
		{Write: Write{Group: "g", TP: delivery.TP{Topic: "t", Partition: 4}, Offset: Offset{Seq: 10, Committed: 3, Metadata: "state=3"}}},
		{Write: Write{Group: "h", Offset: Offset{Seq: 9}}, deleteGroup: true},
	}
	v1 := append(frame(encodePayload(ops[:1])), frame(encodePayload(ops[1:]))...)
	f.Add(v1)
	f.Add(v1[:len(v1)-3])
	f.Add([]byte{})
	f.Add(frame([]byte{version1, 0xff, 0xff, 0xff, 0xff, 0x0f}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// As a file, and framed with a good CRC: random bytes seldom pass
		// the CRC, and the payload decoder behind it must hold too.
		for _, file := range [][]byte{data, frame(data)} {
			ops := parseJournal(file)
			if len(ops) == 0 {
				continue
			}
			again := parseJournal(frame(encodePayload(ops)))
			if diff := cmp.Diff(ops, again, cmp.AllowUnexported(op{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("ops journaled again (-read +reread):\n%s", diff)
			}
		}
	})
}

// FuzzValue feeds arbitrary bytes to the decoder of offsets.db's values: it
// must never panic, and what it decodes must encode and decode the same.
func FuzzValue(f *testing.F) {
	f.Add([]byte(`{"seq":7,"committed":20,"acked":[{"From":22,"To":22}],"born":1700000000000}`))
	f.Add([]byte(`{"seq":4,"committed":0,"deleted":true}`))
	f.Add(encodeValue(Offset{Seq: 7, Committed: -1, Acked: []delivery.Range{{From: 1, To: 3}}, Born: 5}, false))
	f.Add(encodeValue(Offset{Seq: 9}, true))
	f.Add(encodeValue(Offset{Seq: 11, Committed: 4, Acked: []delivery.Range{{From: 6, To: 6}}, Metadata: "state=4"}, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		off, deleted, err := decodeValue(data)
		if err != nil {
			return
		}
		off2, deleted2, err := decodeValue(encodeValue(off, deleted))
		if err != nil || deleted2 != deleted || !cmp.Equal(off, off2, cmpopts.EquateEmpty()) {
			t.Fatalf("%+v %v re-encoded: %+v %v %v", off, deleted, off2, deleted2, err)
		}
	})
}
