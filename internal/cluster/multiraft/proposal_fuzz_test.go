package multiraft

import (
	"bytes"
	"errors"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// recorder is a state machine that keeps the commands it applied.
type recorder struct {
	index []uint64
	cmds  [][]byte
}

func (r *recorder) Apply(index uint64, cmd []byte) any {
	r.index = append(r.index, index)
	r.cmds = append(r.cmds, bytes.Clone(cmd))
	return len(r.cmds)
}
func (r *recorder) Snapshot() ([]byte, error) { return nil, nil }
func (r *recorder) Restore([]byte) error      { return nil }

// FuzzApplyEntry applies arbitrary bytes as the data of a committed normal
// entry (proposed by any node, replicated, replayed from disk) at index 5
// of a group whose leader, this host, is waiting for its proposal 7 there.
// Data too short for a proposal header is the empty entry a new leader
// appends: nothing is applied. Any other reaches the state machine, from
// after the header, once; the header and command framed again are the
// data. Either way the wait is settled once: with the state machine's
// answer if the header names this host's proposal 7, else as dropped.
func FuzzApplyEntry(f *testing.F) {
	const nonce = 0x5eed
	for _, id := range []proposalID{{1, nonce, 7}, {1, nonce, 8}, {2, nonce, 7}, {1, nonce + 1, 7}} {
		for _, cmd := range []string{"p k v", ""} {
			data := framed([]byte(cmd))
			putHeader(data, id)
			f.Add(data)
		}
	}
	data := framed([]byte(`{"create_topic":{"name":"orders"}}`))
	putHeader(data, proposalID{1, nonce, 7})
	f.Add(data[:headerLen-1])
	f.Add(data[:1])
	f.Add([]byte{})
	for _, i := range []int{7, 15, 23, headerLen} {
		c := bytes.Clone(data)
		c[i] ^= 1
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := New(Config{NodeID: 1, FS: vfs.NewMem(), Dir: "d"})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		h.nonce = nonce
		sm := &recorder{}
		if err := h.AddGroup(1, []uint64{1}, sm); err != nil {
			t.Fatal(err)
		}
		g := h.groups[1]
		var settled []Result
		g.waits.add(7, func(r Result) { settled = append(settled, r) })
		g.waits.bind(7, 5, 2)
		if err := h.applyEntry(g, &pb.Entry{Type: pb.EntryNormal.Enum(), Index: new(uint64(5)), Term: new(uint64(2)), Data: data}); err != nil {
			t.Fatalf("applying a normal entry: %v", err)
		}
		id, cmd, ok := parseHeader(data)
		switch {
		case !ok && (len(data) >= headerLen || len(sm.cmds) != 0):
			t.Fatalf("%d bytes taken for no proposal; applied %q", len(data), sm.cmds)
		case ok && (len(sm.cmds) != 1 || sm.index[0] != 5 || !bytes.Equal(sm.cmds[0], data[headerLen:])):
			t.Fatalf("proposal %+v: applied %q at %v, want %q at 5", id, sm.cmds, sm.index, data[headerLen:])
		case ok:
			again := framed(cmd)
			putHeader(again, id)
			if !bytes.Equal(again, data) {
				t.Fatalf("proposal %+v of %q framed again: %x, want %x", id, cmd, again, data)
			}
		}
		mine := ok && id == proposalID{1, nonce, 7}
		switch {
		case len(settled) != 1 || len(g.waits.list) != 0:
			t.Fatalf("the wait was settled %d times, %d left", len(settled), len(g.waits.list))
		case mine && (settled[0].Err != nil || settled[0].Index != 5 || settled[0].Value != 1):
			t.Fatalf("this host's proposal settled as %+v", settled[0])
		case !mine && !errors.Is(settled[0].Err, ErrDropped):
			t.Fatalf("another entry at the proposal's index (%+v) settled it as %+v", id, settled[0])
		}
	})
}
