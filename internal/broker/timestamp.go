package broker

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// checkTimestamps is the one check of message timestamps for every way in
// (JSON messages and binary batches): the timestamps of item i of the
// request (what: "message" or "frame") lie in [lo, hi] (ms since the Unix
// epoch; a JSON message has lo == hi). A
// timestamp may be neither negative nor further before or after the broker's
// clock than Config.TimestampBeforeMax / TimestampAfterMax allow.
//
// Why bound them: a segment's newest timestamp decides when retention may
// delete it, so one message stamped far in the future (9223372036854775807)
// would pin its segment and every later one for ever. Segments age by the
// broker's clock (commitlog), so old timestamps cannot make segments roll;
// they only make retention delete their segment sooner, which is why the
// default bound before the clock is none, as in Kafka.
func (b *Broker) checkTimestamps(what string, i int, lo, hi int64, now time.Time) error {
	bad := func(ts int64, format string, args ...any) *api.Error {
		return api.ErrInvalidArgument.Withf("%s %d: timestamp %d "+format, append([]any{what, i, ts}, args...)...).
			WithDetail("index", i).WithDetail("field", "timestamp").WithDetail("timestamp", ts)
	}
	if lo < 0 {
		return bad(lo, "is negative")
	}
	nowMS := now.UnixMilli()
	if after := b.cfg.TimestampAfterMax; after > 0 && hi > nowMS && hi-nowMS > after.Milliseconds() {
		return bad(hi, "is more than %v after the broker's clock (%d); the bound is --timestamp-after-max", after, nowMS).
			WithDetail("max_after_ms", after.Milliseconds())
	}
	if before := b.cfg.TimestampBeforeMax; before > 0 && lo < nowMS && nowMS-lo > before.Milliseconds() {
		return bad(lo, "is more than %v before the broker's clock (%d); the bound is --timestamp-before-max", before, nowMS).
			WithDetail("max_before_ms", before.Milliseconds())
	}
	return nil
}
