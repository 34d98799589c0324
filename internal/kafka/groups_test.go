package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// produceN produces n records with values "<prefix>-<i>" to topic.
func produceN(t *testing.T, cl *kgo.Client, topic, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		cl.Produce(ctxT(t), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)},
			func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
	}
	wg.Wait()
}

// Two kgo consumers in a cooperative-sticky classic group share a topic:
// every record is consumed (at least once: kgo's autocommit may hand over a
// partition before committing what it polled, as with Kafka), the
// group's committed offsets, members, their partitions and its rebalances
// show in GET /groups/{id}, and a consumer started after they left resumes
// from the committed offsets.
func TestKgoClassicGroupCooperativeSticky(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "jobs", 6)
	produceN(t, admin, "jobs", "a", 300)

	var mu sync.Mutex
	seen := map[string]int{}
	consumer := func(name string) *kgo.Client {
		return p.client(t, kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"),
			kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.SessionTimeout(6*time.Second),
			kgo.HeartbeatInterval(300*time.Millisecond), kgo.ClientID(name),
			kgo.FetchMaxWait(500*time.Millisecond))
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	// consume runs the members' polls until done holds, then ends them:
	// PollFetches would otherwise wait for records that never come.
	consume := func(done func() bool, members ...*kgo.Client) {
		t.Helper()
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		defer func() { stop(); wg.Wait() }()
		for _, cl := range members {
			wg.Go(func() {
				for ctx.Err() == nil {
					fs := cl.PollFetches(ctx)
					fs.EachError(func(topic string, p int32, err error) {
						if ctx.Err() == nil {
							t.Errorf("fetch %s/%d: %v", topic, p, err)
						}
					})
					mu.Lock()
					for _, r := range fs.Records() {
						seen[string(r.Value)]++
					}
					mu.Unlock()
				}
			})
		}
		testkit.EventuallyNil(t, 60*time.Second, func() error {
			if done() {
				return nil
			}
			return fmt.Errorf("seen %d records", count())
		})
	}
	c1 := consumer("c1")
	consume(func() bool { return count() >= 100 }, c1)
	c2 := consumer("c2")
	produceN(t, admin, "jobs", "b", 300)
	// c1 may read every record before c2 joins, and a partition may move
	// before its owner committed what it polled: the new owner reads it
	// again. So the members poll on until the rebalance is done and their
	// commits cover every record.
	consume(func() bool {
		if count() < 600 || !bothAssigned(describe(t, admin, "workers")) {
			return false
		}
		for _, c := range []*kgo.Client{c1, c2} {
			if c.CommitUncommittedOffsets(ctxT(t)) != nil {
				return false // a rebalance began: try again
			}
		}
		total, _ := committed(t, p, "workers")
		return total == 600
	}, c1, c2)
	// Both members hold partitions after the cooperative rebalance.
	d := describe(t, admin, "workers")
	if !bothAssigned(d) || d.ProtocolType != "consumer" || d.Protocol != "cooperative-sticky" {
		t.Fatalf("describe: %+v", d)
	}
	for _, c := range []*kgo.Client{c1, c2} {
		if err := c.CommitUncommittedOffsets(ctxT(t)); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	// GET /groups/{id} shows the members, what each holds and the
	// rebalances, not an empty group.
	g := groupView(t, p, "workers")
	owners := map[int32]string{}
	clients := map[string]bool{}
	for _, m := range g.Members {
		clients[m.ClientID] = true
		for _, part := range m.AssignedPartitions["jobs"] {
			if owners[part] != "" {
				t.Fatalf("partition %d held by two members: %+v", part, g.Members)
			}
			owners[part] = m.MemberID
		}
	}
	if g.State != api.GroupStateStable || g.Assignor != "cooperative-sticky" || len(g.Members) != 2 || !clients["c1"] || !clients["c2"] ||
		len(owners) != 6 || g.Rebalances.Count < 2 || g.Rebalances.ByReason["member_joined"] != 2 || g.Rebalances.InProgress {
		t.Fatalf("GET /groups/workers while it consumes: %+v", g)
	}
	for _, ps := range g.Partitions {
		if ps.Owner != owners[ps.Partition] {
			t.Fatalf("partition %d's owner is %q, its member %q", ps.Partition, ps.Owner, owners[ps.Partition])
		}
	}
	// An HTTP member may not join a group with Kafka members, nor an
	// operator reset its offsets under them (a preview may).
	resp, body := httpDo(t, p, "POST", "/groups/workers/join", `{"topics":["jobs"]}`)
	if resp != http.StatusConflict || !strings.Contains(body, "INCONSISTENT_GROUP_PROTOCOL") {
		t.Fatalf("HTTP join of a Kafka group: %d %s", resp, body)
	}
	for reset, want := range map[string]int{
		`{"to":"earliest","topics":["jobs"]}`:                http.StatusConflict,
		`{"to":"earliest","topics":["jobs"],"dry_run":true}`: http.StatusOK,
	} {
		if resp, body := httpDo(t, p, "POST", "/groups/workers/offsets/reset", reset); resp != want ||
			want == http.StatusConflict && !strings.Contains(body, "GROUP_NOT_EMPTY") {
			t.Fatalf("reset %s of a group with Kafka members: %d %s", reset, resp, body)
		}
	}
	if total, body := committed(t, p, "workers"); total != 600 {
		t.Fatalf("after the refused reset the committed offsets sum to %d, want 600: %s", total, body)
	}
	live := g.Rebalances
	c1.Close()
	c2.Close()
	// Empty now: the group is the coordinator's again (its offsets), and
	// its history, kept across restarts, has every rebalance: the last
	// handed the partitions to no one, each in a generation of its own.
	// Its counts and generation go on from its members' (they went back
	// to none when they left).
	g = groupView(t, p, "workers")
	if g.State != api.GroupStateEmpty || len(g.Members) != 0 || g.Rebalances.InProgress ||
		g.Rebalances.Count < live.Count+1 || g.Rebalances.ByReason["member_left"] < 1 ||
		g.Rebalances.ByReason["member_joined"] != live.ByReason["member_joined"] {
		t.Fatalf("GET /groups/workers after its members left: %+v; while they consumed: %+v", g, live)
	}
	emptied := g
	var history api.RebalanceHistory
	_, body = httpDo(t, p, "GET", "/groups/workers/rebalances", "")
	if err := json.Unmarshal([]byte(body), &history); err != nil || len(history.Rebalances) < 3 {
		t.Fatalf("GET /groups/workers/rebalances: %v: %s", err, body)
	}
	if last := history.Rebalances[0]; last.Reason != "member_left" || last.EndedAt == 0 || len(last.Moved) == 0 || last.Moved[0].To != "" {
		t.Fatalf("the last rebalance: %+v", last)
	}
	for i := 1; i < len(history.Rebalances); i++ {
		if history.Rebalances[i].Generation >= history.Rebalances[i-1].Generation {
			t.Fatalf("generations not each their own: %s", body)
		}
	}
	if g.Generation != history.Rebalances[0].Generation || len(g.Rebalances.Recent) == 0 || g.Rebalances.Recent[0].Generation != g.Generation {
		t.Fatalf("the empty group's generation %d, its last rebalance's %d: %+v", g.Generation, history.Rebalances[0].Generation, g.Rebalances)
	}
	// The offsets are the group's, in the one offset store.
	if total, body := committed(t, p, "workers"); total != 600 {
		t.Fatalf("committed offsets sum to %d, want 600: %s", total, body)
	}
	if len(seen) != 600 {
		t.Fatalf("%d distinct records consumed, want 600", len(seen))
	}
	// A new consumer of the group starts at the committed offsets.
	produceN(t, admin, "jobs", "c", 10)
	c3 := consumer("c3")
	seen = map[string]int{}
	consume(func() bool { return count() >= 10 }, c3)
	for v := range seen {
		if !strings.HasPrefix(v, "c-") {
			t.Fatalf("resumed consumer read %s again", v)
		}
	}
	// Its generations and counts go on from the emptied group's.
	if g = groupView(t, p, "workers"); g.Generation <= emptied.Generation || g.Rebalances.Count <= emptied.Rebalances.Count {
		t.Fatalf("GET /groups/workers with a new member: %+v; emptied: %+v", g, emptied)
	}
}

// A classic group's partitions show in GET /groups/{id} from the moment
// its members hold them, before their first commit: owned, nothing
// committed, and no lag — where a Kafka consumer starts is its client's
// choice (auto.offset.reset), so its lag is not known until it commits.
func TestClassicGroupBeforeItsFirstCommit(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "fresh", 3)
	produceN(t, admin, "fresh", "a", 30)
	cl := p.client(t, kgo.ConsumerGroup("nocommit"), kgo.ConsumeTopics("fresh"), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond))
	for seen := 0; seen < 30; {
		fs := cl.PollFetches(ctxT(t))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		seen += fs.NumRecords()
	}
	g := groupView(t, p, "nocommit")
	var hwm int64
	for _, ps := range g.Partitions {
		if ps.Topic != "fresh" || len(g.Members) != 1 || ps.Owner != g.Members[0].MemberID || ps.CommittedOffset != -1 || ps.Lag != 0 || ps.TimeLagMS != 0 {
			t.Fatalf("partition %+v of %+v", ps, g)
		}
		hwm += ps.HighWatermark
	}
	if len(g.Partitions) != 3 || hwm != 30 || g.Lag != 0 {
		t.Fatalf("GET /groups/nocommit: %+v", g)
	}
	// Once it commits, its lag is known.
	if err := cl.CommitUncommittedOffsets(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	produceN(t, admin, "fresh", "b", 6)
	if g = groupView(t, p, "nocommit"); g.Lag != 6 {
		t.Fatalf("GET /groups/nocommit after a commit and 6 more records: %+v", g)
	}
}

