package kafka_test

import (
	"time"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// fixBatch sets the length and CRC of a batch kmsg encoded with neither.
func fixBatch(b []byte) {
	n := uint32(len(b) - recordbatch.LengthFieldEnd)
	b[8], b[9], b[10], b[11] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	recordbatch.SetCRC(b)
}

// timeAt is a fixed base time plus ms milliseconds.
func timeAt(ms int64) time.Time { return time.UnixMilli(1_700_000_000_000 + ms) }
