package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/ledger"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// chaosLoad is the workload of a chaos run: producers publishing with acks
// to each partition's leader, one consumer group member per node consuming
// with acks, and a watcher of the groups' committed offsets, all recording
// into one ledger. urls never change (a restarted node keeps its HTTP
// port), so the load's goroutines read them without a lock.
type chaosLoad struct {
	topic string
	parts int
	urls  map[uint64]string
	hist  *ledger.History
	http  *http.Client

	seq atomic.Int64 // numbers every publish attempt: values are unique

	mu      sync.Mutex
	leaders map[int32]uint64 // the node believed to lead each partition

	// commits orders the observations of committed offsets: each is
	// recorded before the next asks (see readCommits).
	commits sync.Mutex
}

// group is the consumer group whose member talks to node id: the first
// name whose coordinator while all nodes are up is id.
func (l *chaosLoad) group(id uint64) string {
	for k := 0; ; k++ {
		name := fmt.Sprintf("chaos-n%d-%d", id, k)
		if preferredCoordinator(name) == id {
			return name
		}
	}
}

// leader is the node a publish or read of p goes to.
func (l *chaosLoad) leader(p int32) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaders[p]
}

func (l *chaosLoad) setLeader(p int32, id uint64) {
	if _, ok := l.urls[id]; !ok {
		return
	}
	l.mu.Lock()
	l.leaders[p] = id
	l.mu.Unlock()
}