// A group's generations go on from one protocol to the next: a classic
// member that joins after HTTP members ran the group past the generation
// its classic members last had starts beyond theirs.
func TestClassicGenerationGoesOnFromHTTP(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "gens", 2)
	stable := func(cl *kgo.Client) api.GroupDescription {
		t.Helper()
		var g api.GroupDescription
		testkit.EventuallyNil(t, 30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
			cl.PollRecords(ctx, -1) // makes the client join; nothing to consume
			cancel()
			if g = groupView(t, p, "gens"); g.State != api.GroupStateStable || len(g.Members) != 1 {
				return fmt.Errorf("group %+v", g)
			}
			return nil
		})
		return g
	}
	member := func() *kgo.Client {
		return p.client(t, kgo.ConsumerGroup("gens"), kgo.ConsumeTopics("gens"), kgo.FetchMaxWait(100*time.Millisecond))
	}
	c1 := member()
	classic := stable(c1).Generation
	c1.Close()
	// HTTP members join and leave, each moving the group on.
	for range 3 {
		var joined api.JoinResponse
		st, body := httpDo(t, p, "POST", "/groups/gens/join", `{"topics":["gens"]}`)
		if st != http.StatusOK || json.Unmarshal([]byte(body), &joined) != nil {
			t.Fatalf("HTTP join: %d %s", st, body)
		}
		if st, body := httpDo(t, p, "POST", "/groups/gens/leave", fmt.Sprintf(`{"member_id":%q}`, joined.MemberID)); st != http.StatusNoContent {
			t.Fatalf("HTTP leave: %d %s", st, body)
		}
	}
	http := groupView(t, p, "gens").Generation
	if http <= classic+3 {
		t.Fatalf("after 3 HTTP joins the group is at generation %d, its classic members were at %d", http, classic)
	}
	if g := stable(member()); g.Generation <= http {
		t.Fatalf("a classic member rejoined at generation %d, the group was at %d: %+v", g.Generation, http, g)
	}
}

