package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident memory in KiB, from /proc/<pid>/status.
type Memory struct {
	RSS  int64 // VmRSS: resident now
	Peak int64 // VmHWM: the most ever resident (high-water mark)
}

// ReadMemory reads the memory of process pid, which must run on this
// machine (Linux).
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("bench: memory of process %d: %w", pid, err)
	}
	return parseStatus(b)
}

// parseStatus takes VmRSS and VmHWM out of a /proc/<pid>/status file.
func parseStatus(b []byte) (Memory, error) {
	var m Memory
	var found int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("bench: unexpected %s line %q", key, sc.Text())
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("bench: %s: %w", key, err)
		}
		*dst = v
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("bench: status has no VmRSS and VmHWM (a kernel thread?)")
	}
	return m, nil
}
