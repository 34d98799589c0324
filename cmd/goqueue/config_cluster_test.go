package main

import (
	"strings"
	"testing"
)

// The cluster flags parse into the peer table, default the listener to
// this node's peer address, and every misuse is reported with what to fix.
func TestClusterFlags(t *testing.T) {
	c, err := parse(t, []string{"--node-id", "2", "--peers", "1=127.0.0.1:7001, 2=127.0.0.1:7002,3=127.0.0.1:7003"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.cluster.enabled() || len(c.cluster.peerAddrs) != 3 || c.cluster.listenAddr() != "127.0.0.1:7002" || !c.cluster.quiesce {
		t.Fatalf("cluster config: %+v", c.cluster)
	}
	if c, err := parse(t, []string{"--node-id", "1", "--peers", "1=a:7001"}, map[string]string{"GOQUEUE_CLUSTER_QUIESCE": "false"}); err != nil || c.cluster.quiesce {
		t.Fatalf("GOQUEUE_CLUSTER_QUIESCE=false: quiesce %v, %v", c.cluster.quiesce, err)
	}
	c, err = parse(t, []string{"--cluster-addr", "0.0.0.0:7002"}, map[string]string{"GOQUEUE_NODE_ID": "1", "GOQUEUE_PEERS": "1=a:7001"})
	if err != nil || c.cluster.listenAddr() != "0.0.0.0:7002" {
		t.Fatalf("env and --cluster-addr: %+v %v", c.cluster, err)
	}
	if c, err := parse(t, nil, nil); err != nil || c.cluster.enabled() {
		t.Fatalf("no flags: enabled %v, %v", c.cluster.enabled(), err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--node-id", "1"}, "needs --peers"},
		{[]string{"--peers", "1=a:7001"}, "need --node-id"},
		{[]string{"--cluster-addr", "a:7001"}, "needs --node-id and --peers"},
		{[]string{"--node-id", "4", "--peers", "1=a:7001,2=b:7001"}, "node id 4 is not among the peers (1, 2)"},
		{[]string{"--node-id", "1", "--peers", "1=a:7001,1=b:7001"}, "node 1 named twice"},
		{[]string{"--node-id", "1", "--peers", "1=a:7001,2=a:7001"}, "the same address"},
		{[]string{"--node-id", "1", "--peers", "1:a:7001"}, "must be id=host:port"},
		{[]string{"--node-id", "1", "--peers", "0=a:7001"}, "the ID must be a number from 1"},
		{[]string{"--node-id", "1", "--peers", "1=a"}, "must be host:port"},
		{[]string{"--node-id", "1", "--peers", "1=a:0"}, "other nodes dial it"},
		{[]string{"--node-id", "1", "--peers", "1=a:7001,2=:7002"}, "node 2: \":7002\": the host must be one the other nodes can dial"},
		{[]string{"--node-id", "1", "--peers", "1=0.0.0.0:7001"}, "not every interface"},
		{[]string{"--node-id", "1", "--peers", "1=[::]:7001"}, "not every interface"},
		{[]string{"--node-id", "1", "--peers", "1=a:7001", "--cluster-addr", ":0"}, "cluster addr"},
		{[]string{"--node-id", "x", "--peers", "1=a:7001"}, "--node-id"},
	} {
		if _, err := parse(t, tc.args, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
