package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/periodic"
)

// storageCheckInterval is how often the broker checks that its data
// directory is still the one it opened. A stat of three paths; cheap.
const storageCheckInterval = 250 * time.Millisecond

// storage knows the identity (device and inode, through os.SameFile) of the
// data directory, its topics directory and meta.db as Open found them.
//
// Why: after `rm -rf` of the data directory every open file keeps working
// (it writes to an unlinked inode), so writes kept answering 200 and were
// all gone at the next start. Comparing identities notices a removed or
// replaced directory whatever the open descriptors say.
//
// paths and ids are immutable after Open; lost is set once, never cleared:
// a broker whose directory vanished stays unwritable until restarted.
type storage struct {
	paths []string
	ids   []os.FileInfo
	lost  atomic.Pointer[api.Error]
	full  fullLog
}

// fullLogEvery is how often at most a full data directory is logged.
const fullLogEvery = time.Minute

// fullLog says in the log that writes are refused as STORAGE_FULL: at the
// first refusal and then at most every fullLogEvery, with how many were
// refused meanwhile. The refusals are coded, so no request logged them:
// an operator saw clients failing and a silent log. One line a refusal
// would flood the log (and the full device) instead.
type fullLog struct {
	last    atomic.Int64 // unix nanoseconds of the last line; 0: none yet
	refused atomic.Int64 // refusals since the last line
}

func (f *fullLog) note(log *slog.Logger, now time.Time, e *api.Error) {
	n := f.refused.Add(1)
	last := f.last.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < fullLogEvery {
		return
	}
	if !f.last.CompareAndSwap(last, now.UnixNano()) {
		return // another refusal logs it
	}
	f.refused.Add(-n)
	log.Warn("data directory full: writes refused with STORAGE_FULL until space is freed", "problem", e.Message, "refused", n)
}

func newStorage(dataDir, topicsDir string) (*storage, error) {
	s := &storage{paths: []string{dataDir, topicsDir, filepath.Join(dataDir, "meta.db")}}
	for _, p := range s.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("broker: data dir: %w", err)
		}
		s.ids = append(s.ids, fi)
	}
	return s, nil
}

// check compares the paths with their identity at Open and returns the
// STORAGE_FAILED error once one is missing or replaced (logged once).
func (b *Broker) checkStorage() *api.Error {
	s := b.storage
	if e := s.lost.Load(); e != nil {
		return e
	}
	for i, p := range s.paths {
		fi, err := os.Stat(p)
		if err == nil && os.SameFile(fi, s.ids[i]) {
			continue
		}
		what := "was replaced"
		if err != nil {
			what = fmt.Sprintf("is gone (%v)", err)
		}
		e := api.ErrStorageFailed.Withf("%s %s since the broker opened it: writes are refused until the broker is restarted on a sound data directory", p, what).
			WithDetail("path", p)
		if s.lost.CompareAndSwap(nil, e) {
			b.log.Error("data directory lost: refusing writes; /readyz answers 503", "path", p, "problem", what)
		}
		return s.lost.Load()
	}
	return nil
}

// writable returns STORAGE_FAILED if the data directory is known to be lost.
// It is what every write checks first; it costs one atomic load.
func (b *Broker) writable() error {
	if e := b.storage.lost.Load(); e != nil {
		return e
	}
	return nil
}

// StorageProblem returns nil while the data directory is sound, else the
// STORAGE_FAILED error that writes answer; /readyz reports it.
func (b *Broker) StorageProblem() error {
	if e := b.checkStorage(); e != nil {
		return e
	}
	return nil
}

// watchStorage checks the data directory every storageCheckInterval, and
// every partition's open files every filesCheckEvery of those, until ctx
// ends.
func (b *Broker) watchStorage(ctx context.Context) error {
	tick := 0
	periodic.Every(ctx, storageCheckInterval, func() {
		if b.checkStorage() == nil && tick%filesCheckEvery == 0 {
			b.checkFiles()
		}
		tick++
	})
	return nil
}

// filesCheckEvery spaces out checkFiles, two stats per partition.
const filesCheckEvery = 8

// checkFiles catches what the directory identities miss: a topic's or a
// partition's directory removed on its own. The partition's open file then
// takes writes that nothing will read again, so the broker treats it as a
// lost data directory.
func (b *Broker) checkFiles() {
	for _, t := range b.snapshot() {
		for _, p := range t.parts {
			err := p.log.CheckFiles()
			if err == nil || errors.Is(err, commitlog.ErrClosed) {
				continue
			}
			e := api.ErrStorageFailed.Withf("partition %d of %q: %v: writes are refused until the broker is restarted on a sound data directory", p.id, t.cfg.Name, err).
				WithDetail("topic", t.cfg.Name).WithDetail("partition", p.id)
			if b.storage.lost.CompareAndSwap(nil, e) {
				b.log.Error("data directory lost: refusing writes; /readyz answers 503", "topic", t.cfg.Name, "partition", p.id, "problem", err)
			}
			return
		}
	}
}

// storageError turns a write's I/O error into the coded error it deserves:
// STORAGE_FULL (retriable) for a full device, a quota or a file at its size
// limit; STORAGE_FAILED for a data directory found lost by the check this
// error triggers, a log that can no longer be written, a read-only file
// system, or a directory or file the broker is no longer permitted to
// write. Any other error is
// returned as is (reads pass through here too: an EIO of one read says
// nothing of writes). what says what failed, for the message.
//
// The STORAGE_FAILED cases need an operator (a file system remounted
// read-only after an error stays so; a log that failed an fsync may have
// lost pages; permissions someone changed must be put back), so they fail
// the whole data directory as a lost one does:
// every write is refused and /readyz answers 503 until a restart. Left to
// themselves they answered 500 INTERNAL, retriable, with /readyz still 200.
func (b *Broker) storageError(err error, what string) error {
	if lost := b.checkStorage(); lost != nil {
		return lost
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		e := api.ErrStorageFull.Withf("%s: the data directory's device is full (%v); retry once space is freed", what, err)
		b.storage.full.note(b.log, time.Now(), e)
		return e
	case errors.Is(err, syscall.EFBIG):
		// A file reached the largest size the file system or the
		// process's limit (ulimit -f) allows: as full as a full device for
		// that file, and as passing (retention, a segment roll, a raised
		// limit). It answered 500 INTERNAL, logged at every request.
		e := api.ErrStorageFull.Withf("%s: a file reached the size limit of the file system or of the process (%v); lower the topic's segment_bytes below it or raise the limit", what, err)
		b.storage.full.note(b.log, time.Now(), e)
		return e
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		// Out of file descriptors (each partition holds its segments'
		// files open): the fourth topic of 1,024 partitions under ulimit
		// -n 4096 answered 500 INTERNAL. Passing too, as connections or
		// topics close.
		e := api.ErrStorageFull.Withf("%s: the broker has as many files open as it may (%v); raise the open-file limit (ulimit -n) or use fewer partitions", what, err)
		b.storage.full.note(b.log, time.Now(), e)
		return e
	case errors.Is(err, commitlog.ErrFailed), errors.Is(err, syscall.EROFS),
		errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		e := api.ErrStorageFailed.Withf("%s: %v: writes are refused until the broker is restarted on a sound data directory", what, err)
		if b.storage.lost.CompareAndSwap(nil, e) {
			b.log.Error("data directory failed: refusing writes; /readyz answers 503", "what", what, "problem", err)
		}
		return b.storage.lost.Load()
	}
	return err
}
