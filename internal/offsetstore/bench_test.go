package offsetstore

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// BenchmarkWriteJournal is the ack path under fsync=interval and never:
// one partition's snapshot encoded and written to the journal.
func BenchmarkWriteJournal(b *testing.B) {
	s, err := Open(b.TempDir(), commitlog.FsyncNever)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	acked := []delivery.Range{{From: 1002, To: 1004}, {From: 1010, To: 1010}}
	for b.Loop() {
		w := Write{Group: "orders-svc", TP: delivery.TP{Topic: "orders", Partition: 3},
			Offset: Offset{Seq: s.Next(), Committed: 1000, Acked: acked, Born: 1700000000000}}
		if err := s.Write([]Write{w}); err != nil {
			b.Fatal(err)
		}
	}
}
