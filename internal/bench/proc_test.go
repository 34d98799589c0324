package bench

import (
	"os"
	"testing"
)

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    Memory
		wantErr bool
	}{
		{"both", "Name:\tgoqueue\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n", Memory{RSS: 40960, Peak: 51200}, false},
		{"missing HWM", "Name:\tx\nVmRSS:\t 1 kB\n", Memory{}, true},
		{"kernel thread", "Name:\tkworker\nThreads:\t1\n", Memory{}, true},
		{"bad unit", "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", Memory{}, true},
		{"bad number", "VmHWM:\t x kB\nVmRSS:\t 1 kB\n", Memory{}, true},
	} {
		got, err := parseStatus([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestReadMemoryOfSelf(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("implausible memory %+v", m)
	}
}
