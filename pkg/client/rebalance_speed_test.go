package client_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// rebalanceRig runs live, polling Go-client members of one group over a
// 6-partition topic and times, from their callbacks, how long a joining
// member waits for its first partition and how long each partition is
// without an owner.
type rebalanceRig struct {
	tb       testing.TB
	url      string
	admin    *client.Client
	group    string
	assignor string

	mu        sync.Mutex
	members   map[string]*rigMember
	seq       int
	revokedAt map[int32]time.Time // partitions without an owner, since when
	gaps      []time.Duration     // per handoff: revoked (or left) → assigned
	joins     []time.Duration     // per joining member: start → first partition
}

type rigMember struct {
	cons    *client.Consumer
	started time.Time
	owns    bool // has owned a partition
	stop    context.CancelFunc
	done    chan struct{}
}

const rigTopic = "orders"

func newRebalanceRig(tb testing.TB, url string, admin *client.Client, group, assignor string) *rebalanceRig {
	return &rebalanceRig{tb: tb, url: url, admin: admin, group: group, assignor: assignor,
		members: map[string]*rigMember{}, revokedAt: map[int32]time.Time{}}
}

// start adds a member that polls until stopped.
func (r *rebalanceRig) start() string {
	r.mu.Lock()
	r.seq++
	name := fmt.Sprintf("m%d", r.seq)
	r.mu.Unlock()
	cons, err := client.NewConsumer(&client.ConsumerConfig{
		Brokers: []string{r.url}, GroupID: r.group, Topics: []string{rigTopic}, Assignor: r.assignor,
		OnAssigned: func(a api.Assignment) { r.assigned(name, a) },
		OnRevoked:  func(a api.Assignment) { r.revoked(a) },
		OnLost:     func(a api.Assignment) { r.revoked(a) },
	})
	if err != nil {
		r.tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &rigMember{cons: cons, started: time.Now(), stop: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.members[name] = m
	r.mu.Unlock()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			msgs, _ := cons.Poll(ctx, 100)
			for _, msg := range msgs {
				_ = cons.Ack(msg)
			}
		}
	}()
	return name
}

// stopMember closes a member: it commits, releases (OnRevoked) and leaves.
func (r *rebalanceRig) stopMember(name string) {
	r.mu.Lock()
	m := r.members[name]
	delete(r.members, name)
	r.mu.Unlock()
	m.stop()
	<-m.done
	if err := m.cons.Close(); err != nil {
		r.tb.Errorf("close %s: %v", name, err)
	}
}

func (r *rebalanceRig) stopAll() {
	r.mu.Lock()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range r.members {
			if !yield(n) {
				return
			}
		}
	})
	r.mu.Unlock()
	for _, n := range names {
		r.stopMember(n)
	}
}

func (r *rebalanceRig) assigned(name string, a api.Assignment) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range a[rigTopic] {
		if at, ok := r.revokedAt[p]; ok {
			r.gaps = append(r.gaps, now.Sub(at))
			delete(r.revokedAt, p)
		}
	}
	if m := r.members[name]; m != nil && !m.owns && len(a[rigTopic]) > 0 {
		m.owns = true
		r.joins = append(r.joins, now.Sub(m.started))
	}
}

func (r *rebalanceRig) revoked(a api.Assignment) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range a[rigTopic] {
		r.revokedAt[p] = now
	}
}

// waitBalanced waits until the group is stable with every live member
// owning its share of the 6 partitions and no partition without an owner.
func (r *rebalanceRig) waitBalanced(within time.Duration) {
	r.tb.Helper()
	testkit.EventuallyNil(r.tb, within, func() error {
		r.mu.Lock()
		n, unowned := len(r.members), len(r.revokedAt)
		r.mu.Unlock()
		g, err := r.admin.Group(context.Background(), r.group)
		if err == nil && g.State == api.GroupStateStable && len(g.Members) == n && unowned == 0 && r.shared(g) {
			return nil
		}
		return fmt.Errorf("%s: group not balanced over %d members: %+v (%v)", r.assignor, n, g, err)
	})
}

func (r *rebalanceRig) shared(g *api.GroupDescription) bool {
	for _, m := range g.Members {
		if n := len(m.AssignedPartitions[rigTopic]); n < 6/len(g.Members) {
			return false
		}
	}
	return true
}

// scaleOut starts two members, waits for them to share the partitions,
// then starts a third.
func (r *rebalanceRig) scaleOut(within time.Duration) {
	r.start()
	r.start()
	r.waitBalanced(within)
	r.resetFigures()
	r.start()
	r.waitBalanced(within)
}

