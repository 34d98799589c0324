package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/bench"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// TestBenchCommand runs `goqueue bench` with tiny workloads against a real
// broker: JSON lines for scripts, the table for people, and the usage
// errors.
func TestBenchCommand(t *testing.T) {
	srv := brokertest.Start(t)
	noEnv := func(string) (string, bool) { return "", false }
	bench1 := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"bench", "--broker", srv.URL, "--messages", "2000", "--rate", "2000",
			"--duration", "300ms", "--stall-timeout", "10s"}, args...), noEnv, &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, errs := bench1("--output", "json", "--producers", "1,3", "--label", "goqueue", "--run", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got []bench.Result
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r bench.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	want := []struct {
		phase     string
		producers int
		msgs      int64
	}{{"produce", 1, 2000}, {"consume", 1, 2000}, {"produce", 3, 2000}, {"consume", 3, 2000}, {"latency", 0, 600}}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(got), len(want), out)
	}
	for i, w := range want {
		r := got[i]
		if r.Phase != w.phase || r.Producers != w.producers || r.Msgs != w.msgs || r.MsgsPerS <= 0 ||
			r.Label != "goqueue" || r.Run != 2 || r.Peer != "goqueue" || r.ServerRSSKB != nil {
			t.Errorf("result %d: %+v, want %+v", i, r, w)
		}
	}
	if strings.Contains(errs, "%") {
		t.Errorf("a progress bar with --output json: %q", errs)
	}

	code, out, errs = bench1("--workloads", "latency", "--progress=false")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range []string{"WORKLOAD", "P99.9", "BROKER RSS", "latency at 2,000 msg/s", "n/a", "corrected for coordinated omission"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}

	for _, args := range [][]string{{"--workloads", "everything"}, {"--producers", "0"}, {"--output", "yaml"}, {"--gc-heap-floor", "-1"}} {
		if code, _, errs := bench1(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, errs)
		}
	}
}