// produce publishes "p<p>-<seq>" to partition p's leader, one message a
// request, until ctx ends, and records each attempt (see publish). After a
// failure it asks for the leaders again and pauses.
func (l *chaosLoad) produce(ctx context.Context, p int32) {
	for ctx.Err() == nil {
		if pub := l.publish(ctx, l.leader(p), p); pub.Outcome != ledger.Acked {
			l.refreshLeaders(ctx)
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}
}

// publish sends one new value to partition p through node to and records
// the attempt: acked with its offset; failed when the broker refused it
// (NOT_LEADER, which is decided before anything is written) or the
// connection was refused; unknown otherwise. A NOT_LEADER naming the
// leader moves p's publishes there.
func (l *chaosLoad) publish(ctx context.Context, to uint64, p int32) ledger.Publish {
	v := fmt.Sprintf("p%d-%d", p, l.seq.Add(1))
	body := fmt.Sprintf(`{"partition":%d,"value":%q}`, p, v)
	pub := ledger.Publish{Value: v, Partition: p, Start: time.Now()}
	var resp api.PublishResponse
	var refused api.ErrorBody
	st, err := l.post(ctx, l.urls[to]+"/topics/"+l.topic+"/messages", body, &resp, &refused)
	pub.End = time.Now()
	switch {
	case err == nil && st == http.StatusOK && len(resp.Offsets) == 1 && resp.Offsets[0].Partition == p:
		pub.Outcome, pub.Offset = ledger.Acked, resp.Offsets[0].Offset
	case err == nil && st == http.StatusMisdirectedRequest && refused.Error != nil && refused.Error.Code == api.ErrNotLeader.Code:
		pub.Outcome = ledger.Failed
		if id, ok := refused.Error.Details["leader"].(float64); ok {
			l.setLeader(p, uint64(id))
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		pub.Outcome = ledger.Failed
	default:
		pub.Outcome = ledger.Unknown
	}
	l.hist.Publish(pub)
	return pub
}

// post sends a JSON body and decodes a 2xx answer into ok, any other into
// refused.
func (l *chaosLoad) post(ctx context.Context, url, body string, ok, refused any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	return l.do(req, ok, refused)
}

func (l *chaosLoad) do(req *http.Request, ok, refused any) (int, error) {
	resp, err := l.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out := refused
	if resp.StatusCode/100 == 2 {
		out = ok
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode: %w", err)
		}
	}
	return resp.StatusCode, nil
}

func (l *chaosLoad) get(ctx context.Context, url string, ok any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	return l.do(req, ok, nil)
}

// refreshLeaders asks any node that answers for the topic's placement.
func (l *chaosLoad) refreshLeaders(ctx context.Context) {
	for _, u := range l.urls {
		var tp api.Topic
		if st, err := l.get(ctx, u+"/topics/"+l.topic, &tp); err != nil || st != http.StatusOK {
			continue
		}
		for _, pi := range tp.PartitionInfo {
			if pi.Leader != 0 {
				l.setLeader(pi.Partition, pi.Leader)
			}
		}
		return
	}
}

// consume runs one member of node id's group until ctx ends, recording each
// delivery (its session is the member ID it came under) and acking it.
func (l *chaosLoad) consume(ctx context.Context, t *testing.T, id uint64) error {
	c, err := client.NewConsumer(&client.ConsumerConfig{
		Brokers: []string{l.urls[id]}, GroupID: l.group(id), Topics: []string{l.topic},
		SessionTimeout: 6 * time.Second, PollWait: 500 * time.Millisecond, ClientID: l.group(id),
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	reader := fmt.Sprintf("consumer-n%d", id)
	for ctx.Err() == nil {
		msgs, err := c.Poll(ctx, 200)
		if err != nil {
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		session := c.MemberID()
		for _, m := range msgs {
			l.hist.Read(ledger.Read{
				Reader: reader, Session: session, Group: l.group(id),
				Partition: m.Partition, Offset: m.Offset, Value: string(m.Value), Redelivery: m.DeliveryCount > 1,
			})
			if err := c.Ack(m); err != nil {
				t.Logf("%s: ack p%d@%d: %v", reader, m.Partition, m.Offset, err)
			}
		}
	}
	return nil
}

// fetchTails reads the tail of every partition from its leader, each in
// turn, until ctx ends: the last 50 messages below the high watermark it
// saw before, recorded as reads with the watermark this read saw (so that
// the ledger checks, while faults happen, that a committed write is never
// missing from what a leader serves).
func (l *chaosLoad) fetchTails(ctx context.Context) {
	seen := map[int32]int64{}
	for scan := 0; ctx.Err() == nil; scan++ {
		p := int32(scan % l.parts)
		w := ledger.Watermark{Partition: p, Start: time.Now()}
		from := max(0, seen[p]-50)
		var resp api.FetchResponse
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/topics/%s/partitions/%d/messages?offset=%d&max=100", l.urls[l.leader(p)], l.topic, p, from), nil)
		if st, err := l.do(req, &resp, nil); err != nil || st != http.StatusOK {
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		w.End, w.HWM = time.Now(), resp.HighWatermark
		l.hist.Watermark(w)
		for _, m := range resp.Messages {
			l.hist.Read(ledger.Read{Reader: "tail", Session: strconv.Itoa(scan), Partition: p, Offset: m.Offset, Value: valueText(m)})
		}
		seen[p] = resp.HighWatermark
		sleepCtx(ctx, 30*time.Millisecond)
	}
}

// valueText is a fetched message's value as published: the producers send
// JSON strings.
func valueText(m api.Message) string {
	var v string
	if err := json.Unmarshal(m.Value, &v); err != nil {
		return string(m.Value)
	}
	return v
}

// watchCommits records every group's committed offsets every 200 ms until
// ctx ends.
func (l *chaosLoad) watchCommits(ctx context.Context) {
	for ctx.Err() == nil {
		l.readCommits(ctx)
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// readCommits records each group's committed offsets, as its node answers
// them, and returns them per node. The ledger takes the order of its
// commits for the order observed, so one read at a time: two callers
// (watchCommits and the final check) each recorded on its own, and a read
// that asked first but recorded last made a sound group look as if its
// committed offset went back by what the other read saw it move.
func (l *chaosLoad) readCommits(ctx context.Context) map[uint64]map[int32]int64 {
	l.commits.Lock()
	defer l.commits.Unlock()
	out := map[uint64]map[int32]int64{}
	for id, u := range l.urls {
		var resp api.OffsetsResponse
		if st, err := l.get(ctx, u+"/groups/"+l.group(id)+"/offsets", &resp); err != nil || st != http.StatusOK {
			continue
		}
		out[id] = resp.Offsets[l.topic]
		for p, off := range resp.Offsets[l.topic] {
			l.hist.Commit(ledger.Commit{Group: l.group(id), Partition: p, Offset: off})
		}
	}
	return out
}

// readAll reads partition p from node id, from offset 0 to the high
// watermark of the first answer, and returns the messages as the node
// encoded them, the watermark and when the first read started and the
// last ended.
func (l *chaosLoad) readAll(ctx context.Context, id uint64, p int32) ([]api.Message, ledger.Watermark, error) {
	w := ledger.Watermark{Partition: p, HWM: -1, Start: time.Now()}
	var msgs []api.Message
	for next := int64(0); w.HWM < 0 || next < w.HWM; {
		var resp api.FetchResponse
		var refused api.ErrorBody
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/topics/%s/partitions/%d/messages?offset=%d&max=1000", l.urls[id], l.topic, p, next), nil)
		st, err := l.do(req, &resp, &refused)
		if err != nil || st != http.StatusOK {
			return nil, w, fmt.Errorf("node %d: fetch p%d@%d: %d %v %+v", id, p, next, st, err, refused.Error)
		}
		if w.HWM < 0 {
			w.HWM = resp.HighWatermark
		}
		if len(resp.Messages) == 0 {
			break
		}
		msgs = append(msgs, resp.Messages...)
		next = resp.NextOffset
	}
	w.End = time.Now()
	return msgs, w, nil
}

// finalRead reads every partition from its leader into the ledger and
// returns each one's high watermark. Followers serve no reads: their
// copies are compared on disk (compareReplicas). The leaders are asked
// again before each read and after a refused one: leadership may still
// move after healing (a leader hands a partition back to its preferred
// replica), which the leaders in tp, read earlier, do not show.
func (l *chaosLoad) finalRead(ctx context.Context, t *testing.T, tp api.Topic) (hwm map[int32]int64) {
	hwm = map[int32]int64{}
	for _, pi := range tp.PartitionInfo {
		p := pi.Partition
		var msgs []api.Message
		var w ledger.Watermark
		var err error
		for try := 0; try < 20; try++ {
			l.refreshLeaders(ctx)
			if msgs, w, err = l.readAll(ctx, l.leader(p), p); err == nil {
				break
			}
			sleepCtx(ctx, 500*time.Millisecond)
		}
		if err != nil {
			t.Errorf("final read: %v", err)
			continue
		}
		l.hist.Watermark(w)
		hwm[p] = w.HWM
		for _, m := range msgs {
			l.hist.Read(ledger.Read{Reader: "final", Session: "final", Partition: p, Offset: m.Offset, Value: valueText(m)})
		}
	}
	return hwm
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