// rollingRestart starts three members, then replaces each in turn: close
// it, start a new one, wait for the group to balance.
func (r *rebalanceRig) rollingRestart(within time.Duration) {
	var first []string
	for range 3 {
		first = append(first, r.start())
	}
	r.waitBalanced(within)
	r.resetFigures()
	for _, old := range first {
		r.stopMember(old)
		r.start()
		r.waitBalanced(within)
	}
}

func (r *rebalanceRig) resetFigures() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaps, r.joins = nil, nil
}

func rigBroker(tb testing.TB, edit func(*broker.Config)) (*brokertest.Server, *client.Client) {
	srv := brokertest.Start(tb, brokertest.WithConfig(edit))
	admin, err := client.New(srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.CreateTopic(context.Background(), api.CreateTopicRequest{Name: rigTopic, Partitions: 6}); err != nil {
		tb.Fatal(err)
	}
	return srv, admin
}

// TestRebalanceDoesNotWaitForHeartbeats: with a heartbeat interval of an
// hour, a scale-out and a rolling restart still converge under every
// assignor, since every step of a rebalance reaches the members through
// their long polls, not their heartbeats.
func TestRebalanceDoesNotWaitForHeartbeats(t *testing.T) {
	srv, admin := rigBroker(t, func(c *broker.Config) {
		c.Groups.HeartbeatInterval = time.Hour
		c.Groups.SessionTimeout = 3 * time.Hour
		c.Groups.MaxSessionTimeout = 4 * time.Hour
		c.Groups.MaxRebalanceTimeout = 4 * time.Hour
	})
	for _, assignor := range []string{api.AssignorRange, api.AssignorRoundRobin, api.AssignorSticky, api.AssignorCooperativeSticky} {
		for _, scenario := range []string{"scale-out", "rolling-restart"} {
			t.Run(assignor+"/"+scenario, func(t *testing.T) {
				r := newRebalanceRig(t, srv.URL, admin, assignor+"-"+scenario, assignor)
				defer r.stopAll()
				if scenario == "scale-out" {
					r.scaleOut(20 * time.Second)
				} else {
					r.rollingRestart(20 * time.Second)
				}
			})
		}
	}
}

// BenchmarkRebalance times, with default settings and live polling
// members, a scale-out from 2 to 3 members and a rolling restart of 3,
// under each assignor: join-p50-ms is a joining member's wait for its
// first partition, unowned-p50-ms and unowned-max-ms the time partitions
// spend without an owner (revoked or released → assigned), and
// rebalance-ms the group's time in rebalance per scenario, as GET
// /groups/{group} reports it (the first members' joins included). One
// iteration is one whole scenario on a new group.
func BenchmarkRebalance(b *testing.B) {
	srv, admin := rigBroker(b, func(*broker.Config) {})
	for _, assignor := range []string{api.AssignorRange, api.AssignorRoundRobin, api.AssignorSticky, api.AssignorCooperativeSticky} {
		for _, scenario := range []string{"scale-out", "rolling-restart"} {
			b.Run(assignor+"/"+scenario, func(b *testing.B) {
				var joins, gaps []time.Duration
				var inRebalance time.Duration
				i := 0
				for b.Loop() {
					i++
					r := newRebalanceRig(b, srv.URL, admin, fmt.Sprintf("%s-%s-%d", assignor, scenario, i), assignor)
					if scenario == "scale-out" {
						r.scaleOut(time.Minute)
					} else {
						r.rollingRestart(time.Minute)
					}
					b.StopTimer()
					r.mu.Lock()
					joins, gaps = append(joins, r.joins...), append(gaps, r.gaps...)
					r.mu.Unlock()
					g, err := admin.Group(context.Background(), r.group)
					if err != nil {
						b.Fatal(err)
					}
					inRebalance += time.Duration(g.Rebalances.TotalDurationMS) * time.Millisecond
					r.stopAll()
					b.StartTimer()
				}
				b.ReportMetric(ms(quantile(joins, 0.5)), "join-p50-ms")
				b.ReportMetric(ms(quantile(gaps, 0.5)), "unowned-p50-ms")
				b.ReportMetric(ms(quantile(gaps, 1)), "unowned-max-ms")
				b.ReportMetric(ms(inRebalance)/float64(i), "rebalance-ms")
			})
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile returns the q-quantile of ds (0 for none).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}
