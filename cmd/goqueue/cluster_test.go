package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// clusterProcs are real goqueue processes forming one cluster on 127.0.0.1.
type clusterProcs struct {
	t     *testing.T
	peers string // the --peers value
	procs map[uint64]*testkit.Proc
	clusterSetup
}

// clusterSetup is what a test changes of the nodes it starts.
type clusterSetup struct {
	flags []string     // every node gets besides its cluster's
	env   []string     // KEY=VALUE every node gets
	hc    *http.Client // asks the nodes (e.g. trusting their TLS); nil: http.DefaultClient
}

func (c *clusterProcs) httpClient() *http.Client {
	if c.hc != nil {
		return c.hc
	}
	return http.DefaultClient
}

// startClusterProcs starts n nodes. Cluster ports must be known before any
// node starts (every node is told all of them), so they are picked free and
// then released; if another process takes one in between, the start is
// tried again with new ports.
func startClusterProcs(t *testing.T, n int) *clusterProcs {
	t.Helper()
	return startClusterProcsWith(t, n, clusterSetup{})
}

// startClusterProcsWith is startClusterProcs with setup.
func startClusterProcsWith(t *testing.T, n int, setup clusterSetup) *clusterProcs {
	t.Helper()
	bin := goqueueBin.Path(t)
	for attempt := 1; ; attempt++ {
		c := &clusterProcs{t: t, peers: peerEntries(t, n), procs: map[uint64]*testkit.Proc{}, clusterSetup: setup}
		for id := uint64(1); id <= uint64(n); id++ {
			c.procs[id] = testkit.Launch(t, bin, testkit.Options{Args: c.args(id), Env: c.env, CheckExit: true})
		}
		raced := false
		for id, p := range c.procs {
			select {
			case <-p.Listening():
			case <-p.Exited():
				if attempt < 3 && strings.Contains(p.Log(), "address already in use") {
					raced = true
					continue
				}
				t.Fatalf("node %d exited at start: %v\n%s", id, p.Err(), p.Log())
			case <-time.After(60 * time.Second):
				t.Fatalf("node %d does not serve:\n%s", id, p.Log())
			}
		}
		if !raced {
			for _, p := range c.procs {
				p.URL = listeningURL(t, p)
				p.Kafka = listeningField(p, "kafka_addr=")
			}
			return c
		}
		for _, p := range c.procs {
			p.Kill()
		}
	}
}

// listeningURL reads the URL off the "listening" line (Launch does not
// wait for it, so it leaves URL unset).
func listeningURL(t *testing.T, p *testkit.Proc) string {
	u := listeningField(p, "url=")
	if u == "" {
		t.Fatalf("no listening line:\n%s", p.Log())
	}
	return u
}

// listeningField is the value of the field starting with key ("url=",
// "kafka_addr=") on the "listening" line, "" if none.
func listeningField(p *testkit.Proc, key string) string {
	for line := range strings.SplitSeq(p.Log(), "\n") {
		if strings.Contains(line, "msg=listening") {
			for f := range strings.FieldsSeq(line) {
				if v, ok := strings.CutPrefix(f, key); ok {
					return v
				}
			}
		}
	}
	return ""
}

func (c *clusterProcs) args(id uint64) []string {
	return append([]string{"--node-id", strconv.FormatUint(id, 10), "--peers", c.peers}, c.flags...)
}

// peerEntries is the --peers value for nodes 1..n on 127.0.0.1 ports
// free a moment ago. Every listener stays open until all ports are
// picked: a port closed before the next pick may be handed out again, and
// two nodes told one address refuse to start.
func peerEntries(t *testing.T, n int) string {
	entries := make([]string, 0, n)
	for id := 1; id <= n; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		entries = append(entries, fmt.Sprintf("%d=%s", id, ln.Addr()))
	}
	return strings.Join(entries, ",")
}

// restart starts node id again on its data directory, cluster port and
// HTTP address, as an operator would: clients configured with the
// cluster's addresses reach it again.
func (c *clusterProcs) restart(id uint64) {
	old := c.procs[id]
	c.procs[id] = testkit.Start(c.t, goqueueBin.Path(c.t), testkit.Options{
		Dir: old.Dir, Addr: old.Addr(), Args: c.args(id), Env: c.env, CheckExit: true,
	})
}

// status is GET /cluster on node id, or false if it does not answer 200
// within a second (no leader confirmed the read yet).
func (c *clusterProcs) status(id uint64) (api.ClusterStatus, bool) {
	var st api.ClusterStatus
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.procs[id].URL+"/cluster", nil)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&st) == nil
}

