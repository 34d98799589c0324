package history

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/abd-ulbasit/goqueue/api"
)

// Bounds of Rebalances.
const (
	DefaultRebalancesPerGroup = 100
	DefaultRebalanceGroups    = 1000 // groups remembered; the least recently rebalanced is forgotten first
)

// Rebalances keeps each group's last closed rebalances in memory and in a
// file of JSON lines, one rebalance each, appended by Flush and rewritten
// when it holds twice what is kept, so it stays bounded. A torn last line
// (a crash mid-append) is ignored on Open. mu guards everything; Add does no
// I/O, so the broker may call it under its group locks.
type Rebalances struct {
	path      string // immutable
	perGroup  int    // immutable
	maxGroups int    // immutable

	mu      sync.Mutex
	groups  map[string][]api.Rebalance // oldest first, at most perGroup
	latest  map[string]int64           // group → StartedAt of its newest, for eviction
	pending []record                   // added since the last Flush
	lines   int                        // lines in the file
}

// record is one line of the file.
type record struct {
	Group string `json:"group"`
	api.Rebalance
}

// OpenRebalances loads the history in path (a missing file is an empty
// history).
func OpenRebalances(path string) (*Rebalances, error) {
	r := &Rebalances{path: path, perGroup: DefaultRebalancesPerGroup, maxGroups: DefaultRebalanceGroups,
		groups: make(map[string][]api.Rebalance), latest: make(map[string]int64)}
	// A rewrite killed before its rename left its temporary file; nothing
	// else would ever remove it.
	if stale, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern)); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: read rebalances: %w", err)
	}
	// Lines of what was read, not a bufio.Scanner: its longest line is
	// bounded, and a longer one (damage without a newline) ended the
	// scan there, silently dropping every rebalance after it.
	for line := range bytes.Lines(b) {
		var rec record
		if json.Unmarshal(line, &rec) != nil || rec.Group == "" {
			continue // a torn line: the rest is still good
		}
		r.addLocked(rec)
		r.lines++
	}
	return r, nil
}

// Add records a closed rebalance of group.
func (r *Rebalances) Add(group string, rb api.Rebalance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := record{Group: group, Rebalance: rb}
	r.addLocked(rec)
	r.pending = append(r.pending, rec)
}

func (r *Rebalances) addLocked(rec record) {
	list := append(r.groups[rec.Group], rec.Rebalance)
	if len(list) > r.perGroup {
		list = slices.Delete(list, 0, len(list)-r.perGroup)
	}
	r.groups[rec.Group] = list
	r.latest[rec.Group] = max(r.latest[rec.Group], rec.StartedAt)
	for len(r.groups) > r.maxGroups {
		oldest, at := "", int64(0)
		for g, t := range r.latest {
			if oldest == "" || t < at {
				oldest, at = g, t
			}
		}
		delete(r.groups, oldest)
		delete(r.latest, oldest)
	}
}

// Group returns group's rebalances, newest first.
func (r *Rebalances) Group(group string) []api.Rebalance {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := slices.Clone(r.groups[group])
	slices.Reverse(list)
	return list
}

// Flush appends what was added since the last Flush to the file, or
// rewrites the file when it has grown to twice what is kept. On failure the
// records stay pending for the next Flush. One goroutine at a time may call
// it (the broker's sampling loop, then Close); Add and Group may run
// meanwhile.
func (r *Rebalances) Flush() error {
	r.mu.Lock()
	pending := r.pending
	r.pending = nil
	kept := 0
	for _, l := range r.groups {
		kept += len(l)
	}
	compact := r.lines+len(pending) > 2*kept+64
	var all []record
	if compact {
		all = r.keptLocked()
	}
	r.mu.Unlock()
	if len(pending) == 0 && !compact {
		return nil
	}
	var err error
	if compact {
		err = r.rewrite(all)
	} else {
		err = r.append(pending)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.pending = append(pending, r.pending...)
	case compact:
		r.lines = len(all)
	default:
		r.lines += len(pending)
	}
	return err
}

// keptLocked is every rebalance kept, as a rewrite of the file orders
// them: by time across groups, and each group's in the order they were
// added, which is the order Open gives them back in. StartedAt alone
// would reorder a group whose times do not grow (a clock stepped back,
// many in one millisecond, a damaged file loaded), so each is keyed by
// the latest time of its group up to it, and sorted stably.
func (r *Rebalances) keptLocked() []record {
	type keyed struct {
		at  int64 // the latest StartedAt of rec's group up to rec
		rec record
	}
	var all []keyed
	for g, l := range r.groups {
		at := int64(math.MinInt64)
		for _, rb := range l {
			at = max(at, rb.StartedAt)
			all = append(all, keyed{at, record{Group: g, Rebalance: rb}})
		}
	}
	// cmp.Compare, not a subtraction: times read from a damaged file
	// can be any int64, and a difference that overflows orders at random.
	slices.SortStableFunc(all, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.rec.Group, b.rec.Group))
	})
	out := make([]record, len(all))
	for i, k := range all {
		out[i] = k.rec
	}
	return out
}

func encode(recs []record) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, rec := range recs {
		enc.Encode(rec) // plain structs of strings and numbers: cannot fail
	}
	return buf.Bytes()
}

// append writes recs at the end of the file. A write cut short (a full
// device) is taken back, so that the Flush that retries recs neither
// writes the lines that made it twice nor runs the next one into a torn
// line.
func (r *Rebalances) append(recs []record) error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("history: append rebalances: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		_, err = f.Write(encode(recs))
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			if terr := f.Truncate(fi.Size()); terr != nil {
				err = errors.Join(err, terr)
			}
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("history: append rebalances: %w", err)
	}
	return nil
}

// tempPattern names rewrite's temporary files.
const tempPattern = ".rebalances-*"

// rewrite replaces the file with recs: a temporary file, synced, renamed
// over it, so a crash leaves the old file or the new one.
func (r *Rebalances) rewrite(recs []record) error {
	tmp, err := os.CreateTemp(filepath.Dir(r.path), tempPattern)
	if err != nil {
		return fmt.Errorf("history: rewrite rebalances: %w", err)
	}
	_, err = tmp.Write(encode(recs))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), r.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("history: rewrite rebalances: %w", err)
	}
	return nil
}
