package broker

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
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

// inherit fills what req leaves out from s, and returns the settings req
// then fixes.
func (s savedSettings) inherit(req *JoinParams) savedSettings {
	fill := func(v *string, saved string) {
		if *v == "" {
			*v = saved
		}
	}
	fill(&req.Assignor, s.Assignor)
	fill(&req.OffsetReset, s.OffsetReset)
	if req.MaxRetries == 0 {
		req.MaxRetries = s.MaxRetries
	}
	if req.VisibilityTimeout == 0 {
		req.VisibilityTimeout = time.Duration(s.VisibilityTimeoutMS) * time.Millisecond
	}
	if req.MaxInFlight == 0 {
		req.MaxInFlight = s.MaxInFlight
	}
	return savedSettings{Assignor: req.Assignor, OffsetReset: req.OffsetReset, MaxRetries: req.MaxRetries,
		VisibilityTimeoutMS: req.VisibilityTimeout.Milliseconds(), MaxInFlight: req.MaxInFlight}
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
