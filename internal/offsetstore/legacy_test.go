package offsetstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// copyDir copies the files of testdata/name into a fresh temporary
// directory, since opening a store changes it.
func copyDir(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata", name, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testdata/legacy-json is a data dir written by the broker before this
// package existed, when values and journal frames were JSON, under
// fsync=interval and left as a crash leaves it: offsets.db holds a
// checkpoint (partitions with acked ranges and born, a partition tombstone,
// a deleted group), and the journal holds writes since (one stale, one
// partition deletion). It opens under every policy with what the old code
// would have loaded, and later writes in the new encoding mix with the old
// values.
func TestOpensLegacyJSONDataDir(t *testing.T) {
	const born = 1700000000000
	want := map[string]map[delivery.TP]Offset{
		"orders-svc": {
			{Topic: "orders", Partition: 0}: {Seq: 1, Committed: 4, Acked: []delivery.Range{{From: 6, To: 6}, {From: 9, To: 11}}, Born: born},
			{Topic: "orders", Partition: 1}: {Seq: 7, Committed: 20, Acked: []delivery.Range{{From: 22, To: 22}}, Born: born},
		},
		"audit": {
			{Topic: "orders", Partition: 0}: {Seq: 8, Committed: 3, Born: born},
		},
	}
	for _, policy := range []commitlog.FsyncPolicy{commitlog.FsyncAlways, commitlog.FsyncInterval, commitlog.FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := copyDir(t, "legacy-json")
			s, err := Open(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("legacy data dir (-want +got):\n%s", diff)
			}
			if n := s.Next(); n <= 10 {
				t.Fatalf("next seq %d, not above the stored 10", n)
			}
			// A stale write is still dropped against a JSON value; a
			// newer one replaces it in the new encoding.
			tp0, tp1 := delivery.TP{Topic: "orders", Partition: 0}, delivery.TP{Topic: "orders", Partition: 1}
			if err := s.Write([]Write{
				{Group: "orders-svc", TP: tp0, Offset: Offset{Seq: 0, Committed: 999}},
				{Group: "orders-svc", TP: tp1, Offset: Offset{Seq: s.Next(), Committed: 21}},
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(dir, policy); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err = s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if so := got["orders-svc"][tp0]; so.Committed != 4 {
				t.Errorf("orders/0 = %+v: a stale write replaced a JSON value", so)
			}
			if so := got["orders-svc"][tp1]; so.Committed != 21 || so.Acked != nil {
				t.Errorf("orders/1 = %+v, want committed 21", so)
			}
		})
	}
}

// Both encodings of a value and of a journal payload decode to the same.
func TestCodecReadsBothEncodings(t *testing.T) {
	off := Offset{Seq: 7, Committed: 20, Acked: []delivery.Range{{From: 22, To: 22}}, Born: 1700000000000}
	for _, b := range [][]byte{
		[]byte(`{"seq":7,"committed":20,"acked":[{"From":22,"To":22}],"born":1700000000000}`),
		encodeValue(off, false),
	} {
		got, deleted, err := decodeValue(b)
		if err != nil || deleted || !cmp.Equal(got, off) {
			t.Errorf("decodeValue(%q) = %+v, %v, %v", b, got, deleted, err)
		}
	}
	if _, deleted, err := decodeValue([]byte(`{"seq":4,"committed":0,"deleted":true}`)); err != nil || !deleted {
		t.Errorf("legacy tombstone: deleted %v, %v", deleted, err)
	}
	ops := []op{
		{Write: Write{Group: "g", TP: delivery.TP{Topic: "t", Partition: 2}, Offset: off}},
		{Write: Write{Group: "g", TP: delivery.TP{Topic: "t", Partition: 3}, Offset: Offset{Seq: 8}, Delete: true}},
		{Write: Write{Group: "h", Offset: Offset{Seq: 9}}, deleteGroup: true},
	}
	legacy := `[{"g":"g","t":"t","p":2,"o":{"seq":7,"committed":20,"acked":[{"From":22,"To":22}],"born":1700000000000}},` +
		`{"g":"g","t":"t","p":3,"o":{"seq":8,"committed":0},"d":true},{"g":"h","o":{"seq":9,"committed":0},"dg":true}]`
	for _, b := range [][]byte{[]byte(legacy), encodePayload(ops)} {
		got, err := decodePayload(b)
		if err != nil || !cmp.Equal(got, ops, cmp.AllowUnexported(op{})) {
			t.Errorf("decodePayload(%q) = %+v, %v", b, got, err)
		}
	}
}
