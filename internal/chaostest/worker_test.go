package chaostest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Environment of a worker process: the test binary run again as one member
// of the group.
const (
	envWorkerURL      = "GOQUEUE_CHAOS_WORKER_URL"
	envWorkerLog      = "GOQUEUE_CHAOS_WORKER_LOG"
	envWorkerGroup    = "GOQUEUE_CHAOS_WORKER_GROUP"
	envWorkerAssignor = "GOQUEUE_CHAOS_WORKER_ASSIGNOR"
)

// Names shared by the test and its workers.
const (
	topic          = "chaos"
	partitions     = 6
	sessionTimeout = time.Second
)

// eventLog appends one line per event to a worker's log file, each with one
// write(2), so that a SIGKILL loses at most the line being written and
// never one that was written before. mu orders the lines of the poll loop
// and of the consumer's callbacks.
type eventLog struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte // guarded by mu
}

// add writes kind, the fields and the wall-clock time in ns.
func (l *eventLog) add(kind byte, fields ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append(l.buf[:0], kind)
	for _, f := range fields {
		b = append(b, ' ')
		b = strconv.AppendInt(b, f, 10)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, '\n')
	l.buf = b
	_, _ = l.f.Write(b)
}

// each logs kind for each partition of the test's topic in a.
func (l *eventLog) each(kind byte, a api.Assignment) {
	for _, p := range a[topic] {
		l.add(kind, int64(p))
	}
}

// worker is a member of the group until SIGTERM, when it closes the
// consumer (commit and leave); SIGKILL leaves the broker to notice through
// the session timeout. It logs every assignment, revocation and loss from
// the consumer's callbacks, every delivery before processing it, and every
// ack, and exits 0 only after a clean Close.
//
// Lines: "A p ns" assigned, "R p ns" revoked (at the end of OnRevoked),
// "L p ns" lost, "D p offset value ns" delivered, "K p offset ns" about to
// be acked, "X p offset ns" that ack refused as revoked, "P ns" a poll
// starts (the deliveries that follow are its answer), "Q n ns" Close said
// n acknowledgements were lost (client.AckLostError), "C ns" closed.
func worker(url, logPath, group, assignor string) int {
	// SIGTERM is caught before the log exists: the test waits for the log
	// before it may stop this worker.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	log := &eventLog{f: f}
	cons, err := client.NewConsumer(&client.ConsumerConfig{
		Brokers: []string{url}, GroupID: group, Topics: []string{topic},
		Assignor: assignor, SessionTimeout: sessionTimeout, PollWait: 100 * time.Millisecond,
		OnAssigned: func(a api.Assignment) { log.each('A', a) },
		OnRevoked:  func(a api.Assignment) { log.each('R', a) },
		OnLost:     func(a api.Assignment) { log.each('L', a) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for ctx.Err() == nil {
		log.add('P')
		msgs, err := cons.Poll(ctx, 500)
		if err != nil {
			continue
		}
		for _, m := range msgs {
			v, err := strconv.ParseInt(string(m.Value), 10, 64)
			if err != nil {
				v = -1 // not one of ours: the check reports it
			}
			log.add('D', int64(m.Partition), m.Offset, v)
			// K is logged before Ack: a kill between the two loses a K
			// whose ack was never sent, never a K of an ack that was.
			log.add('K', int64(m.Partition), m.Offset)
			switch err := cons.Ack(m); {
			case errors.Is(err, client.ErrRevoked):
				log.add('X', int64(m.Partition), m.Offset)
			case err != nil:
				fmt.Fprintln(os.Stderr, "ack:", err)
			}
		}
	}
	if err := cons.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		n, only := lostAcks(err)
		if !only {
			return 1
		}
		// Acks that came too late (a poll answered across a revocation):
		// the promise allows it, and says those n messages are delivered
		// again, which check verifies.
		log.add('Q', n)
	}
	log.add('C')
	return 0
}

// lostAcks reports whether every error err joins is a
// client.AckLostError, and how many acknowledgements they say were lost:
// Close joins the errors of its commit, of acks dropped unsent and of its
// leave, and any of those others is a failure.
func lostAcks(err error) (n int64, only bool) {
	switch u := err.(type) {
	case nil:
		return 0, false
	case *client.AckLostError:
		return u.Count, true
	case interface{ Unwrap() []error }:
		errs := u.Unwrap()
		for _, e := range errs {
			m, ok := lostAcks(e)
			if !ok {
				return 0, false
			}
			n += m
		}
		return n, len(errs) > 0
	case interface{ Unwrap() error }:
		return lostAcks(u.Unwrap())
	}
	return 0, false
}
