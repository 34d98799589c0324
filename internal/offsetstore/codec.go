package offsetstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// The stored encoding, of offsets.db's values and of the journal's frames.
// A record starts with a version byte. Version 1 is binary:
//
//	value:   1 | flags (bit 0: deleted, bit 1: metadata) | uvarint seq |
//	         varint committed | varint born | uvarint ranges |
//	         ranges × (varint from, varint to) | [uvarint len, metadata]
//	payload: 1 | uvarint ops | ops × (uvarint len, group | uvarint len, topic |
//	         varint partition | flags (bit 0: delete, bit 1: delete group) |
//	         value without its version byte)
//
// Data dirs written before this package kept JSON: a value was an object
// ('{') and a journal payload an array ('['). Both are still read, so an
// old data dir opens; what is written is always version 1.
const (
	version1 = 1

	flagDeleted     = 1 << 0 // value: a tombstone
	flagMetadata    = 1 << 1 // value: a Kafka commit's metadata follows the ranges
	flagDelete      = 1 << 0 // op: delete the partition
	flagDeleteGroup = 1 << 1 // op: delete the group
)

// errCorrupt is wrapped by every decoding failure.
var errCorrupt = errors.New("offsetstore: corrupt record")

// appendValue encodes one partition's stored state after its version byte.
func appendValue(b []byte, off Offset, deleted bool) []byte {
	var flags byte
	if deleted {
		flags |= flagDeleted
	}
	if off.Metadata != "" {
		flags |= flagMetadata
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, off.Seq)
	b = binary.AppendVarint(b, off.Committed)
	b = binary.AppendVarint(b, off.Born)
	b = binary.AppendUvarint(b, uint64(len(off.Acked)))
	for _, r := range off.Acked {
		b = binary.AppendVarint(b, r.From)
		b = binary.AppendVarint(b, r.To)
	}
	if off.Metadata != "" {
		b = binary.AppendUvarint(b, uint64(len(off.Metadata)))
		b = append(b, off.Metadata...)
	}
	return b
}

func encodeValue(off Offset, deleted bool) []byte {
	return appendValue([]byte{version1}, off, deleted)
}

// decodeValue decodes an offsets.db value of either encoding.
func decodeValue(b []byte) (off Offset, deleted bool, err error) {
	if len(b) > 0 && b[0] == '{' {
		return decodeLegacyValue(b)
	}
	if len(b) == 0 || b[0] != version1 {
		return Offset{}, false, fmt.Errorf("%w: unknown value version", errCorrupt)
	}
	d := decoder{b: b[1:]}
	off, deleted = d.value()
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return off, deleted, d.err
}

// encodePayload encodes one journal frame's ops.
func encodePayload(ops []op) []byte {
	b := []byte{version1}
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, o := range ops {
		b = binary.AppendUvarint(b, uint64(len(o.Group)))
		b = append(b, o.Group...)
		b = binary.AppendUvarint(b, uint64(len(o.TP.Topic)))
		b = append(b, o.TP.Topic...)
		b = binary.AppendVarint(b, int64(o.TP.Partition))
		var flags byte
		if o.Delete {
			flags |= flagDelete
		}
		if o.deleteGroup {
			flags |= flagDeleteGroup
		}
		b = append(b, flags)
		b = appendValue(b, o.Offset, false)
	}
	return b
}

// decodePayload decodes one journal frame's ops of either encoding.
func decodePayload(b []byte) ([]op, error) {
	if len(b) > 0 && b[0] == '[' {
		return decodeLegacyPayload(b)
	}
	if len(b) == 0 || b[0] != version1 {
		return nil, fmt.Errorf("%w: unknown journal payload version", errCorrupt)
	}
	d := decoder{b: b[1:]}
	n := d.uvarint()
	// Every op takes at least 9 bytes: a bound before allocating.
	if n > uint64(len(d.b))/9 {
		d.fail("op count beyond the payload")
	}
	var ops []op
	for i := uint64(0); i < n && d.err == nil; i++ {
		var o op
		o.Group = d.string()
		o.TP.Topic = d.string()
		p := d.varint()
		if p < math.MinInt32 || p > math.MaxInt32 {
			d.fail("partition out of range")
		}
		o.TP.Partition = int32(p)
		flags := d.byte()
		o.Delete, o.deleteGroup = flags&flagDelete != 0, flags&flagDeleteGroup != 0
		o.Offset, _ = d.value()
		ops = append(ops, o)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return ops, nil
}

// decoder reads version-1 fields; the first failure sticks and later reads
// return zeros.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string beyond the record")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) value() (Offset, bool) {
	flags := d.byte()
	off := Offset{Seq: d.uvarint(), Committed: d.varint(), Born: d.varint()}
	n := d.uvarint()
	// Every range takes at least 2 bytes: a bound before allocating.
	if n > uint64(len(d.b))/2 {
		d.fail("range count beyond the record")
		return Offset{}, false
	}
	if n > 0 {
		off.Acked = make([]delivery.Range, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		off.Acked = append(off.Acked, delivery.Range{From: d.varint(), To: d.varint()})
	}
	if flags&flagMetadata != 0 {
		off.Metadata = d.string()
	}
	if d.err != nil {
		return Offset{}, false
	}
	return off, flags&flagDeleted != 0
}

// legacyValue is an offsets.db value as JSON wrote it before version 1:
// {"seq","committed","acked":[{"From","To"}],"deleted","born"}.
// encoding/json matches keys to field names case-insensitively, so these
// field names read it without tags.
type legacyValue struct {
	Seq       uint64
	Committed int64
	Acked     []delivery.Range
	Deleted   bool
	Born      int64
}

func decodeLegacyValue(b []byte) (Offset, bool, error) {
	var v legacyValue
	if err := json.Unmarshal(b, &v); err != nil {
		return Offset{}, false, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return Offset{Seq: v.Seq, Committed: v.Committed, Acked: v.Acked, Born: v.Born}, v.Deleted, nil
}

// legacyOp is a journal op as JSON wrote it before version 1:
// {"g","t","p","o","d","dg"} (matched case-insensitively, as legacyValue).
type legacyOp struct {
	G  string
	T  string
	P  int32
	O  legacyValue
	D  bool
	Dg bool
}

func decodeLegacyPayload(b []byte) ([]op, error) {
	var los []legacyOp
	if err := json.Unmarshal(b, &los); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	ops := make([]op, len(los))
	for i, lo := range los {
		ops[i] = op{Write: Write{Group: lo.G, TP: delivery.TP{Topic: lo.T, Partition: lo.P},
			Offset: Offset{Seq: lo.O.Seq, Committed: lo.O.Committed, Acked: lo.O.Acked, Born: lo.O.Born},
			Delete: lo.D}, deleteGroup: lo.Dg}
	}
	return ops, nil
}
