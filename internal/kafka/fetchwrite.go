package kafka

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A fetch response is mostly stored batches. Encoded by kmsg, they are
// copied into the response buffer: megabytes per fetch, allocated, zeroed
// and moved while the consumer waits for them. appendFetch encodes the
// response's own fields only and leaves each partition's batches where
// ReadBatches put them; the connection writes the pieces with one writev.

// inlineBatches is the size under which a partition's batches are copied
// into the encoding anyway: a writev entry costs more than copying them.
const inlineBatches = 4 << 10

// fetchCut is a partition's batches, left out of a fetch response's
// encoding: they go on the wire where the encoding is at bytes.
type fetchCut struct {
	at    int
	bytes []byte
}

// vectorable reports whether appendFetch writes r exactly as kmsg would:
// it writes what readFetch fills in, and kmsg encodes anything else
// (aborted transactions, tagged fields), which GoQueue never sends today.
func vectorable(r *kmsg.FetchResponse) bool {
	if r.Version < 4 || r.Version > 16 || r.UnknownTags.Len() > 0 || len(r.Brokers) > 0 {
		return false
	}
	for i := range r.Topics {
		t := &r.Topics[i]
		if t.UnknownTags.Len() > 0 {
			return false
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			d, l, s := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
			switch {
			case p.AbortedTransactions != nil, p.UnknownTags.Len() > 0,
				d.Epoch != -1 || d.EndOffset != -1 || d.UnknownTags.Len() > 0,
				l.LeaderID != -1 || l.LeaderEpoch != -1 || l.UnknownTags.Len() > 0,
				s.EndOffset != -1 || s.Epoch != -1 || s.UnknownTags.Len() > 0:
				return false
			}
		}
	}
	return true
}

// appendFetch appends r's encoding (as kmsg's AppendTo, for a response
// vectorable accepts) to dst, except for the batches of inlineBatches
// bytes or more, which it appends to cuts instead.
func appendFetch(dst []byte, r *kmsg.FetchResponse, cuts []fetchCut) ([]byte, []fetchCut) {
	flexible := r.Version >= 12
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(r.ThrottleMillis))
	if r.Version >= 7 {
		dst = be.AppendUint16(dst, uint16(r.ErrorCode))
		dst = be.AppendUint32(dst, uint32(r.SessionID))
	}
	dst = appendLen(dst, len(r.Topics), flexible)
	for i := range r.Topics {
		t := &r.Topics[i]
		if r.Version >= 13 {
			dst = append(dst, t.TopicID[:]...)
		} else if flexible {
			dst = binary.AppendUvarint(dst, uint64(len(t.Topic))+1)
			dst = append(dst, t.Topic...)
		} else {
			dst = be.AppendUint16(dst, uint16(len(t.Topic)))
			dst = append(dst, t.Topic...)
		}
		dst = appendLen(dst, len(t.Partitions), flexible)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = be.AppendUint32(dst, uint32(p.Partition))
			dst = be.AppendUint16(dst, uint16(p.ErrorCode))
			dst = be.AppendUint64(dst, uint64(p.HighWatermark))
			dst = be.AppendUint64(dst, uint64(p.LastStableOffset))
			if r.Version >= 5 {
				dst = be.AppendUint64(dst, uint64(p.LogStartOffset))
			}
			dst = appendLen(dst, -1, flexible) // no aborted transactions: null
			if r.Version >= 11 {
				dst = be.AppendUint32(dst, uint32(p.PreferredReadReplica))
			}
			if p.RecordBatches == nil {
				dst = appendLen(dst, -1, flexible)
			} else {
				dst = appendLen(dst, len(p.RecordBatches), flexible)
				if len(p.RecordBatches) < inlineBatches {
					dst = append(dst, p.RecordBatches...)
				} else {
					cuts = append(cuts, fetchCut{at: len(dst), bytes: p.RecordBatches})
				}
			}
			if flexible {
				dst = append(dst, 0) // no tagged fields
			}
		}
		if flexible {
			dst = append(dst, 0)
		}
	}
	if flexible {
		dst = append(dst, 0)
	}
	return dst, cuts
}

// appendLen appends an array's or bytes' length, -1 for null: an int32, or
// a uvarint of n+1 in flexible versions.
func appendLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(dst, uint64(n+1))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(int32(n)))
}
