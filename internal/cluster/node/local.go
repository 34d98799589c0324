package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// localFile records which incarnation of each metadata topic this node
// made in its broker, and the Raft groups it holds for it. The local
// broker knows topics by name only, so without it a node that was down
// while a topic was deleted (and perhaps created again under its name)
// could not tell its copy is of the old topic, nor which group
// directories to remove.
const localFile = "topics.json"

// localTopic is one topic as made here.
type localTopic struct {
	ID     meta.TopicID `json:"id"`
	Groups []uint64     `json:"groups"` // every partition's group, in partition order
}

// locals is the record of localFile. A topic is recorded before it is
// created locally and forgotten after its local copy and groups are
// removed, so a crash in between leaves work the next reconcile redoes.
// done, kept in memory only, is the metadata index at which each
// topic's local copy and groups were last brought fully in line, for
// callers waiting on a change of their topic (one failing topic must not
// hold up the others'). mu guards m and done; only the reconciler writes.
//
// current says the metadata this node applied was confirmed at least as
// new as the cluster's (a read point) since this process started. Until
// then a restarted node's metadata may still name a topic deleted while
// it was down, as its old incarnation, so no copy is served (Serves).
type locals struct {
	mu      sync.Mutex
	path    string
	m       map[string]localTopic
	done    map[string]uint64
	current atomic.Bool
}

// loadLocals reads dir's record (none yet: empty).
func loadLocals(dir string) (*locals, error) {
	l := &locals{path: filepath.Join(dir, localFile), m: map[string]localTopic{}, done: map[string]uint64{}}
	b, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &l.m)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", l.path, err)
	}
	return l, nil
}

// get is name's record.
func (l *locals) get(name string) (localTopic, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.m[name]
	return t, ok
}

// markDone records that name's copy reflects the metadata at index.
func (l *locals) markDone(name string, index uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done[name] = index
}

// doneAt is the index at which name's copy last reflected the metadata.
func (l *locals) doneAt(name string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done[name]
}

// all is every record, by name.
func (l *locals) all() map[string]localTopic {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.m)
}

// set records t for name (nil: forgets name) durably; unchanged records
// are not written again.
func (l *locals) set(name string, t *localTopic) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.m[name]
	switch {
	case t == nil && !had:
		return nil
	case t != nil && had && old.ID == t.ID && slices.Equal(old.Groups, t.Groups):
		return nil
	}
	next := maps.Clone(l.m)
	if t == nil {
		delete(next, name)
		delete(l.done, name)
	} else {
		next[name] = *t
	}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := writeFileSynced(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := (vfs.OS{}).SyncDir(filepath.Dir(l.path)); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	l.m = next
	return nil
}

// groupsOf is t's partitions' groups in partition order.
func groupsOf(t meta.Topic) []uint64 {
	out := make([]uint64, len(t.Partitions))
	for i, p := range t.Partitions {
		out[i] = p.Group
	}
	return out
}