// agree waits until the nodes in ids all name one metadata leader among
// them, other than notLeader, and see every node of ids alive, registered
// with the incarnation in incs; it returns the leader.
func (c *clusterProcs) agree(ids []uint64, notLeader uint64, incs map[uint64]uint64, within time.Duration) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last []api.ClusterStatus
	for time.Now().Before(deadline) {
		last = last[:0]
		ok := true
		for _, id := range ids {
			st, answered := c.status(id)
			last = append(last, st)
			ok = ok && answered && st.NodeID == id && st.MetaLeader != 0 && st.MetaLeader != notLeader && st.MetaLeader == last[0].MetaLeader
			for _, n := range st.Nodes {
				if want, in := incs[n.ID]; in {
					ok = ok && n.Alive && n.Registered && n.Incarnation == want && n.HTTPAddr != ""
				}
			}
		}
		if ok {
			return last[0].MetaLeader
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("nodes %v do not agree within %v: %+v", ids, within, last)
	return 0
}

// Three real goqueue processes form a cluster and agree on a metadata
// leader; the leader is SIGKILLed and the other two elect another, which
// both report; the killed node restarts on its disk and rejoins (a second
// incarnation).
func TestBinaryClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	started := time.Now()
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	leader := c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	t.Logf("formed: node %d leads, all registered, %v after the starts", leader, time.Since(started).Round(10*time.Millisecond))
	for id, p := range c.procs {
		if _, err := os.Stat(p.Dir + "/cluster/node-id"); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
	}

	killed := time.Now()
	c.procs[leader].Kill()
	var rest []uint64
	for _, id := range all {
		if id != leader {
			rest = append(rest, id)
		}
	}
	newLeader := c.agree(rest, leader, map[uint64]uint64{rest[0]: 1, rest[1]: 1}, 20*time.Second)
	t.Logf("metadata failover: node %d SIGKILLed, node %d confirmed as leader by both survivors after %v", leader, newLeader, time.Since(killed).Round(10*time.Millisecond))

	for i, id := range rest {
		c.eventually(10*time.Second, fmt.Sprintf("node %d sees the killed node %d as not alive", id, leader), func() bool {
			st, ok := c.status(id)
			return ok && len(st.Nodes) == 3 && !st.Nodes[leader-1].Alive && st.Nodes[leader-1].Registered
		})
		// And its metrics say so: the killed node down, the other up;
		// the new leader leads a group at least (the metadata).
		m := c.metrics(id)
		other := rest[1-i]
		if m[fmt.Sprintf(`goqueue_cluster_peer_up{node="%d"}`, leader)] != 0 || m[fmt.Sprintf(`goqueue_cluster_peer_up{node="%d"}`, other)] != 1 ||
			m["goqueue_cluster_raft_groups"] < 1 || id == newLeader && m["goqueue_cluster_raft_groups_led"] < 1 {
			t.Fatalf("node %d's cluster metrics after node %d was killed: peer_up %v %v, raft groups %v, led %v", id, leader,
				m[fmt.Sprintf(`goqueue_cluster_peer_up{node="%d"}`, leader)], m[fmt.Sprintf(`goqueue_cluster_peer_up{node="%d"}`, other)],
				m["goqueue_cluster_raft_groups"], m["goqueue_cluster_raft_groups_led"])
		}
	}

	// The metadata takes writes under the new leader, through either
	// survivor; the killed node learns them when it comes back.
	if st := c.do(rest[0], "POST", "/topics", `{"name":"after-failover","partitions":3}`, nil); st != http.StatusCreated {
		t.Fatalf("create after the failover: %d", st)
	}

	c.restart(leader)
	incs := map[uint64]uint64{1: 1, 2: 1, 3: 1}
	incs[leader] = 2
	c.agree(all, 0, incs, 30*time.Second)
	if tp := c.topic(leader, "after-failover"); len(tp.PartitionInfo) != 3 {
		t.Fatalf("the restarted node's copy of the topic created while it was down: %+v", tp)
	}
}