// groupView is GET /groups/{id}.
func groupView(t *testing.T, p *proc, group string) api.GroupDescription {
	t.Helper()
	var g api.GroupDescription
	_, body := httpDo(t, p, "GET", "/groups/"+group, "")
	if err := json.Unmarshal([]byte(body), &g); err != nil {
		t.Fatalf("GET /groups/%s: %v: %s", group, err, body)
	}
	return g
}

// committed is the sum of the group's committed offsets, from GET
// /groups/{id}, and the response.
func committed(t *testing.T, p *proc, group string) (int64, string) {
	t.Helper()
	var g struct {
		Partitions []struct {
			CommittedOffset int64 `json:"committed_offset"`
		} `json:"partitions"`
	}
	_, body := httpDo(t, p, "GET", "/groups/"+group, "")
	if err := json.Unmarshal([]byte(body), &g); err != nil {
		t.Fatalf("GET /groups/%s: %v: %s", group, err, body)
	}
	var total int64
	for _, part := range g.Partitions {
		total += part.CommittedOffset
	}
	return total, body
}

// bothAssigned says whether the group is stable with two members, each
// assigned some partitions.
func bothAssigned(d kmsg.DescribeGroupsResponseGroup) bool {
	assigned := 0
	for _, m := range d.Members {
		var a kmsg.ConsumerMemberAssignment
		if a.ReadFrom(m.MemberAssignment) == nil && len(a.Topics) > 0 && len(a.Topics[0].Partitions) > 0 {
			assigned++
		}
	}
	return d.State == "Stable" && len(d.Members) == 2 && assigned == 2
}

