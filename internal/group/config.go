package group

import (
	"fmt"
	"strconv"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
)

// Defaults of Config, taken from the consumer-group page users were promised.
const (
	DefaultSessionTimeout      = 30 * time.Second
	DefaultHeartbeatInterval   = 10 * time.Second
	DefaultMinSessionTimeout   = time.Second
	DefaultMaxSessionTimeout   = 5 * time.Minute
	DefaultMaxRebalanceTimeout = 5 * time.Minute
	DefaultRecentRebalances    = 10
	// fencedMemory is how many fenced member IDs a group remembers so that
	// their calls get FENCED_MEMBER (rejoin) rather than UNKNOWN_MEMBER_ID.
	fencedMemory = 256
)

// Config holds the broker-side settings of a group. Zero fields take the
// defaults above; Config is immutable once passed to New.
type Config struct {
	SessionTimeout      time.Duration // for joins that name none
	MinSessionTimeout   time.Duration // smallest session timeout a join may ask for
	MaxSessionTimeout   time.Duration // largest session timeout a join may ask for
	HeartbeatInterval   time.Duration // upper bound of the interval told to members
	MaxRebalanceTimeout time.Duration // largest rebalance timeout a join may ask for
	DefaultAssignor     string        // for a group whose first member names none; cooperative-sticky
	RecentRebalances    int           // how many closed rebalances Describe shows

	// NewMemberID names a member that joins without a member_id; seq counts
	// such joins in this group from 1 and now is the join's time. The
	// default, "<client_id or member>-<seq>-<now in base-36 ns>", stays unique
	// across broker restarts without a source of randomness.
	NewMemberID func(clientID string, seq uint64, now time.Time) string
}

func (c Config) withDefaults() Config {
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.MaxRebalanceTimeout <= 0 {
		c.MaxRebalanceTimeout = DefaultMaxRebalanceTimeout
	}
	if c.DefaultAssignor == "" {
		c.DefaultAssignor = assign.CooperativeSticky
	}
	if c.RecentRebalances <= 0 {
		c.RecentRebalances = DefaultRecentRebalances
	}
	if c.NewMemberID == nil {
		c.NewMemberID = defaultMemberID
	}
	return c
}

// Validate reports a configuration that New would not accept, for the broker
// to check its settings at start.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case !assign.Valid(d.DefaultAssignor):
		return fmt.Errorf("group: default assignor %q: %w", d.DefaultAssignor, assign.ErrUnknownStrategy)
	case d.MinSessionTimeout > d.MaxSessionTimeout:
		return fmt.Errorf("group: min session timeout %v above max %v", d.MinSessionTimeout, d.MaxSessionTimeout)
	case d.SessionTimeout < d.MinSessionTimeout || d.SessionTimeout > d.MaxSessionTimeout:
		return fmt.Errorf("group: session timeout %v outside [%v, %v]", d.SessionTimeout, d.MinSessionTimeout, d.MaxSessionTimeout)
	}
	return nil
}

func defaultMemberID(clientID string, seq uint64, now time.Time) string {
	if clientID == "" {
		clientID = "member"
	}
	suffix := "-" + strconv.FormatUint(seq, 10) + "-" + strconv.FormatInt(now.UnixNano(), 36)
	// A client ID may be MaxIDLen long; the member ID must fit too.
	return clientID[:min(len(clientID), MaxIDLen-len(suffix))] + suffix
}

// Timeouts returns the bounds of the session and rebalance timeouts a join
// may ask for, defaults applied, so that the broker can refuse a count of
// milliseconds out of them, naming the same bounds whichever side it is
// on, before it converts it to a time.Duration.
func (c Config) Timeouts() (minSession, maxSession, maxRebalance time.Duration) {
	d := c.withDefaults()
	return d.MinSessionTimeout, d.MaxSessionTimeout, d.MaxRebalanceTimeout
}

// heartbeatInterval is what a member with session timeout s is told: the
// configured interval, but never more than a third of s, so that two lost
// heartbeats do not yet fence it.
func (c Config) heartbeatInterval(s time.Duration) time.Duration {
	return min(c.HeartbeatInterval, s/3)
}

// CheckJoin is Join's validation of what needs no group (see checkJoin),
// for a caller that must not create a group for a join it refuses.
func (c Config) CheckJoin(p JoinParams) error {
	_, _, err := c.withDefaults().checkJoin(p)
	return err
}

// checkJoin validates the parts of a join that need no group state and
// returns the session and rebalance timeouts to use.
func (c Config) checkJoin(p JoinParams) (session, rebalance time.Duration, err error) {
	switch {
	case len(p.Topics) == 0 && p.TopicRegex == "":
		return 0, 0, api.ErrInvalidArgument.Withf("join needs at least one topic").WithDetail("field", "topics")
	case len(p.Topics) > 0 && p.TopicRegex != "":
		return 0, 0, api.ErrInvalidArgument.Withf("join names topics and a topic regex; name one or the other").WithDetail("field", "topic_regex")
	}
	if err := checkIDs(p); err != nil {
		return 0, 0, err
	}
	for _, t := range p.Topics {
		if t == "" {
			return 0, 0, api.ErrInvalidArgument.Withf("empty topic name").WithDetail("field", "topics")
		}
	}
	if p.Assignor != "" && !assign.Valid(p.Assignor) {
		return 0, 0, api.ErrInvalidAssignor.Withf("unknown assignor %q", p.Assignor).
			WithDetail("allowed", []string{assign.Range, assign.RoundRobin, assign.Sticky, assign.CooperativeSticky})
	}
	switch p.OffsetReset {
	case "", api.OffsetResetEarliest, api.OffsetResetLatest, api.OffsetResetNone:
	default:
		return 0, 0, api.ErrInvalidArgument.Withf("offset_reset %q: want earliest, latest or none", p.OffsetReset).
			WithDetail("field", "offset_reset").WithDetail("allowed", []string{api.OffsetResetEarliest, api.OffsetResetLatest, api.OffsetResetNone})
	}
	session = p.SessionTimeout
	if session == 0 {
		session = c.SessionTimeout
	}
	if session < c.MinSessionTimeout || session > c.MaxSessionTimeout {
		return 0, 0, api.ErrInvalidTimeout.Withf("session timeout %v outside [%v, %v]", p.SessionTimeout, c.MinSessionTimeout, c.MaxSessionTimeout).
			WithDetail("min", c.MinSessionTimeout.Milliseconds()).WithDetail("max", c.MaxSessionTimeout.Milliseconds())
	}
	rebalance = p.RebalanceTimeout
	// what names where the refused rebalance timeout came from: a join
	// that names none gets its session timeout, which may be above
	// --max-rebalance-timeout when an operator allows longer sessions;
	// "0s outside" named a value the client never sent.
	what := "rebalance timeout"
	if rebalance == 0 {
		rebalance = session
		what = "rebalance timeout (the join named none; its session timeout stands in)"
	}
	if rebalance < 0 || rebalance > c.MaxRebalanceTimeout {
		return 0, 0, api.ErrInvalidTimeout.Withf("%s %v outside (0, %v], the broker's --max-rebalance-timeout", what, rebalance, c.MaxRebalanceTimeout).
			WithDetail("field", "rebalance_timeout_ms").WithDetail("min", int64(1)).WithDetail("max", c.MaxRebalanceTimeout.Milliseconds())
	}
	return session, rebalance, nil
}
