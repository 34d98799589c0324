package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// sessionConn sends fetches of one version on one connection, as a client
// of fetch sessions does.
type sessionConn struct {
	t       *testing.T
	c       net.Conn
	version int16
	topic   string
	id      [16]byte
	corr    int32
}

// fetch sends a fetch in session id at epoch of parts (partition → fetch
// offset), forgetting forget, and returns the answer.
func (sc *sessionConn) fetch(id, epoch int32, parts map[int32]int64, forget []int32, wait time.Duration) *kmsg.FetchResponse {
	sc.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch = sc.version, id, epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(wait.Milliseconds()), 1, 1<<20
	if len(parts) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = sc.name(), sc.topicID()
		for _, p := range slices.Sorted(maps.Keys(parts)) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, parts[p], 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = sc.name(), sc.topicID(), forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	sc.corr++
	if _, err := sc.c.Write(frameOf(sc.corr, req)); err != nil {
		sc.t.Fatal(err)
	}
	corr, body := readAnswer(sc.t, sc.c)
	if corr != sc.corr {
		sc.t.Fatalf("answer %d to request %d", corr, sc.corr)
	}
	if req.IsFlexible() {
		body = body[1:] // no header tags
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = sc.version
	if err := resp.ReadFrom(body); err != nil {
		sc.t.Fatal(err)
	}
	return resp
}

// Named before v13, by ID from v13 on.
func (sc *sessionConn) name() string {
	if sc.version < 13 {
		return sc.topic
	}
	return ""
}

func (sc *sessionConn) topicID() [16]byte {
	if sc.version < 13 {
		return [16]byte{}
	}
	return sc.id
}

// answered is what a fetch answer holds: per partition, the records'
// count (-1 for a partition answered without records) and the error.
func answered(t *testing.T, resp *kmsg.FetchResponse) map[int32]int {
	t.Helper()
	out := map[int32]int{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			}
			n := -1
			if len(rp.RecordBatches) > 0 {
				n = 0
				for b := rp.RecordBatches; len(b) >= 61; {
					var rb kmsg.RecordBatch
					if err := rb.ReadFrom(b); err != nil {
						t.Fatal(err)
					}
					n += int(rb.NumRecords)
					b = b[12+rb.Length:]
				}
			}
			out[rp.Partition] += n
		}
	}
	return out
}

// A fetch session (KIP-227) over one connection, at a version naming
// topics and one naming them by ID: the opening fetch is answered in full
// with the session's ID; each later fetch names only what changed and is
// answered only with partitions that have something new (records, moved
// bounds), waiting for appends to any of the session's partitions; a
// forgotten partition is no longer answered; a wrong epoch or an unknown
// session is refused at the top level; the final epoch ends the session.
func TestFetchSessions(t *testing.T) {
	p := start(t)
	cl := p.client(t)
	for _, version := range []int16{7, 12, 16} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			topic := fmt.Sprintf("sess%d", version)
			id := createTopic(t, cl, topic, 3)
			pid := producerID(t, cl)
			seq := map[int32]int32{}
			produced := func(part int32, values ...string) error {
				req := produceTo(topic, []int32{part}, func(int32) []byte { return rawBatch(pid, 0, seq[part], values...) })
				seq[part] += int32(len(values))
				if resp, err := req.RequestWith(ctxT(t), cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
					return fmt.Errorf("produce: %v %+v", err, resp)
				}
				return nil
			}
			produce := func(part int32, values ...string) {
				t.Helper()
				if err := produced(part, values...); err != nil {
					t.Fatal(err)
				}
			}
			produce(0, "a", "b")
			produce(1, "c", "d")
			c, err := net.Dial("tcp", p.Kafka)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sc := &sessionConn{t: t, c: c, version: version, topic: topic, id: id}
			want := func(step string, resp *kmsg.FetchResponse, code int16, parts map[int32]int) {
				t.Helper()
				if resp.ErrorCode != code {
					t.Fatalf("%s: code %v, want %v", step, kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(code))
				}
				if got := answered(t, resp); fmt.Sprint(got) != fmt.Sprint(parts) {
					t.Fatalf("%s: answered %v, want %v", step, got, parts)
				}
			}

			open := sc.fetch(0, 0, map[int32]int64{0: 0, 1: 0, 2: 0}, nil, 0)
			want("open", open, 0, map[int32]int{0: 2, 1: 2, 2: -1})
			sid := open.SessionID
			if sid == 0 {
				t.Fatal("no session opened")
			}
			// Both positions moved; nothing new anywhere.
			want("moved on", sc.fetch(sid, 1, map[int32]int64{0: 2, 1: 2}, nil, 0), 0, map[int32]int{})
			// A record on partition 2, which the fetch does not name: the
			// session still fetches it, from its offset, and waits for it.
			appended := make(chan error, 1)
			go func() {
				time.Sleep(200 * time.Millisecond)
				appended <- produced(2, "e")
			}()
			start := time.Now()
			resp := sc.fetch(sid, 2, nil, nil, 10*time.Second)
			if err := <-appended; err != nil {
				t.Fatal(err)
			}
			want("waited", resp, 0, map[int32]int{2: 1})
			if waited := time.Since(start); waited > 5*time.Second {
				t.Fatalf("the fetch waited %v for an append to the session's partition", waited)
			}
			if resp.SessionID != sid {
				t.Fatalf("session %d answered as %d", sid, resp.SessionID)
			}
			want("stale epoch", sc.fetch(sid, 2, nil, nil, 0), kerr.InvalidFetchSessionEpoch.Code, map[int32]int{})
			// Partition 2 forgotten: a record there is no news to it.
			want("forget", sc.fetch(sid, 3, map[int32]int64{2: 1}, []int32{2}, 0), 0, map[int32]int{})
			produce(2, "f")
			produce(0, "g")
			want("after forgetting", sc.fetch(sid, 4, nil, nil, 0), 0, map[int32]int{0: 1})
			want("unknown session", sc.fetch(sid+1, 1, nil, nil, 0), kerr.FetchSessionIDNotFound.Code, map[int32]int{})
			// The final epoch ends it, answered in full without a session.
			final := sc.fetch(sid, -1, map[int32]int64{0: 0, 2: 0}, nil, 0)
			want("final", final, 0, map[int32]int{0: 3, 2: 2})
			if final.SessionID != 0 {
				t.Fatalf("a sessionless fetch answered as session %d", final.SessionID)
			}
			want("ended", sc.fetch(sid, 5, nil, nil, 0), kerr.FetchSessionIDNotFound.Code, map[int32]int{})
		})
	}
}

