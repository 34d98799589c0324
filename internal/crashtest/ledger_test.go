package crashtest

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// msgID names one message ever sent: its producer and that producer's
// sequence number. Every message is sent at most once (a publish that got no
// answer is never retried), so a msgID may be stored at most once.
type msgID struct {
	Producer int `json:"p"`
	Seq      int `json:"s"`
}

func (id msgID) String() string { return fmt.Sprintf("p%d/s%d", id.Producer, id.Seq) }

// unacked is the offset of a message sent without an acknowledgement.
const unacked = -1

// sent is what the test knows about one message: the partition its key maps
// to and, once the broker acknowledged it, the offset it was given.
type sent struct {
	Partition int32
	Offset    int64 // unacked until a 2xx answer names it
}

// ledger records every message sent and every acknowledgement. It is shared
// by the producers; mu guards every field.
type ledger struct {
	mu    sync.Mutex
	msgs  map[msgID]sent
	acked int
	// changed is closed and replaced at each acknowledgement, so the kill
	// loop can wait for a count without polling.
	changed chan struct{}
}

func newLedger() *ledger {
	return &ledger{msgs: make(map[msgID]sent), changed: make(chan struct{})}
}

// send notes messages about to be published.
func (l *ledger) send(ids []msgID, parts []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, id := range ids {
		l.msgs[id] = sent{Partition: parts[i], Offset: unacked}
	}
}

// ack notes the offsets a 2xx answer gave.
func (l *ledger) ack(ids []msgID, offs []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, id := range ids {
		s := l.msgs[id]
		s.Offset = offs[i]
		l.msgs[id] = s
	}
	l.acked += len(ids)
	close(l.changed)
	l.changed = make(chan struct{})
}

// count returns how many messages were acknowledged so far.
func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

// waitAcked blocks until n messages were acknowledged (true), or ctx ends,
// stop is closed or timeout passes (false).
func (l *ledger) waitAcked(ctx context.Context, stop <-chan struct{}, n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		done, ch := l.acked >= n, l.changed
		l.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		case <-deadline.C:
			return false
		}
	}
}

// snapshot copies the record of every message sent.
func (l *ledger) snapshot() map[msgID]sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[msgID]sent, len(l.msgs))
	for id, s := range l.msgs {
		out[id] = s
	}
	return out
}

// highWatermarks returns, per partition, one past the highest acknowledged
// offset: the least high watermark a restarted broker may report.
func (l *ledger) highWatermarks() map[int32]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int32]int64)
	for _, s := range l.msgs {
		if s.Offset != unacked && s.Offset+1 > out[s.Partition] {
			out[s.Partition] = s.Offset + 1
		}
	}
	return out
}
