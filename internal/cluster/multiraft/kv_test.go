package multiraft_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// ledger is the cluster-wide record of what each group applied at each
// index, on any node, in any incarnation: two different commands at one
// index is a safety violation.
type ledger struct {
	now      func() int64
	at       map[uint64]map[uint64]string // group → index → command
	first    map[string]int64             // "group/command" → when first applied anywhere
	problems []string
}

func newLedger(now func() int64) *ledger {
	return &ledger{now: now, at: map[uint64]map[uint64]string{}, first: map[string]int64{}}
}

func (l *ledger) record(node, group, index uint64, cmd string) {
	m := l.at[group]
	if m == nil {
		m = map[uint64]string{}
		l.at[group] = m
	}
	if prev, ok := m[index]; ok && prev != cmd {
		l.problems = append(l.problems, fmt.Sprintf("group %d index %d: node %d applied %q, another node %q", group, index, node, cmd, prev))
		return
	}
	m[index] = cmd
	k := fmt.Sprintf("%d/%s", group, cmd)
	if _, ok := l.first[k]; !ok {
		l.first[k] = l.now()
	}
}

// appliedAt says when a command was first applied, if ever.
func (l *ledger) appliedAt(group uint64, cmd string) (int64, bool) {
	t, ok := l.first[fmt.Sprintf("%d/%s", group, cmd)]
	return t, ok
}

// kv is the replicated state machine of the simulation: a map of strings
// with "p key value" (put) and "g key" (get) commands. It also keeps a hash
// chain of everything it applied, so replicas compare in one value.
type kv struct {
	node, group uint64
	ledger      *ledger
	state       kvState
	durability  multiraft.Durability // multiraft.Durable
}

func (s *kv) Durability() multiraft.Durability { return s.durability }

type kvState struct {
	Data    map[string]string `json:"data"`
	Applied uint64            `json:"applied"`
	Chain   uint64            `json:"chain"`
}

func (s *kv) Apply(index uint64, cmd []byte) any {
	c := string(cmd)
	s.ledger.record(s.node, s.group, index, c)
	if index <= s.state.Applied {
		s.ledger.problems = append(s.ledger.problems, fmt.Sprintf("node %d group %d: applied %d after %d", s.node, s.group, index, s.state.Applied))
	}
	s.state.Applied = index
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%d|%s", s.state.Chain, index, c)
	s.state.Chain = h.Sum64()
	op, rest, _ := strings.Cut(c, " ")
	switch op {
	case "p":
		k, v, _ := strings.Cut(rest, " ")
		s.state.Data[k] = v
		return ""
	case "g":
		return s.state.Data[rest]
	}
	return fmt.Sprintf("bad command %q", c)
}

func (s *kv) Snapshot() ([]byte, error) { return json.Marshal(s.state) }

func (s *kv) Restore(data []byte) error {
	s.state = kvState{Data: map[string]string{}}
	if data == nil {
		return nil
	}
	return json.Unmarshal(data, &s.state)
}

func (s *kv) equal(o *kv) bool {
	return s.state.Applied == o.state.Applied && s.state.Chain == o.state.Chain && maps.Equal(s.state.Data, o.state.Data)
}

// kvInput and kvOutput are a client operation as porcupine sees it.
type kvInput struct {
	group     uint64
	put       bool
	readIndex bool // a get served by ReadIndex, not through the log
	key       string
	value     string
}

type kvOutput struct{ value string }

// kvModel is a register per (group, key).
var kvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			in := op.Input.(kvInput)
			k := fmt.Sprintf("%d/%s", in.group, in.key)
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(kvOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%d/%s, %s)", in.group, in.key, in.value)
		}
		if in.readIndex {
			return fmt.Sprintf("read(%d/%s) → %q", in.group, in.key, output.(kvOutput).value)
		}
		return fmt.Sprintf("get(%d/%s) → %q", in.group, in.key, output.(kvOutput).value)
	},
}

// describeIllegal returns the operations, by call time, of the first
// partition (one group's key) that is not linearizable, to read in a report.
func describeIllegal(history []porcupine.Operation) string {
	m := kvModel
	m.Partition = nil
	for _, part := range kvModel.Partition(history) {
		if porcupine.CheckOperations(m, part) {
			continue
		}
		part = slices.Clone(part)
		slices.SortFunc(part, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
		var b strings.Builder
		for _, op := range part {
			out := op.Output
			if out == nil {
				out = kvOutput{}
			}
			fmt.Fprintf(&b, "[%d,%d] client %d %s\n", op.Call, op.Return, op.ClientId, kvModel.DescribeOperation(op.Input, out))
		}
		return b.String()
	}
	return ""
}
