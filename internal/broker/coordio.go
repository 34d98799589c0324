package broker

import (
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// openGroups opens the group coordinator over the recovered topics: it
// restores the groups from offsets.db and the settings in meta.db.
func (b *Broker) openGroups() error {
	policy, err := parseFsync(b.cfg.Fsync)
	if err != nil {
		return err
	}
	limits := b.cfg.Limits.withDefaults()
	b.coord, err = coordinator.Open(coordinator.Config{
		DataDir:          b.cfg.DataDir,
		Fsync:            policy,
		FsyncInterval:    b.cfg.FsyncInterval,
		Groups:           b.cfg.Groups,
		Delivery:         b.cfg.Delivery,
		History:          b.cfg.History,
		MaxGroups:        limits.MaxGroups,
		MaxMembers:       limits.MaxGroupMembers,
		OffsetsRetention: b.cfg.OffsetsRetention,
		CheckID:          ValidateGroupID,
		Logger:           b.log,
		Now:              b.now,
		Decompress:       b.decompress,
	}, coordIO{b})
	return err
}

// coordIO is the broker as its coordinator sees it (coordinator.Broker):
// topics and logs to read, DLQs to write, group settings in meta.db.
type coordIO struct{ b *Broker }

func (io coordIO) Topic(name string) (coordinator.Topic, error) {
	t, err := io.b.lookup(name)
	if err != nil {
		return coordinator.Topic{}, err
	}
	return t.view(), nil
}

func (io coordIO) Topics() []coordinator.Topic {
	ts := io.b.snapshot()
	out := make([]coordinator.Topic, len(ts))
	for i, t := range ts {
		out[i] = t.view()
	}
	return out
}

// view is t as the coordinator sees it.
func (t *topic) view() coordinator.Topic {
	v := coordinator.Topic{Name: t.cfg.Name, CreatedAt: t.cfg.CreatedAt, MaxMessageBytes: t.cfg.MaxMessageBytes,
		Logs: make([]*commitlog.Log, len(t.parts))}
	for i, p := range t.parts {
		v.Logs[i] = p.log
	}
	return v
}

func (io coordIO) Partition(topic string, p int32) (*commitlog.Log, error) {
	t, err := io.b.lookup(topic)
	if err != nil {
		return nil, err
	}
	part, err := t.partition(p)
	if err != nil {
		return nil, err
	}
	return part.log, nil
}

func (io coordIO) TopicsChanged() <-chan struct{} { return io.b.TopicsChanged() }

func (io coordIO) Skipped(topic string, p int32, off int64) bool { return io.b.skipped(topic, p, off) }

func (io coordIO) LogError(err error, topic string, p int32) error {
	t, lerr := io.b.lookup(topic)
	if lerr != nil {
		return lerr
	}
	return io.b.logError(err, t, p)
}

func (io coordIO) Writable() error { return io.b.writable() }

func (io coordIO) StorageError(err error, what string) error { return io.b.storageError(err, what) }

func (io coordIO) WriteDeadLetter(group string, dl groupstate.DeadLetter) error {
	return io.b.writeDeadLetter(group, dl)
}

func (io coordIO) GroupSettings() (map[string]groupstate.Saved, error) {
	saved, err := io.b.meta.groupSettings()
	if err != nil {
		return nil, err
	}
	out := make(map[string]groupstate.Saved, len(saved))
	for id, s := range saved {
		out[id] = s.state()
	}
	return out, nil
}

func (io coordIO) SaveGroupSettings(group string, s groupstate.Saved) error {
	if err := io.b.writable(); err != nil {
		return err
	}
	if err := io.b.meta.putGroupSettings(group, savedFrom(s)); err != nil {
		return io.b.storageError(err, "save the settings of group "+group)
	}
	return nil
}

// ReplicateGroups makes a cluster node's coordinator keep its groups'
// durable state in r instead of offsets.db and meta.db, and coordinate only
// the groups it is given (AdoptGroups). Call it before serving.
func (b *Broker) ReplicateGroups(r coordinator.Replicated) { b.coord.Replicate(r) }

// AdoptGroups starts coordinating, under epoch, the groups owns matches,
// as the replicated state last stored them (coordinator.Adopt).
func (b *Broker) AdoptGroups(epoch uint64, owns func(group string) bool, stored map[string]map[delivery.TP]offsetstore.Offset, saved map[string]groupstate.Saved, classic map[string][]byte, clocks coordinator.Clocks) {
	b.coord.Adopt(epoch, owns, stored, saved, classic, clocks)
}

// DropGroups stops coordinating the groups owns matches.
func (b *Broker) DropGroups(owns func(group string) bool) { b.coord.Drop(owns) }
