package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// launchOne starts node id of c alone (the others are started later, if
// at all) and waits until it serves HTTP.
func (c *clusterProcs) launchOne(id uint64) {
	c.t.Helper()
	p := testkit.Launch(c.t, goqueueBin.Path(c.t), testkit.Options{Args: c.args(id), Env: c.env, CheckExit: true})
	select {
	case <-p.Listening():
	case <-p.Exited():
		c.t.Fatalf("node %d exited at start: %v\n%s", id, p.Err(), p.Log())
	case <-time.After(60 * time.Second):
		c.t.Fatalf("node %d does not serve:\n%s", id, p.Log())
	}
	p.URL = listeningURL(c.t, p)
	c.procs[id] = p
}

// unavailable checks that node id answers method path with 503
// UNAVAILABLE whose message contains says and names each node of names
// by its cluster address, and no internal error; it returns how long the
// answer took.
func (c *clusterProcs) unavailable(id uint64, method, path, body, says string, names ...uint64) (time.Duration, error) {
	var got api.ErrorBody
	start := time.Now()
	st := c.do(id, method, path, body, &got)
	took := time.Since(start)
	if st != http.StatusServiceUnavailable || got.Error == nil || got.Error.Code != api.ErrUnavailable.Code {
		return took, fmt.Errorf("%s %s on node %d: %d %+v, want 503 UNAVAILABLE", method, path, id, st, got.Error)
	}
	msg := got.Error.Message
	if !strings.Contains(msg, says) || strings.Contains(msg, "multiraft") || strings.Contains(msg, "context deadline") {
		return took, fmt.Errorf("%s %s on node %d: %q, want it to say %q (no internal error)", method, path, id, msg, says)
	}
	for _, n := range names {
		if want := fmt.Sprintf("node %d (%s)", n, c.addr(n)); !strings.Contains(msg, want) {
			return took, fmt.Errorf("%s %s on node %d: %q does not name %s", method, path, id, msg, want)
		}
	}
	return took, nil
}

// addr is node id's cluster address in --peers.
func (c *clusterProcs) addr(id uint64) string {
	for e := range strings.SplitSeq(c.peers, ",") {
		if k, v, _ := strings.Cut(e, "="); k == fmt.Sprint(id) {
			return v
		}
	}
	return ""
}

// A node that reaches no metadata leader is not ready: started alone
// (peers unreachable), /readyz answers 503 UNAVAILABLE naming the peers it
// waits for while /livez answers 200, GET /cluster a coded error without
// Go internals, POST /topics fails with the reason within the leader wait
// (5 s) rather than its 10 s timeout, and the log names the silent peers.
// With its peers up it is ready, and stays so with one of them killed;
// with both killed it is not ready again and fails metadata writes at once.
func TestBinaryClusterReadiness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := &clusterProcs{t: t, peers: peerEntries(t, 3), procs: map[uint64]*testkit.Proc{}}
	c.launchOne(1)
	if _, err := c.unavailable(1, "GET", "/readyz", "", "waits for its peers", 2, 3); err != nil {
		t.Fatal(err)
	}
	if st := c.do(1, "GET", "/livez", "", nil); st != http.StatusOK {
		t.Fatalf("/livez of the node alone: %d", st)
	}
	if _, err := c.unavailable(1, "GET", "/cluster", "", "waits for its peers", 2, 3); err != nil {
		t.Fatal(err)
	}
	took, err := c.unavailable(1, "POST", "/topics", `{"name":"t","partitions":1}`, "waits for its peers", 2, 3)
	if err != nil || took > 8*time.Second {
		t.Fatalf("POST /topics on the node alone, after %v: %v", took, err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(c.procs[1].Log(), fmt.Sprintf(`not_answering="node 2 (%s), node 3 (%s)"`, c.addr(2), c.addr(3)))
	}, "the warning about waiting for peers names them")

	c.launchOne(2)
	c.launchOne(3)
	all := []uint64{1, 2, 3}
	leader := c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	for _, id := range all {
		c.eventually(10*time.Second, fmt.Sprintf("node %d ready", id), func() bool { return c.do(id, "GET", "/readyz", "", nil) == http.StatusOK })
	}

	// A follower killed: the two others keep their leader and stay
	// ready, past the 2 s after which they count it down.
	follower := leader%3 + 1
	c.procs[follower].Kill()
	for until := time.Now().Add(3 * time.Second); time.Now().Before(until); time.Sleep(100 * time.Millisecond) {
		for _, id := range all {
			if id == follower {
				continue
			}
			var body api.ErrorBody
			if st := c.do(id, "GET", "/readyz", "", &body); st != http.StatusOK {
				t.Fatalf("node %d with node %d down: /readyz %d %+v", id, follower, st, body.Error)
			}
		}
	}

	// The leader killed too: the last node reaches no majority.
	c.procs[leader].Kill()
	last := 6 - leader - follower
	testkit.EventuallyNil(t, 15*time.Second, func() error {
		_, err := c.unavailable(last, "GET", "/readyz", "", "reaches no majority", leader, follower)
		return err
	})
	if st := c.do(last, "GET", "/livez", "", nil); st != http.StatusOK {
		t.Fatalf("/livez of the last node: %d", st)
	}
	if _, err := c.unavailable(last, "GET", "/cluster", "", "reaches no majority", leader, follower); err != nil {
		t.Fatal(err)
	}
	took, err = c.unavailable(last, "POST", "/topics", `{"name":"u","partitions":1}`, "reaches no majority", leader, follower)
	if err != nil || took > 2*time.Second {
		t.Fatalf("POST /topics on the last node, after %v: %v", took, err)
	}
}