// metrics scrapes node id's /metrics: every sample by its series, e.g.
// `goqueue_cluster_peer_up{node="2"}`.
func (c *clusterProcs) metrics(id uint64) map[string]float64 {
	c.t.Helper()
	resp, err := c.httpClient().Get(c.procs[id].URL + "/metrics")
	if err != nil {
		c.t.Fatalf("node %d: GET /metrics: %v", id, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		series, v, ok := strings.Cut(sc.Text(), " ")
		if f, err := strconv.ParseFloat(v, 64); ok && err == nil && !strings.HasPrefix(series, "#") {
			out[series] = f
		}
	}
	return out
}

// eventually polls cond until it holds or within passes.
func (c *clusterProcs) eventually(within time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// topic waits until node id has topic name (each node creates the
// metadata's topics shortly after applying them) and returns it.
func (c *clusterProcs) topic(id uint64, name string) api.Topic {
	c.t.Helper()
	var tp api.Topic
	c.eventually(10*time.Second, fmt.Sprintf("node %d has topic %s", id, name), func() bool {
		return c.do(id, "GET", "/topics/"+name, "", &tp) == http.StatusOK
	})
	return tp
}

// knowLeaders waits until every node reports the leader leaders names for
// each partition of topic: a replica that started a partition's group
// after its election learns the leader at the leader's next heartbeat.
func (c *clusterProcs) knowLeaders(topic string, leaders map[int32]uint64) {
	c.t.Helper()
	for id := range c.procs {
		c.eventually(10*time.Second, fmt.Sprintf("node %d knows the leaders of %s", id, topic), func() bool {
			for _, p := range c.topic(id, topic).PartitionInfo {
				if p.Leader != leaders[p.Partition] {
					return false
				}
			}
			return true
		})
	}
}

// A metadata leader paused with SIGSTOP is replaced; resumed, it follows
// the new leader without registering again (it never restarted). Set
// GOQUEUE_CLUSTER_LONG=1 to run it (about 20 s more).
func TestBinaryClusterPause(t *testing.T) {
	if os.Getenv("GOQUEUE_CLUSTER_LONG") == "" {
		t.Skip("set GOQUEUE_CLUSTER_LONG=1 to run")
	}
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	ones := map[uint64]uint64{1: 1, 2: 1, 3: 1}
	leader := c.agree(all, 0, ones, 30*time.Second)
	c.procs[leader].Signal(syscall.SIGSTOP)
	paused := time.Now()
	var rest []uint64
	for _, id := range all {
		if id != leader {
			rest = append(rest, id)
		}
	}
	newLeader := c.agree(rest, leader, map[uint64]uint64{rest[0]: 1, rest[1]: 1}, 20*time.Second)
	t.Logf("node %d paused; node %d confirmed as leader after %v", leader, newLeader, time.Since(paused).Round(10*time.Millisecond))
	c.procs[leader].Signal(syscall.SIGCONT)
	if got := c.agree(all, 0, ones, 30*time.Second); got == leader {
		t.Logf("node %d led again after its pause (a later election)", got)
	}
}

// A single broker answers GET /cluster with NOT_CLUSTERED and writes no
// cluster state.
func TestBinaryNotClustered(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startBinary(t, "")
	var body api.ErrorBody
	if st := p.call(t, "GET", "/cluster", "", &body); st != http.StatusNotFound || body.Error.Code != api.ErrNotClustered.Code {
		t.Fatalf("GET /cluster: %d %+v", st, body.Error)
	}
	if _, err := os.Stat(p.Dir + "/cluster"); !os.IsNotExist(err) {
		t.Fatalf("a single broker made %s/cluster: %v", p.Dir, err)
	}
}

// do sends a JSON request to node id and decodes the answer into out.
func (c *clusterProcs) do(id uint64, method, path, body string, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.procs[id].URL+path, strings.NewReader(body))
	resp, err := c.httpClient().Do(req)
	if err != nil {
		c.t.Fatalf("node %d: %s %s: %v", id, method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// A topic created on a follower goes through the metadata group: every
// node creates it, each partition has one replica and the three nodes lead
// one each; keyless publishes land on the answering node's partition, and
// a publish for another node's partition is answered NOT_LEADER naming
// that node and its HTTP address.
func TestBinaryClusterTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	leader := c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	follower := leader%3 + 1
	var created api.Topic
	if st := c.do(follower, "POST", "/topics", `{"name":"orders","partitions":3,"retention_hours":5}`, &created); st != http.StatusCreated {
		t.Fatalf("create on node %d: %d", follower, st)
	}
	if st := c.do(leader, "POST", "/topics", `{"name":"orders","partitions":3}`, nil); st != http.StatusConflict {
		t.Fatalf("second create: %d, want 409", st)
	}
	leaders := map[uint64]int32{} // node → the partition it leads
	byPart := map[int32]uint64{}
	for _, p := range created.PartitionInfo {
		leaders[p.Leader] = p.Partition
		byPart[p.Partition] = p.Leader
	}
	c.knowLeaders("orders", byPart)
	if len(leaders) != 3 || leaders[0] != 0 {
		t.Fatalf("partitions not spread over the nodes: %+v", created.PartitionInfo)
	}
	for _, id := range all {
		tp := c.topic(id, "orders")
		if tp.RetentionHours != 5 || len(tp.PartitionInfo) != 3 || tp.PartitionInfo[leaders[id]].Leader != id {
			t.Fatalf("node %d: %+v", id, tp)
		}
		var resp api.PublishResponse
		if st := c.do(id, "POST", "/topics/orders/messages", `{"messages":[{"value":1},{"value":2}]}`, &resp); st != http.StatusOK ||
			resp.Offsets[0].Partition != leaders[id] || resp.Offsets[1].Partition != leaders[id] {
			t.Fatalf("keyless publish on node %d: %d %+v", id, st, resp)
		}
		other := id%3 + 1
		var refused api.ErrorBody
		st := c.do(id, "POST", "/topics/orders/messages", fmt.Sprintf(`{"partition":%d,"value":3}`, leaders[other]), &refused)
		if st != http.StatusMisdirectedRequest || refused.Error.Code != api.ErrNotLeader.Code ||
			refused.Error.Details["leader"] != float64(other) || "http://"+fmt.Sprint(refused.Error.Details["leader_addr"]) != c.procs[other].URL {
			t.Fatalf("publish on node %d for node %d's partition: %d %+v", id, other, st, refused.Error)
		}
	}
	var st api.ClusterStatus
	if c.do(leader, "GET", "/cluster", "", &st) != http.StatusOK || len(st.Topics) != 1 || len(st.Topics[0].Partitions) != 3 {
		t.Fatalf("GET /cluster: %+v", st)
	}
}