// fetchSizes is a kgo hook keeping the sizes of the fetch requests it
// writes and the answers it reads, in order.
type fetchSizes struct {
	mu              sync.Mutex
	written, answer []int
}

func (f *fetchSizes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key == int16(kmsg.Fetch) {
		f.mu.Lock()
		f.written = append(f.written, n)
		f.mu.Unlock()
	}
}

func (f *fetchSizes) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key == int16(kmsg.Fetch) {
		f.mu.Lock()
		f.answer = append(f.answer, n)
		f.mu.Unlock()
	}
}

// kgo fetches in a session: once it named a topic's 200 partitions, its
// fetches name none and the answers hold none while nothing changes —
// tens of bytes, not kilobytes — and a record appended to one of them
// reaches it.
func TestKgoFetchSessions(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "many", 200)
	sizes := &fetchSizes{}
	cl := p.client(t, kgo.ConsumeTopics("many"), kgo.FetchMaxWait(50*time.Millisecond), kgo.WithHooks(sizes))
	poll := func(d time.Duration) []*kgo.Record {
		ctx, cancel := context.WithTimeout(ctxT(t), d)
		defer cancel()
		return cl.PollRecords(ctx, -1).Records()
	}
	testkit.EventuallyNil(t, 30*time.Second, func() error {
		poll(100 * time.Millisecond)
		sizes.mu.Lock()
		defer sizes.mu.Unlock()
		if len(sizes.answer) < 10 {
			return fmt.Errorf("%d fetches answered", len(sizes.answer))
		}
		return nil
	})
	sizes.mu.Lock()
	written, answer := slices.Clone(sizes.written), slices.Clone(sizes.answer)
	sizes.mu.Unlock()
	// kgo may add the partitions over its first few fetches.
	var named int
	for _, n := range written[:len(written)-5] {
		named += n
	}
	if named < 200*20 || slices.Max(written[len(written)-5:]) > 200 || slices.Max(answer[len(answer)-5:]) > 200 {
		t.Fatalf("fetch request sizes %v; answers %v: want the first ones naming every partition, the last ones none", written, answer)
	}
	produceTo1 := &kgo.Record{Topic: "many", Partition: 137, Value: []byte("x")}
	pr := p.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := pr.ProduceSync(ctxT(t), produceTo1).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyNil(t, 30*time.Second, func() error {
		for _, r := range poll(200 * time.Millisecond) {
			if r.Partition == 137 && string(r.Value) == "x" {
				return nil
			}
		}
		return fmt.Errorf("the record on partition 137 not fetched")
	})
}
