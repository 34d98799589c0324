package multiraft_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// simEntries is a multiraft.EntryStore on a simulated disk, as a
// partition's commitlog is one on a real one: commands appended to a file
// of CRC-checked records, a reference their position, a cut a truncation.
// It declines some entries (every seventh from the third), which the WAL
// then keeps whole, so a group's log mixes both kinds. A crash takes what
// was not synced of the file, as of the WAL.
type simEntries struct {
	disk   vfs.FS
	name   string
	f      vfs.File // open for appending; nil until the first store after a start or cut
	size   int64    // the file's length as this incarnation wrote it
	stored []simStored
}

type simStored struct {
	index uint64
	pos   int64
}

var simCRC = crc32.MakeTable(crc32.Castagnoli)

func newSimEntries(disk vfs.FS, group uint64) *simEntries {
	return &simEntries{disk: disk, name: fmt.Sprintf("/data/entries-%d", group)}
}

// open opens the file for appending, creating it durably if it is missing.
func (s *simEntries) open() error {
	if s.f != nil {
		return nil
	}
	b, err := s.disk.ReadFile(s.name)
	switch {
	case err == nil:
		s.size = int64(len(b))
		s.f, err = s.disk.Append(s.name)
		return err
	case !isNotExist(err):
		return err
	}
	if s.f, err = s.disk.Create(s.name); err != nil {
		return err
	}
	s.size = 0
	return s.disk.SyncDir("/data")
}

func (s *simEntries) StoreEntry(index uint64, cmd []byte) ([]byte, bool, error) {
	if index%7 == 3 {
		return nil, false, nil
	}
	if err := s.open(); err != nil {
		return nil, false, err
	}
	rec := binary.BigEndian.AppendUint32(nil, uint32(len(cmd)))
	rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(cmd, simCRC))
	rec = append(rec, cmd...)
	if _, err := s.f.Write(rec); err != nil {
		return nil, false, err
	}
	ref := binary.BigEndian.AppendUint64(nil, uint64(s.size))
	s.stored = append(s.stored, simStored{index, s.size})
	s.size += int64(len(rec))
	return ref, true, nil
}

func (s *simEntries) LoadEntry(index uint64, ref []byte) ([]byte, error) {
	if len(ref) != 8 {
		return nil, fmt.Errorf("entry %d: a reference of %d bytes", index, len(ref))
	}
	pos := int64(binary.BigEndian.Uint64(ref))
	b, err := s.disk.ReadFile(s.name)
	if err != nil && !isNotExist(err) {
		return nil, err
	}
	if pos+8 > int64(len(b)) {
		return nil, fmt.Errorf("entry %d at %d past the file's %d bytes: %w", index, pos, len(b), multiraft.ErrEntryMissing)
	}
	n := int64(binary.BigEndian.Uint32(b[pos:]))
	if pos+8+n > int64(len(b)) || crc32.Checksum(b[pos+8:pos+8+n], simCRC) != binary.BigEndian.Uint32(b[pos+4:]) {
		return nil, fmt.Errorf("entry %d at %d torn: %w", index, pos, multiraft.ErrEntryMissing)
	}
	for len(s.stored) > 0 && s.stored[len(s.stored)-1].index >= index {
		s.stored = s.stored[:len(s.stored)-1]
	}
	s.stored = append(s.stored, simStored{index, pos})
	return b[pos+8 : pos+8+n], nil
}

func (s *simEntries) CutEntries(index uint64) error {
	k := len(s.stored)
	for k > 0 && s.stored[k-1].index >= index {
		k--
	}
	if k == len(s.stored) {
		return nil
	}
	pos := s.stored[k].pos
	s.stored = s.stored[:k]
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			return err
		}
		s.f = nil
	}
	return s.disk.Truncate(s.name, pos)
}

func (s *simEntries) SyncEntries() error {
	if s.f == nil {
		return nil
	}
	return s.f.Sync()
}

func (s *simEntries) KeptInWAL(uint64)    {}
func (s *simEntries) SnapshotArrived()    {}
func (s *simEntries) SnapshotSaved()      {}
func (s *simEntries) WantsSnapshot() bool { return false }

func isNotExist(err error) bool { return errors.Is(err, vfs.ErrNotExist) }

// storedKV is a kv whose group keeps its commands in a simEntries.
type storedKV struct {
	*kv
	*simEntries
}

// kvOf is the kv of a state machine of the simulation.
func kvOf(sm multiraft.StateMachine) *kv {
	if s, ok := sm.(storedKV); ok {
		return s.kv
	}
	return sm.(*kv)
}
