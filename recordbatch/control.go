package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// A control batch (attribute bit 0x20, always transactional) carries
// transaction markers, not user data: one record whose key is a version
// (int16, 0) and a ControlType (int16), and whose value, for the markers
// defined so far, is a version (int16, 0) and the transaction
// coordinator's epoch (int32). Readers that hand out messages skip control
// batches; their offsets are used all the same.

// ControlType is what a control record marks.
type ControlType int16

// The control types Kafka defines.
const (
	ControlAbort  ControlType = 0 // the producer's transaction was aborted
	ControlCommit ControlType = 1 // the producer's transaction was committed
)

func (t ControlType) String() string {
	switch t {
	case ControlAbort:
		return "abort"
	case ControlCommit:
		return "commit"
	}
	return fmt.Sprintf("ControlType(%d)", int16(t))
}

// ParseControlKey reads the key of a control record.
func ParseControlKey(key []byte) (ControlType, error) {
	if len(key) < 4 {
		return 0, corruptf("control key of %d bytes", len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != 0 {
		return 0, corruptf("control key version %d", v)
	}
	return ControlType(binary.BigEndian.Uint16(key[2:])), nil
}

// BuildMarker appends a control batch of one transaction marker of type
// t, written by the producer of h (ProducerID, ProducerEpoch) at ts (ms),
// for the coordinator epoch given. h's base offset and leader epoch are
// kept; its attributes become transactional and control.
func BuildMarker(dst []byte, h Header, t ControlType, coordinatorEpoch int32, ts int64) []byte {
	key := binary.BigEndian.AppendUint16(make([]byte, 2, 4), uint16(t))
	value := binary.BigEndian.AppendUint32(make([]byte, 2, 6), uint32(coordinatorEpoch))
	h.Attributes = attrTransactional | attrControl
	var b Builder
	b.Reset(dst)
	b.Add(0, ts, key, value, nil)
	return b.Finish(h)
}
