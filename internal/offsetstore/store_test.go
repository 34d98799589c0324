package offsetstore

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
	s, err := Open(dir, commitlog.FsyncAlways)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for p := range 20 {
				w := Write{Group: fmt.Sprintf("g%d", g), TP: delivery.TP{Topic: "t", Partition: int32(p)},
					Offset: Offset{Seq: s.Next(), Committed: int64(p), Acked: []delivery.Range{{From: 100, To: 102}}}}
				if err := s.Write([]Write{w}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	tp := delivery.TP{Topic: "t", Partition: 0}
	older := Write{Group: "g0", TP: tp, Offset: Offset{Seq: 0, Committed: 999}} // before any seq handed out
	if err := s.Write([]Write{older}); err != nil {
		t.Fatal(err)
	}
	staleDelete := Write{Group: "g1", TP: tp, Delete: true, Offset: Offset{Seq: 0}}
	if err := s.Write([]Write{staleDelete}); err != nil {
		t.Fatal(err)
	}
	newDelete := Write{Group: "g2", TP: tp, Delete: true, Offset: Offset{Seq: s.Next()}}
	if err := s.Write([]Write{newDelete}); err != nil {
		t.Fatal(err)
	}
	last := s.seq.Load()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, commitlog.FsyncAlways)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Load()
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
	if err := s.DeleteGroup("g3"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup("never"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); got["g3"] != nil {
		t.Fatal("deleted group still stored")
	}
}
