package commitlog

import (
	"context"
	"fmt"
)

// Sync forces every appended byte to disk, and every Void record (see
// void.go) with it.
func (l *Log) Sync() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	end := l.written
	l.mu.Unlock()
	return l.syncTo(end)
}

// syncTo returns once the first end bytes ever written are durable. It is the
// group commit: callers queue on syncMu, and whoever holds it fsyncs
// everything written so far, so the callers behind it usually find their
// bytes already covered and return without an fsync of their own.
func (l *Log) syncTo(end int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.synced >= end && !l.voids.dirty {
		l.mu.Unlock()
		return nil
	}
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	// Earlier segments were fsynced when they were rolled (which also moved
	// synced past their bytes), so only the active file can hold bytes below
	// end that are not yet durable. The reference keeps it open even if a
	// roll seals it meanwhile.
	target, next, h := l.written, l.next, l.active().h
	f, err := l.files.acquire(h)
	l.mu.Unlock()
	if err == nil {
		err = l.syncFile(f)
		l.files.release(h)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages;
		// nothing written since the last good fsync can be trusted.
		l.failed = fmt.Errorf("%w: fsync: %w", ErrFailed, err)
		return l.failed
	}
	l.synced = max(l.synced, target)
	if !l.held {
		l.advanceLocked(next)
	}
	// The void records written so far become durable with the data: a
	// voided batch must never come back after a crash that kept it.
	if err := l.syncVoidsLocked(); err != nil {
		l.failed = fmt.Errorf("%w: fsync: %w", ErrFailed, err)
		return l.failed
	}
	return nil
}

// advanceLocked raises the high watermark to hwm and wakes the waiters.
// While held, only Release, TruncateTo and StartAt call it.
func (l *Log) advanceLocked(hwm int64) {
	if hwm <= l.hwm {
		return
	}
	l.hwm = hwm
	if l.waited {
		close(l.changed)
		l.changed = make(chan struct{})
		l.waited = false
	}
}

// Changed returns a channel that is closed when the high watermark next
// rises (an append, a sync, a Release) or the log closes.
// Long-polls wait on it: take the channel, check HighWatermark, then wait.
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waited = true
	return l.changed
}

// Wait blocks until HighWatermark > offset, ctx is done, or the log closes.
// It returns nil, ctx.Err() or ErrClosed respectively.
func (l *Log) Wait(ctx context.Context, offset int64) error {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return ErrClosed
		}
		if l.hwm > offset {
			l.mu.Unlock()
			return nil
		}
		l.waited = true
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
