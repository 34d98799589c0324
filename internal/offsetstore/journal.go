package offsetstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// journal is the write-ahead file of the Store under fsync=interval
// and never. An ack's offsets are one write(2) to it (in the OS, so they
// survive a process crash) and are checkpointed into offsets.db, with its
// fsyncs, every interval in the background. offsets.db is therefore always
// a synced, consistent bolt file (bolt's NoSync could leave it unopenable
// after a power loss); a power loss costs at most the journal's unsynced
// tail: acks of up to one interval, delivered again.
//
// Files are offsets-<n>.journal; a checkpoint starts file n+1 before it
// commits the ops of file n, and removes file n after. Open replays every
// file left, in order, into offsets.db: ops carry seq and are idempotent.
//
// Frame: length uint32 | CRC-32C of the payload uint32 | payload (the ops,
// see codec.go). A torn or corrupt frame ends the file's replay.
type journal struct {
	dir string // immutable

	mu  sync.Mutex // guards every field below
	f   *os.File   // the current file
	n   uint64     // the current file's number
	ops []op       // written to files ≤ n since the last checkpoint, in order
	old []string   // files whose ops are in ops, to remove at the next checkpoint
}

const journalFrameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func journalName(n uint64) string { return fmt.Sprintf("offsets-%016d.journal", n) }

// journalFiles returns the journal files in dir, oldest first, and the
// highest number among them.
func journalFiles(dir string) ([]string, uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var names []string
	var last uint64
	for _, e := range ents {
		var n uint64
		if _, err := fmt.Sscanf(e.Name(), "offsets-%016d.journal", &n); err != nil || e.Name() != journalName(n) {
			continue
		}
		names = append(names, filepath.Join(dir, e.Name()))
		last = max(last, n)
	}
	slices.Sort(names) // fixed-width numbers sort as strings
	return names, last, nil
}

// readJournal returns the ops of one journal file up to its first torn or
// corrupt frame.
func readJournal(path string) ([]op, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseJournal(b), nil
}

// parseJournal returns the ops of a journal file's bytes up to the first
// torn or corrupt frame. The bytes come from disk: anything may be there.
func parseJournal(b []byte) []op {
	var out []op
	for len(b) >= journalFrameHeader {
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-journalFrameHeader) {
			break // torn: the write never completed
		}
		payload := b[journalFrameHeader : journalFrameHeader+n]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
			break
		}
		ops, err := decodePayload(payload)
		if err != nil {
			break
		}
		out = append(out, ops...)
		b = b[journalFrameHeader+n:]
	}
	return out
}

// openJournal starts journal file after+1 in dir.
func openJournal(dir string, after uint64) (*journal, error) {
	j := &journal{dir: dir, n: after}
	f, err := j.create(after + 1)
	if err != nil {
		return nil, err
	}
	j.f, j.n = f, after+1
	return j, nil
}

func (j *journal) create(n uint64) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(j.dir, journalName(n)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("offsetstore: create offsets journal: %w", err)
	}
	return f, nil
}

// append writes ops as one frame and keeps them for the next checkpoint.
func (j *journal) append(ops []op) error {
	payload := encodePayload(ops)
	frame := make([]byte, journalFrameHeader, journalFrameHeader+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[4:], crc32.Checksum(payload, castagnoli))
	frame = append(frame, payload...)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("offsetstore: offsets journal is closed")
	}
	if _, err := j.f.Write(frame); err != nil {
		// A partial frame is cut off at replay; later frames would be
		// lost behind it, so start a new file.
		return errors.Join(fmt.Errorf("offsetstore: write offsets journal: %w", err), j.rotateLocked())
	}
	j.ops = append(j.ops, ops...)
	return nil
}

// rotateLocked starts the next file; the current one joins old. Callers
// hold j.mu.
func (j *journal) rotateLocked() error {
	f, err := j.create(j.n + 1)
	if err != nil {
		return err
	}
	j.f.Close()
	j.old = append(j.old, j.f.Name())
	j.f, j.n = f, j.n+1
	return nil
}

// take starts a new file and returns the ops to checkpoint with the files
// that hold them.
func (j *journal) take() ([]op, []string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil || len(j.ops) == 0 && len(j.old) == 0 {
		return nil, nil, nil // closed, or nothing to do
	}
	if len(j.ops) > 0 {
		if err := j.rotateLocked(); err != nil {
			return nil, nil, err
		}
	}
	ops, files := j.ops, j.old
	j.ops, j.old = nil, nil
	return ops, files, nil
}

// giveBack returns ops and files of a failed checkpoint, ahead of what came
// since.
func (j *journal) giveBack(ops []op, files []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ops = append(ops, j.ops...)
	j.old = append(files, j.old...)
}

// close closes and removes the current file, which the caller has just
// checkpointed empty.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	if len(j.ops) == 0 {
		err = errors.Join(err, os.Remove(j.f.Name()))
	}
	j.f = nil
	return err
}