// The broker's timeout bounds hold Kafka members as they hold HTTP ones:
// a classic join asking for a session timeout outside
// --min/--max-session-timeout is INVALID_SESSION_TIMEOUT (Kafka's answer
// outside group.min/max.session.timeout.ms); a rebalance timeout past
// --max-rebalance-timeout is cut to it, not refused, as Kafka bounds none
// (clients send max.poll.interval.ms).
func TestKafkaJoinTimeoutBounds(t *testing.T) {
	p := start(t, "--min-session-timeout", "5s", "--max-session-timeout", "20s", "--session-timeout", "10s", "--max-rebalance-timeout", "10s")
	admin := p.client(t)
	createTopic(t, admin, "bounded", 1)
	for _, tc := range []struct {
		session, rebalance int32
		want               int16
	}{
		{2000, 10000, kerr.InvalidSessionTimeout.Code},
		{60000, 10000, kerr.InvalidSessionTimeout.Code},
		{600000, 600000, kerr.InvalidSessionTimeout.Code},
		{10000, 3600000, kerr.MemberIDRequired.Code}, // taken (and cut: TestJoinRebalanceTimeoutCut); v4+ first hands out the member ID
		{5000, 10000, kerr.MemberIDRequired.Code},
	} {
		resp, err := rangeJoin("bounded-g", tc.session, tc.rebalance).RequestWith(ctxT(t), admin)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != tc.want {
			t.Errorf("join with session %d ms, rebalance %d ms: code %d, want %d", tc.session, tc.rebalance, resp.ErrorCode, tc.want)
		}
	}
}

// rangeJoin is a new consumer's JoinGroup of group offering the range
// protocol, with these timeouts (ms).
func rangeJoin(group string, session, rebalance int32) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.ProtocolType = group, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = session, rebalance
	pr := kmsg.NewJoinGroupRequestProtocol()
	pr.Name, pr.Metadata = "range", []byte{0, 0}
	req.Protocols = append(req.Protocols, pr)
	return req
}

// A Kafka member may not join a group with HTTP members.
func TestKafkaJoinOfHTTPGroupRefused(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "mixed", 1)
	if st, body := httpDo(t, p, "POST", "/groups/httpers/join", `{"topics":["mixed"]}`); st != http.StatusOK {
		t.Fatalf("HTTP join: %d %s", st, body)
	}
	resp, err := rangeJoin("httpers", 10000, 10000).RequestWith(ctxT(t), admin)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("join: code %d, want INCONSISTENT_GROUP_PROTOCOL", resp.ErrorCode)
	}
}

func describe(t *testing.T, cl *kgo.Client, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

func httpDo(t *testing.T, p *proc, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}
