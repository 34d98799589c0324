package coordinator

import (
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// Broker is all the coordinator reaches of the rest of the broker: its
// topics and their logs (read only), the dead-letter topics, the groups'
// saved settings in meta.db, and how storage faults are reported.
// Implementations are safe for concurrent use and never call back into the
// coordinator. The coordinator does no I/O through it (dead letters,
// settings, reading the logs) with a group's lock held; it may look a topic
// up, in memory, under one (a group's description lists the partitions of
// the topics it subscribes to).
type Broker interface {
	// Topic returns the current version of the named topic; errors:
	// TOPIC_NOT_FOUND, UNAVAILABLE (shutting down).
	Topic(name string) (Topic, error)
	// Topics returns every topic, sorted by name.
	Topics() []Topic
	// Partition returns partition p of the named topic; errors as Topic's,
	// and PARTITION_NOT_FOUND.
	Partition(topic string, p int32) (*commitlog.Log, error)
	// TopicsChanged returns a channel closed at the next topic change
	// (create, delete, more partitions) or when the broker closes.
	TopicsChanged() <-chan struct{}

	// Skipped reports whether offset off of the partition lies in a
	// damaged range: a group settles it without delivering it.
	Skipped(topic string, p int32, off int64) bool
	// LogError turns an error of the partition's log into the coded error
	// a client is answered (a range, a topic deleted under it, a fault).
	LogError(err error, topic string, p int32) error
	// Writable returns STORAGE_FAILED while the data directory is lost.
	Writable() error
	// StorageError turns a failed write's error into its coded storage
	// error (STORAGE_FULL, STORAGE_FAILED) or returns it as is; what names
	// what failed, for the message.
	StorageError(err error, what string) error

	// WriteDeadLetter writes dl, a dead letter of group, to its topic's
	// DLQ, creating or growing the DLQ if need be; nil also when there is
	// nothing to keep (the topic or the record is gone).
	WriteDeadLetter(group string, dl groupstate.DeadLetter) error
	// GroupSettings returns every group's saved settings.
	GroupSettings() (map[string]groupstate.Saved, error)
	// SaveGroupSettings persists what group's creating join fixed (fsynced);
	// the zero value forgets them.
	SaveGroupSettings(group string, s groupstate.Saved) error
}

// Topic is one version of a topic, as the groups see it. A topic deleted
// and created again under its name has another CreatedAt and new logs.
type Topic struct {
	Name            string
	CreatedAt       int64 // Unix ms: the topic's identity beside its name
	MaxMessageBytes int32
	Logs            []*commitlog.Log // partition i's log at i
}
