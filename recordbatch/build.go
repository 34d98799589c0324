package recordbatch

import "encoding/binary"

// Build appends one batch of recs to dst, with h's base offset, leader
// epoch, timestamps, producer fields and timestamp type/transactional/control
// attribute bits, compressing the records with c. It sets the record count,
// last offset delta, length and CRC itself, and fills recs' offset deltas
// 0..n-1. It fails only if compression does.
func Build(dst []byte, h Header, c Codec, recs []Record) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	var raw []byte
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
		raw = AppendRecord(raw, &recs[i])
	}
	var err error
	if dst, err = Compress(dst, c, raw); err != nil {
		return nil, err
	}
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint64(b[OffBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[OffLength:], uint32(len(b)-LengthFieldEnd))
	be.PutUint32(b[OffLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[OffMagic] = Magic
	attrs := uint16(h.Attributes)&^attrCompressionMask | uint16(c)
	be.PutUint16(b[OffAttributes:], attrs)
	be.PutUint32(b[OffLastOffsetDelta:], uint32(len(recs)-1))
	be.PutUint64(b[OffFirstTimestamp:], uint64(h.FirstTimestamp))
	be.PutUint64(b[OffMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[OffProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[OffProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[OffBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[OffRecordCount:], uint32(len(recs)))
	SetCRC(b)
	return dst, nil
}
