package broker

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// groupSettingsBucket holds, in meta.db, the settings each group was
// created with (a savedSettings in JSON, keyed by group ID).
var groupSettingsBucket = []byte("group-settings")

// savedSettings are the settings a join fixes for its group: the assignor,
// offset_reset and the delivery settings, as named (zero: the broker's
// default). They outlive the group's members and a restart: a join that
// creates the group again (its first member after all left, or after a
// restart) and leaves a setting out takes the saved one, not the broker's
// default; one that names a setting replaces it.
type savedSettings struct {
	Assignor            string `json:"assignor,omitempty"`
	OffsetReset         string `json:"offset_reset,omitempty"`
	MaxRetries          int    `json:"max_retries,omitempty"`
	VisibilityTimeoutMS int64  `json:"visibility_timeout_ms,omitempty"`
	MaxInFlight         int    `json:"max_in_flight,omitempty"`
	// Protocol is the protocol of the creating join's member
	// (ProtocolHTTP, ProtocolConsumer); not inherited.
	Protocol string `json:"protocol,omitempty"`
}

// state returns s as the group keeps it.
func (s savedSettings) state() groupstate.Saved {
	return groupstate.Saved{Assignor: s.Assignor, OffsetReset: s.OffsetReset, Protocol: s.Protocol, Settings: groupstate.Settings{
		MaxRetries: s.MaxRetries, VisibilityTimeout: time.Duration(s.VisibilityTimeoutMS) * time.Millisecond, MaxInFlight: s.MaxInFlight}}
}

// savedFrom returns the settings a group fixed, as meta.db keeps them.
func savedFrom(s groupstate.Saved) savedSettings {
	return savedSettings{Assignor: s.Assignor, OffsetReset: s.OffsetReset, Protocol: s.Protocol, MaxRetries: s.MaxRetries,
		VisibilityTimeoutMS: s.VisibilityTimeout.Milliseconds(), MaxInFlight: s.MaxInFlight}
}

// groupSettings returns every group's saved settings.
func (m *metaStore) groupSettings() (map[string]savedSettings, error) {
	out := make(map[string]savedSettings)
	err := m.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(groupSettingsBucket)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			var s savedSettings
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("settings of group %q: %w", k, err)
			}
			out[string(k)] = s
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("broker: read meta.db: %w", err)
	}
	return out, nil
}

// putGroupSettings saves s for group id (fsynced); the zero value deletes
// them.
func (m *metaStore) putGroupSettings(id string, s savedSettings) error {
	return m.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(groupSettingsBucket)
		if err != nil {
			return err
		}
		if s == (savedSettings{}) {
			return bk.Delete([]byte(id))
		}
		v, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return bk.Put([]byte(id), v)
	})
}
