package delivery

import "time"

// Defaults of Config, as promised to users (DESIGN.md §4).
const (
	DefaultMaxRetries           = 3
	DefaultBackoffBase          = 100 * time.Millisecond
	DefaultBackoffMax           = 30 * time.Second
	DefaultVisibilityTimeout    = 30 * time.Second
	DefaultMaxInFlightPerMember = 1000
)

// Config tunes one group's delivery. A zero field means "not set": Or fills
// it from a broader Config (the broker's), and NewGroup from the defaults.
type Config struct {
	// MaxRetries is the number of retries after the first delivery: with 3,
	// the failure of delivery 4 dead-letters the message. Zero means the
	// default; a negative value means no retries at all (the first failure
	// dead-letters).
	MaxRetries int
	// BackoffBase is the delay before the first retry of a nacked message;
	// each further retry doubles it, up to BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// VisibilityTimeout is how long a delivered message stays in flight
	// before it is delivered again unless acknowledged, nacked or extended.
	VisibilityTimeout time.Duration
	// MaxInFlightPerMember bounds the messages one member holds unsettled;
	// a member at the cap polls nothing until it acks or nacks.
	MaxInFlightPerMember int
}

// Defaults returns the default Config.
func Defaults() Config {
	return Config{
		MaxRetries:           DefaultMaxRetries,
		BackoffBase:          DefaultBackoffBase,
		BackoffMax:           DefaultBackoffMax,
		VisibilityTimeout:    DefaultVisibilityTimeout,
		MaxInFlightPerMember: DefaultMaxInFlightPerMember,
	}
}

// Or returns c with every zero field taken from fallback, so that a group's
// settings override the broker's: group.Or(broker).
func (c Config) Or(fallback Config) Config {
	if c.MaxRetries == 0 {
		c.MaxRetries = fallback.MaxRetries
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = fallback.BackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = fallback.BackoffMax
	}
	if c.VisibilityTimeout <= 0 {
		c.VisibilityTimeout = fallback.VisibilityTimeout
	}
	if c.MaxInFlightPerMember <= 0 {
		c.MaxInFlightPerMember = fallback.MaxInFlightPerMember
	}
	return c
}

// maxFailures is the number of failed deliveries that dead-letters a
// message: the first delivery and MaxRetries retries.
func (c Config) maxFailures() int {
	if c.MaxRetries < 0 {
		return 1
	}
	return c.MaxRetries + 1
}

// Backoff returns the delay before redelivering a message after its
// failure number fails (1 for the first): BackoffBase·2^(fails−1), at most
// BackoffMax.
func (c Config) Backoff(fails int) time.Duration {
	d := c.BackoffBase
	for i := 1; i < fails && d < c.BackoffMax; i++ {
		d *= 2
	}
	return min(d, c.BackoffMax)
}
