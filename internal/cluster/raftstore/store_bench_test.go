package raftstore

import (
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// BenchmarkStore measures the WAL's two writers: Save of a Ready's entries
// (produce batches of 64 KiB, 16 per Ready; written, not synced), and a
// snapshot that keeps 4 MiB of entries behind it, as a partition's group
// does: a Save of one more entry, the snapshot file, and the rotation that
// writes the kept entries into a new segment (two file syncs, two
// directory syncs). save-external is save with a Data that keeps every
// entry's data: what the WAL's side of the single log costs.
func BenchmarkStore(b *testing.B) {
	data := make([]byte, 64<<10)
	batch := func(first uint64, n int) []*pb.Entry {
		ents := make([]*pb.Entry, n)
		for i := range ents {
			ents[i] = &pb.Entry{Index: new(first + uint64(i)), Term: new(uint64(1)), Data: data}
		}
		return ents
	}
	// save-external: the Data discards the data; the WAL writes
	// references, and the store checksums each entry's data.
	for _, c := range []struct {
		name string
		data Data
	}{{"save", nil}, {"save-external", discardData{}}} {
		b.Run(c.name, func(b *testing.B) { benchSave(b, c.data, batch, len(data)) })
	}
	b.Run("rotate", func(b *testing.B) {
		s, err := Open(vfs.OS{}, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		const kept = 64 // 4 MiB of entries stay behind each snapshot
		if err := s.Save(&pb.HardState{Term: new(uint64(1)), Commit: new(uint64(kept))}, batch(1, kept)); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(kept * int64(len(data)))
		b.ReportAllocs()
		next := uint64(kept + 1)
		for b.Loop() {
			// One more entry, applied, then a snapshot at it that keeps
			// the last kept entries.
			if err := s.Save(&pb.HardState{Term: new(uint64(1)), Commit: new(next)}, batch(next, 1)); err != nil {
				b.Fatal(err)
			}
			if err := s.CreateSnapshot(next, &pb.ConfState{Voters: []uint64{1}}, nil, kept); err != nil {
				b.Fatal(err)
			}
			next++
		}
	})
}

func benchSave(b *testing.B, d Data, batch func(first uint64, n int) []*pb.Entry, size int) {
	s, err := OpenData(vfs.OS{}, b.TempDir(), d)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(16 * int64(size))
	b.ReportAllocs()
	next := uint64(1)
	for b.Loop() {
		if err := s.Save(&pb.HardState{Term: new(uint64(1)), Commit: new(next)}, batch(next, 16)); err != nil {
			b.Fatal(err)
		}
		next += 16
		if (next-1)%4096 == 0 { // keep the in-memory log bounded: 256 MiB
			b.StopTimer()
			if err := s.CreateSnapshot(next-1, &pb.ConfState{Voters: []uint64{1}}, nil, 0); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// discardData is a Data that keeps nothing: a reference of 8 bytes, as an
// offset would be.
type discardData struct{}

func (discardData) Put(*pb.Entry) ([]byte, bool, error) { return make([]byte, 8), true, nil }
func (discardData) Cut(uint64) error                    { return nil }
func (discardData) Get(uint64, []byte) ([]byte, error)  { return nil, ErrDataMissing }
func (discardData) Sync() error                         { return nil }
