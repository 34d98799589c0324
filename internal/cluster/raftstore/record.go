package raftstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A WAL segment is a sequence of records:
//
//	length uint32 (of kind+payload) | crc uint32 (Castagnoli, of kind+payload) | kind byte | payload
//
// Payloads are protobuf encodings of raftpb types (a kindEntryRef's after a
// small header). A record that is short or
// fails its CRC at the end of the last segment is a torn write and is cut
// off; anywhere else it is corruption.
type recordKind byte

const (
	kindEntry     recordKind = 1 // raftpb.Entry; overwrites the log from its index on
	kindHardState recordKind = 2 // raftpb.HardState; the last one wins
	// kindReset is a raftpb.SnapshotMetadata (index, term): the log restarts
	// empty after that position. It heads every segment that rotation writes.
	kindReset recordKind = 3
	// kindEntryRef is an entry whose data a Data keeps: its index, term,
	// type and reference, and the data's length and CRC (appendRef). Like
	// kindEntry, it overwrites the log from its index on.
	kindEntryRef recordKind = 4
)

const headerLen = 8

// maxRecord bounds a record's length so a corrupt length cannot make replay
// allocate gigabytes.
const maxRecord = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn says a record is incomplete or fails its checksum.
var errTorn = errors.New("torn or corrupt record")

// sealRecord writes the header of the record that starts at dst[start] and
// whose payload runs from after its header to the end of dst, so that a
// payload can be encoded in place instead of copied in.
func sealRecord(dst []byte, start int, kind recordKind) []byte {
	r := dst[start:]
	r[headerLen] = byte(kind)
	binary.LittleEndian.PutUint32(r[0:4], uint32(len(r)-headerLen))
	binary.LittleEndian.PutUint32(r[4:8], crc32.Checksum(r[headerLen:], castagnoli))
	return dst
}

// readRecord decodes the record at the start of b and returns its kind,
// payload (aliasing b) and total length, or errTorn.
func readRecord(b []byte) (recordKind, []byte, int, error) {
	if len(b) < headerLen+1 {
		return 0, nil, 0, errTorn
	}
	n := int(binary.LittleEndian.Uint32(b[0:4]))
	if n < 1 || n > maxRecord || len(b) < headerLen+n {
		return 0, nil, 0, errTorn
	}
	body := b[headerLen : headerLen+n]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, nil, 0, errTorn
	}
	return recordKind(body[0]), body[1:], headerLen + n, nil
}
