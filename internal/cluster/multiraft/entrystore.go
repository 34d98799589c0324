package multiraft

import (
	"errors"
	"fmt"
	"math"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/raftstore"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// EntryStore is a StateMachine that keeps its entries' commands itself (a
// partition's commitlog), so that its group's WAL holds only where each
// one is: the data is written once. AddReplica asks for it once. The host
// calls it on its loop, except SyncEntries (see there).
type EntryStore interface {
	// StoreEntry stores the command of entry index as Raft persists it,
	// before it commits, and returns a reference to it (a few bytes the
	// WAL keeps), or declines (ok false): the WAL then keeps the entry
	// whole. Entries come in index order; one may replace entries from
	// its index on (CutEntries is called first). An error stops the host.
	StoreEntry(index uint64, cmd []byte) (ref []byte, ok bool, err error)
	// LoadEntry returns the command StoreEntry stored at ref, as the WAL
	// is replayed when the group starts (before Restore). An error
	// wrapping ErrEntryMissing says the command was lost with an unsynced
	// tail: the entry and those after it are dropped as a torn WAL tail.
	LoadEntry(index uint64, ref []byte) ([]byte, error)
	// CutEntries drops the commands stored for entries from index on: a
	// new leader's entries replace them.
	CutEntries(index uint64) error
	// SyncEntries makes every stored command durable; the host calls it
	// before syncing the WAL that refers to them, possibly on another
	// goroutine than its loop (Host.FlushLater), beside StoreEntry.
	SyncEntries() error
	// KeptInWAL says entry index, replayed from the WAL when the group
	// starts, has a command the WAL keeps whole (StoreEntry declined it,
	// or stored none then): called in index order after the replay, for
	// the entries after the snapshot.
	KeptInWAL(index uint64)
	// SnapshotArrived says a snapshot is replacing the group's Raft log
	// and will be given to Restore in this pass: entries persisted until
	// then are the WAL's to keep. It is called before the group's store
	// records the snapshot, so the store may first drop durably the
	// commands it stored and did not apply (uncommitted, and replaced):
	// a crash before Restore must not leave them where the restart
	// would take them for the snapshot's.
	SnapshotArrived()
	// SnapshotSaved says the snapshot Snapshot returned last is saved: a
	// restart replays only the entries after it, so the commands before
	// it need not be kept for the WAL any more.
	SnapshotSaved()
	// WantsSnapshot reports whether a snapshot would let the store drop
	// commands it keeps only for the WAL (a partition's retention waits
	// for one); the host then takes one once an entry was applied since
	// the last.
	WantsSnapshot() bool
}

// ErrEntryMissing is LoadEntry's answer for a command the store lost.
var ErrEntryMissing = errors.New("multiraft: entry's command lost")

// entryData adapts an EntryStore to raftstore.Data: the proposal header
// stays in the reference, the command goes to the store. loaded are the
// entries the store's replay read back (Get), in index order.
type entryData struct {
	es     EntryStore
	inWAL  bool // Config.EntriesInWAL: Put declines every entry
	loaded []uint64
}

// keptInWAL tells es which entries after the snapshot, as store replayed
// them, keep their commands in the WAL.
func (d *entryData) keptInWAL(store *raftstore.Store) error {
	first, err := store.FirstIndex()
	if err != nil {
		return err
	}
	last, err := store.LastIndex()
	if err != nil || last < first {
		return err
	}
	ents, err := store.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		return err
	}
	loaded := d.loaded
	for _, e := range ents {
		for len(loaded) > 0 && loaded[0] < e.GetIndex() {
			loaded = loaded[1:]
		}
		if len(loaded) > 0 && loaded[0] == e.GetIndex() {
			continue
		}
		if _, cmd, ok := parseHeader(e.GetData()); ok && len(cmd) > 0 && e.GetType() == pb.EntryNormal {
			d.es.KeptInWAL(e.GetIndex())
		}
	}
	d.loaded = nil
	return nil
}

func (d *entryData) Put(e *pb.Entry) ([]byte, bool, error) {
	if d.inWAL || e.GetType() != pb.EntryNormal {
		return nil, false, nil
	}
	data := e.GetData()
	_, cmd, ok := parseHeader(data)
	if !ok || len(cmd) == 0 {
		return nil, false, nil
	}
	ref, ok, err := d.es.StoreEntry(e.GetIndex(), cmd)
	if err != nil || !ok {
		return nil, false, err
	}
	out := make([]byte, 0, headerLen+len(ref))
	return append(append(out, data[:headerLen]...), ref...), true, nil
}

func (d *entryData) Get(index uint64, ref []byte) ([]byte, error) {
	if len(ref) < headerLen {
		return nil, fmt.Errorf("multiraft: entry %d: a reference of %d bytes", index, len(ref))
	}
	cmd, err := d.es.LoadEntry(index, ref[headerLen:])
	if err != nil {
		if errors.Is(err, ErrEntryMissing) {
			err = fmt.Errorf("%w: %w", raftstore.ErrDataMissing, err)
		}
		return nil, err
	}
	d.loaded = append(d.loaded, index)
	out := make([]byte, 0, headerLen+len(cmd))
	return append(append(out, ref[:headerLen]...), cmd...), nil
}

func (d *entryData) Cut(index uint64) error { return d.es.CutEntries(index) }
func (d *entryData) Sync() error            { return d.es.SyncEntries() }

// openStore opens a group's store, keeping its entries' commands in data
// (nil: in the WAL), and tells data's state machine which entries after
// the snapshot the WAL keeps whole.
func openStore(fsys vfs.FS, dir string, data *entryData) (*raftstore.Store, error) {
	if data == nil {
		return raftstore.Open(fsys, dir)
	}
	store, err := raftstore.OpenData(fsys, dir, data)
	if err != nil {
		return nil, err
	}
	if err := data.keptInWAL(store); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}
