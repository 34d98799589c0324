package broker

import (
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// timeBounds is the window of record timestamps the broker takes, fixed
// once per publish request from the broker's clock and
// Config.TimestampBeforeMax / TimestampAfterMax (0: no bound), and checked
// for every record by checkRecord, whichever way it came in.
//
// Why bound them: a segment's newest timestamp decides when retention may
// delete it, so one message stamped far in the future (9223372036854775807)
// would pin its segment and every later one for ever. Segments age by the
// broker's clock (commitlog), so old timestamps cannot make segments roll;
// they only make retention delete their segment sooner, which is why the
// default bound before the clock is none, as in Kafka.
type timeBounds struct {
	nowMS, beforeMS, afterMS int64
}

func (b *Broker) timeBounds(now time.Time) timeBounds {
	return timeBounds{nowMS: now.UnixMilli(), beforeMS: b.cfg.TimestampBeforeMax.Milliseconds(), afterMS: b.cfg.TimestampAfterMax.Milliseconds()}
}

// check refuses a negative timestamp and one outside the window. A JSON
// message without a timestamp (0) takes the broker's clock and passes.
func (tb timeBounds) check(r *incoming) *api.Error {
	switch ts := r.timestamp; {
	case ts < 0:
		return api.ErrInvalidArgument.Withf("%s: timestamp %d is negative", r.where(), ts).
			WithDetail("field", "timestamp").WithDetail("timestamp", ts)
	case ts == 0 && r.frame < 0:
		return nil
	}
	return tb.checkWindow(r.timestamp, r.where)
}

// checkWindow refuses a timestamp ts outside the window; where names the
// record. A Kafka batch's records are checked by it alone: Kafka takes
// negative timestamps (-1 is "none"), which cannot pin a segment.
func (tb timeBounds) checkWindow(ts int64, where func() string) *api.Error {
	bad := func(format string, args ...any) *api.Error {
		return api.ErrInvalidTimestamp.Withf("%s: timestamp %d "+format, append([]any{where(), ts}, args...)...).
			WithDetail("field", "timestamp").WithDetail("timestamp", ts)
	}
	switch {
	case tb.afterMS > 0 && ts > tb.nowMS && ts-tb.nowMS > tb.afterMS:
		return bad("is more than %v after the broker's clock (%d); the bound is --timestamp-after-max",
			time.Duration(tb.afterMS)*time.Millisecond, tb.nowMS).WithDetail("max_after_ms", tb.afterMS)
	case tb.beforeMS > 0 && ts < tb.nowMS && tb.nowMS-ts > tb.beforeMS:
		return bad("is more than %v before the broker's clock (%d); the bound is --timestamp-before-max",
			time.Duration(tb.beforeMS)*time.Millisecond, tb.nowMS).WithDetail("max_before_ms", tb.beforeMS)
	}
	return nil
}
