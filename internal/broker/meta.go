package broker

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

var topicsBucket = []byte("topics")

// metaStore keeps topic configurations in a bbolt file. Every write is one
// fsynced transaction, so a change is durable when the call returns. Topic
// changes are rare, which is why one fsync each is affordable here.
type metaStore struct {
	db *bolt.DB
}

func openMeta(dir string) (*metaStore, error) {
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("broker: open meta.db (is another broker using %s?): %w", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(topicsBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("broker: init meta.db: %w", err)
	}
	return &metaStore{db: db}, nil
}

// topics returns every stored topic, including those marked deleted.
func (m *metaStore) topics() ([]TopicConfig, error) {
	var out []TopicConfig
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(topicsBucket).ForEach(func(k, v []byte) error {
			var t TopicConfig
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("topic %q: %w", k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("broker: read meta.db: %w", err)
	}
	return out, nil
}

// put stores t, replacing any earlier version.
func (m *metaStore) put(t TopicConfig) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	err = m.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(topicsBucket).Put([]byte(t.Name), v)
	})
	if err != nil {
		return fmt.Errorf("broker: write topic %q: %w", t.Name, err)
	}
	return nil
}

// remove forgets the topic name.
func (m *metaStore) remove(name string) error {
	err := m.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(topicsBucket).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("broker: remove topic %q: %w", name, err)
	}
	return nil
}

func (m *metaStore) close() error { return m.db.Close() }
