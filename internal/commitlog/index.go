package commitlog

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// indexEntry locates one batch inside a segment. A segment gets an entry for
// the first batch that starts IndexIntervalBytes or more after the previous
// entry's batch (the batch at position 0 needs none), so entries are sparse
// and strictly increasing in rel, pos and (non-strictly) tsBefore.
//
// On disk, entries live in two files, as in Kafka: the .index file holds
// (rel uint32, pos uint32) pairs and the .timeindex file holds
// (tsBefore int64, rel uint32) pairs, big-endian, one pair per entry.
type indexEntry struct {
	rel      uint32 // batch base offset minus the segment base offset
	pos      uint32 // byte position of the batch in the .log file
	tsBefore int64  // largest record timestamp of all batches before pos; -1 if none
}

const (
	offsetEntryLen = 8
	timeEntryLen   = 12
)

// lookupOffset returns the entry to start scanning from for the batch holding
// relative offset rel: the last entry whose rel is <= rel, or the segment start.
func lookupOffset(idx []indexEntry, rel uint32) indexEntry {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].rel > rel })
	if i == 0 {
		return indexEntry{tsBefore: -1}
	}
	return idx[i-1]
}

// lookupTime returns the entry to start scanning from for the first record
// with timestamp >= ts: the last entry all of whose earlier batches are older
// than ts, or the segment start.
func lookupTime(idx []indexEntry, ts int64) indexEntry {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].tsBefore >= ts })
	if i == 0 {
		return indexEntry{tsBefore: -1}
	}
	return idx[i-1]
}

// marshalIndex encodes idx as the contents of the .index and .timeindex files.
func marshalIndex(idx []indexEntry) (offsets, times []byte) {
	offsets = make([]byte, 0, len(idx)*offsetEntryLen)
	times = make([]byte, 0, len(idx)*timeEntryLen)
	for _, e := range idx {
		offsets = binary.BigEndian.AppendUint32(offsets, e.rel)
		offsets = binary.BigEndian.AppendUint32(offsets, e.pos)
		times = binary.BigEndian.AppendUint64(times, uint64(e.tsBefore))
		times = binary.BigEndian.AppendUint32(times, e.rel)
	}
	return offsets, times
}

// unmarshalIndex decodes the two index files of a segment of size bytes and
// checks that they describe a plausible index: same entry count, strictly
// increasing offsets and positions inside the segment, non-decreasing
// timestamps. Anything else is an error, and the caller rebuilds the index.
func unmarshalIndex(offsets, times []byte, size int64) ([]indexEntry, error) {
	if len(offsets)%offsetEntryLen != 0 || len(times)%timeEntryLen != 0 ||
		len(offsets)/offsetEntryLen != len(times)/timeEntryLen {
		return nil, fmt.Errorf("index sizes %d and %d do not match", len(offsets), len(times))
	}
	idx := make([]indexEntry, len(offsets)/offsetEntryLen)
	prev := indexEntry{tsBefore: -1}
	for i := range idx {
		o, t := offsets[i*offsetEntryLen:], times[i*timeEntryLen:]
		e := indexEntry{
			rel:      binary.BigEndian.Uint32(o),
			pos:      binary.BigEndian.Uint32(o[4:]),
			tsBefore: int64(binary.BigEndian.Uint64(t)),
		}
		if binary.BigEndian.Uint32(t[8:]) != e.rel {
			return nil, fmt.Errorf("index entry %d: time index offset differs", i)
		}
		if e.rel <= prev.rel || e.pos <= prev.pos || int64(e.pos) >= size || e.tsBefore < prev.tsBefore {
			return nil, fmt.Errorf("index entry %d out of order", i)
		}
		idx[i], prev = e, e
	}
	return idx, nil
}
