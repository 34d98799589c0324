package chaostest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// event is one line of a worker's log.
type event struct {
	kind  byte  // A, R, L, D, K, X, P, Q or C (see worker), or G (kafkaWorker)
	p     int32 // partition, for all kinds but C
	off   int64 // D, K, X
	value int64 // D: the message's value, its number in the test; G: the epoch; Q: how many acks were lost
	ns    int64 // wall clock when the worker logged it
}

// memberLog is everything one worker process did, in the order it logged
// it, and how it ended.
type memberLog struct {
	id     int
	events []event
	killed bool  // SIGKILLed by the test; otherwise it exited after SIGTERM
	end    int64 // wall clock after the process was reaped
}

// readLog parses a worker's log. A torn last line (SIGKILL in the middle of
// a write) is dropped; any other malformed line is an error.
func readLog(path string) ([]event, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(raw, []byte{'\n'})
	lines = lines[:len(lines)-1] // the torn line, or the empty one after the last newline
	out := make([]event, 0, len(lines))
	for i, line := range lines {
		e, err := parseEvent(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// fieldsOf is how many numbers follow each kind.
var fieldsOf = map[byte]int{'A': 2, 'R': 2, 'L': 2, 'D': 4, 'K': 3, 'X': 3, 'P': 1, 'Q': 2, 'C': 1, 'G': 2}

func parseEvent(line []byte) (event, error) {
	f := bytes.Fields(line)
	if len(f) == 0 || len(f[0]) != 1 || fieldsOf[f[0][0]] != len(f)-1 {
		return event{}, fmt.Errorf("malformed line %q", line)
	}
	n := make([]int64, len(f)-1)
	for i := range n {
		v, err := strconv.ParseInt(string(f[i+1]), 10, 64)
		if err != nil {
			return event{}, fmt.Errorf("malformed line %q", line)
		}
		n[i] = v
	}
	e := event{kind: f[0][0], ns: n[len(n)-1]}
	switch e.kind {
	case 'A', 'R', 'L':
		e.p = int32(n[0])
	case 'D':
		e.p, e.off, e.value = int32(n[0]), n[1], n[2]
	case 'K', 'X':
		e.p, e.off = int32(n[0]), n[1]
	case 'G', 'Q':
		e.value = n[0]
	}
	return e, nil
}
