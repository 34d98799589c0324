package kafka

import (
	"context"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// defaultFetchMaxBytes is Kafka's fetch.max.bytes, for versions without it.
const defaultFetchMaxBytes = 50 << 20

// fetch serves stored batches as they are on disk: the batch holding the
// fetch offset and those after it, within the partition's and the
// response's byte budgets (the first batch goes out whatever its size, so a
// large batch never blocks a consumer). With fewer than MinBytes ready it
// waits up to MaxWaitMillis for appends to any of the partitions. In a
// fetch session (fetchsession.go) the partitions are the session's, and an
// incremental answer leaves out those with nothing new.
func (s *Server) fetch(ctx context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req, sess, incremental, code := c.openSession(r.(*kmsg.FetchRequest))
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.FetchResponse)
		resp.SetVersion(r.GetVersion())
		resp.ErrorCode = code
		return resp, nil
	}
	resp := s.fetchWait(ctx, c, req)
	if sess != nil {
		sess.answered(resp, incremental)
	}
	return resp, nil
}

// fetchWait answers req once MinBytes are ready, an error is to be told or
// MaxWaitMillis have passed.
func (s *Server) fetchWait(ctx context.Context, c *conn, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
	deadline := time.Now().Add(wait)
	for {
		// Take the change channels before reading: an append in between
		// closes a channel already held, so it is never missed.
		var changed []reflect.SelectCase
		if wait > 0 {
			changed = s.changeChannels(req)
		}
		resp, size, final := s.readFetch(ctx, c, req)
		remaining := time.Until(deadline)
		if final || size >= int(req.MinBytes) || remaining <= 0 || len(changed) == 0 {
			return resp
		}
		starved := c.fetchStarved
		if starved {
			// Read nothing for want of room among the answers held: the
			// room comes back as other answers are written, which wakes
			// nothing here; look again soon rather than at the deadline.
			remaining = min(remaining, starvedRetry)
		}
		timer := time.NewTimer(remaining)
		changed = append(changed,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
		chosen, _, _ := reflect.Select(changed)
		timer.Stop()
		if chosen == len(changed)-1 || chosen == len(changed)-2 && !starved {
			// The wait is over (or the server is stopping): answer what is there.
			resp, _, _ := s.readFetch(ctx, c, req)
			return resp
		}
	}
}

// starvedRetry is how soon a fetch that found no room among the answers
// held (Options.MaxFetchMemory) reads again, within its max wait.
const starvedRetry = 50 * time.Millisecond

// changeChannels returns a select case per requested partition that exists.
func (s *Server) changeChannels(req *kmsg.FetchRequest) []reflect.SelectCase {
	var out []reflect.SelectCase
	for _, rt := range req.Topics {
		name, ok := s.fetchTopicName(req.Version, &rt)
		if !ok {
			continue
		}
		for _, rp := range rt.Partitions {
			if ch, err := s.b.PartitionChanged(name, rp.Partition); err == nil {
				out = append(out, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
			}
		}
	}
	return out
}

// fetchTopicName is the name of a requested topic: named before v13, by ID
// from v13 on.
func (s *Server) fetchTopicName(version int16, rt *kmsg.FetchRequestTopic) (string, bool) {
	if version < 13 {
		return rt.Topic, true
	}
	name, err := s.topicByID(rt.TopicID)
	return name, err == nil
}

// readFetch reads every requested partition once, into c.batches (the
// response refers to them until it is written). It returns the response,
// the batch bytes in it, and whether it must go out now (an error to
// report).
func (s *Server) readFetch(ctx context.Context, c *conn, req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SetVersion(req.Version)
	budget := int(req.MaxBytes)
	if req.Version < 3 || budget <= 0 {
		budget = defaultFetchMaxBytes
	}
	// The client's ask is bounded as a Kafka broker bounds it: the
	// batches are held in memory until written, and a 60-byte request
	// asking 1 GiB made the broker hold as much of the log.
	budget = min(budget, int(s.opts.MaxFetchBytes))
	// And by what is left of the answers held over every connection
	// (Options.MaxFetchMemory): 40 connections that each sent a 70-byte
	// fetch of 55 MiB and did not read the answer held 2.2 GB until their
	// writes timed out. A fetch that gets nothing reads nothing.
	c.releaseAnswer() // an earlier read of this fetch (fetchWait)
	want := s.fetchSize(req, budget)
	c.answerBytes = s.answers.TakeUpTo(int64(want))
	starved := want > 0 && c.answerBytes == 0
	c.fetchStarved = starved
	budget = min(budget, int(c.answerBytes))
	size, parts, final := 0, 0, false
	// A partition's batches are appended after the ones before, into a
	// buffer sized for all of them; should it grow still, the earlier
	// partitions keep the old one's bytes.
	buf := takeBuf(c.batches, budget)
	for _, rt := range req.Topics {
		parts += len(rt.Partitions)
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, known := s.fetchTopicName(req.Version, &rt)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			// Empty, not null: librdkafka refuses a null record set.
			sp.RecordBatches = []byte{}
			if !known {
				sp.ErrorCode, final = kerr.UnknownTopicID.Code, true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			limit := min(int(rp.PartitionMaxBytes), budget-size)
			if (size > 0 || starved) && limit <= 0 {
				// The response is full: report the partition, read nothing.
				s.bounds(name, rp.Partition, &sp)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sb, err := s.readLed(name, rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset, limit, buf)
			if errorCode(err) == kerr.OffsetOutOfRange.Code {
				// A leader just elected may not have its predecessor's last
				// entries yet: the offset may be past its copy, not the
				// log. Read again once it has them; while it cannot say,
				// send the client to the metadata, not to its reset policy.
				// (A single broker reads again at once: the same answer.)
				if err = s.caughtUp(ctx, name, rp.Partition); err == nil {
					sb, err = s.readLed(name, rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset, limit, buf)
				}
			}
			if err != nil {
				sp.ErrorCode, final = errorCode(err), true
				s.bounds(name, rp.Partition, &sp)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = sb.HighWatermark, sb.HighWatermark, sb.EarliestOffset
			if n := len(sb.Batches) - len(buf); n > 0 {
				sp.RecordBatches = sb.Batches[len(buf):]
				size += n
			}
			buf = sb.Batches
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	c.batches = buf
	// The batches go out as they are (see appendFetch). Each partition adds
	// fewer than 64 bytes of its own to them, and copies those under
	// inlineBatches; the response's header, topic names and IDs stay
	// within the rest.
	c.outHint = 64*parts + 256 + min(size, parts*inlineBatches)
	for _, rt := range req.Topics {
		c.outHint += len(rt.Topic) + 16
	}
	return resp, size, final
}

// fetchSize is the room readFetch needs for req's batches, from the sizes
// of the stored data it asks for, up to the partition that fills budget
// (readFetch reads none after it).
func (s *Server) fetchSize(req *kmsg.FetchRequest, budget int) int {
	n := 0
	for _, rt := range req.Topics {
		name, known := s.fetchTopicName(req.Version, &rt)
		if !known {
			continue
		}
		for _, rp := range rt.Partitions {
			// Each partition's share as readFetch reads it: the whole
			// partition's ask made the buffer the size of what the log
			// held past the offset (1 GiB asked of a 200 MB partition:
			// 200 MB allocated for 55 MiB of answer).
			if n += s.b.ReadSize(name, rp.Partition, rp.FetchOffset, min(int(rp.PartitionMaxBytes), budget-n)); n >= budget {
				return n
			}
		}
	}
	return n
}

// bounds fills a partition's high watermark and log start offset, when it
// exists.
func (s *Server) bounds(topic string, partition int32, sp *kmsg.FetchResponseTopicPartition) {
	if earliest, hwm, err := s.b.PartitionBounds(topic, partition); err == nil {
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hwm, hwm, earliest
	}
}
