package broker

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

func TestOffsetKeyRoundTrip(t *testing.T) {
	for _, tp := range []delivery.TP{{Topic: "orders", Partition: 0}, {Topic: "a.b-c_d", Partition: 1023}, {Topic: "x", Partition: 1<<31 - 1}} {
		got, ok := parseOffsetKey(offsetKey(tp))
		if !ok || got != tp {
			t.Fatalf("round trip of %+v: %+v %v", tp, got, ok)
		}
	}
	for _, bad := range []string{"", "abc", "orders\x01\x00\x00\x00\x00"} {
		if _, ok := parseOffsetKey([]byte(bad)); ok {
			t.Fatalf("parsed bad key %q", bad)
		}
	}
}

// Concurrent writers all become durable (one transaction may carry many),
// a write with an older sequence number never overwrites a newer one, and
// deletions follow the same rule.
func TestOffsetStoreWritesAndOrders(t *testing.T) {
	dir := t.TempDir()
	s, err := openOffsets(dir, commitlog.FsyncAlways)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for p := range 20 {
				w := offsetWrite{group: fmt.Sprintf("g%d", g), tp: delivery.TP{Topic: "t", Partition: int32(p)},
					off: storedOffset{Seq: s.next(), Committed: int64(p), Acked: []delivery.Range{{From: 100, To: 102}}}}
				if err := s.write([]offsetWrite{w}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	tp := delivery.TP{Topic: "t", Partition: 0}
	older := offsetWrite{group: "g0", tp: tp, off: storedOffset{Seq: 0, Committed: 999}} // before any seq handed out
	if err := s.write([]offsetWrite{older}); err != nil {
		t.Fatal(err)
	}
	staleDelete := offsetWrite{group: "g1", tp: tp, del: true, off: storedOffset{Seq: 0}}
	if err := s.write([]offsetWrite{staleDelete}); err != nil {
		t.Fatal(err)
	}
	newDelete := offsetWrite{group: "g2", tp: tp, del: true, off: storedOffset{Seq: s.next()}}
	if err := s.write([]offsetWrite{newDelete}); err != nil {
		t.Fatal(err)
	}
	last := s.seq.Load()
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	s, err = openOffsets(dir, commitlog.FsyncAlways)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	got, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Fatalf("%d groups", len(got))
	}
	for g := range 8 {
		want := 20
		if g == 2 {
			want = 19
		}
		if n := len(got[fmt.Sprintf("g%d", g)]); n != want {
			t.Fatalf("group g%d has %d partitions, want %d", g, n, want)
		}
	}
	if so := got["g0"][tp]; so.Committed != 0 || !cmp.Equal(so.Acked, []delivery.Range{{From: 100, To: 102}}) {
		t.Fatalf("g0 t/0 = %+v: an older write won", so)
	}
	if _, ok := got["g1"][tp]; !ok {
		t.Fatal("a stale deletion removed a newer offset")
	}
	if s.seq.Load() < last-1 {
		t.Fatalf("seq %d after reopen, below stored %d", s.seq.Load(), last)
	}
	if err := s.deleteGroup("g3"); err != nil {
		t.Fatal(err)
	}
	if err := s.deleteGroup("never"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.load(); got["g3"] != nil {
		t.Fatal("deleted group still stored")
	}
}
