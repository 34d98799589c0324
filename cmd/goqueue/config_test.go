package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// parse runs the flag and environment parsing of run and returns the
// config and the validation error.
func parse(t *testing.T, args []string, env map[string]string) (config, error) {
	t.Helper()
	var (
		c        config
		problems []error
	)
	fs := pflag.NewFlagSet("goqueue", pflag.ContinueOnError)
	flagSet(fs, &c, &problems)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &problems)
	return c, c.validate(problems)
}

func TestDefaultsNeedNoSetup(t *testing.T) {
	c, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.broker.DataDir != "./data" || c.addr != "localhost:8080" || c.broker.Fsync != "interval" ||
		c.broker.FsyncInterval != 100*time.Millisecond || c.broker.MaxMessageBytes != 1<<20 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(config) bool
	}{
		{"flag", []string{"--fsync", "always"}, nil, func(c config) bool { return c.broker.Fsync == "always" }},
		{"env", nil, map[string]string{"GOQUEUE_FSYNC": "never"}, func(c config) bool { return c.broker.Fsync == "never" }},
		{"flag wins over env", []string{"--fsync=always"}, map[string]string{"GOQUEUE_FSYNC": "never"}, func(c config) bool { return c.broker.Fsync == "always" }},
		{"env with dashes", nil, map[string]string{"GOQUEUE_FSYNC_INTERVAL": "1s", "GOQUEUE_DATA_DIR": "/var/q"},
			func(c config) bool { return c.broker.FsyncInterval == time.Second && c.broker.DataDir == "/var/q" }},
		{"sizes with units", []string{"--max-message-bytes", "2MiB", "--segment-bytes=1GiB"}, map[string]string{"GOQUEUE_MAX_BODY_BYTES": "32MB"},
			func(c config) bool {
				return c.broker.MaxMessageBytes == 2<<20 && c.broker.SegmentBytes == 1<<30 && c.maxBodyBytes == 32e6
			}},
		{"log level", []string{"--log-level", "debug"}, nil, func(c config) bool { return c.logLevel.String() == "DEBUG" }},
		{"gc heap floor by default", nil, nil, func(c config) bool { return heapFloor(c.gcHeapFloor, noEnv) == 32<<20 }},
		{"gc heap floor set", nil, map[string]string{"GOQUEUE_GC_HEAP_FLOOR": "64MiB"}, func(c config) bool { return heapFloor(c.gcHeapFloor, noEnv) == 64<<20 }},
		{"gc heap floor off", []string{"--gc-heap-floor", "0"}, nil, func(c config) bool { return heapFloor(c.gcHeapFloor, noEnv) == 0 }},
		{"GOGC wins over the floor", nil, nil, func(c config) bool {
			return heapFloor(c.gcHeapFloor, func(k string) (string, bool) { return "off", k == "GOGC" }) == 0
		}},
		{"an empty GOGC is unset", nil, nil, func(c config) bool {
			return heapFloor(c.gcHeapFloor, func(k string) (string, bool) { return "", k == "GOGC" }) == 32<<20
		}},
		{"port zero", []string{"--addr", "127.0.0.1:0"}, nil, func(c config) bool { return c.addr == "127.0.0.1:0" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parse(t, c.args, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

// Every problem is reported in one go: bad flag values, bad environment
// values and invalid combinations alike.
func TestEveryProblemReportedAtOnce(t *testing.T) {
	_, err := parse(t,
		[]string{"--partitions", "x", "--segment-bytes", "1", "--addr", "nope", "--log-level", "loud", "--max-body-bytes", "10", "--gc-heap-floor", "-1"},
		map[string]string{"GOQUEUE_FSYNC": "sometimes", "GOQUEUE_FSYNC_INTERVAL": "soon"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`--partitions "x"`, `segment bytes 1`, `addr "nope"`, `--log-level "loud"`, `max body bytes 10`,
		`fsync "sometimes"`, `GOQUEUE_FSYNC_INTERVAL="soon"`, `gc heap floor -1`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "default partitions") {
		t.Errorf("a bad --partitions was also reported as a second problem:\n%s", msg)
	}
}

// noEnv is an environment without variables.
func noEnv(string) (string, bool) { return "", false }

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"1KiB", 1024, true}, {"64MiB", 64 << 20, true},
		{"1GiB", 1 << 30, true}, {"2TiB", 2 << 40, true}, {"10KB", 10000, true}, {"5MB", 5e6, true},
		{"7B", 7, true}, {"-1", -1, true}, {" 3 MiB ", 3 << 20, true},
		{"", 0, false}, {"MiB", 0, false}, {"1.5MiB", 0, false}, {"1 PB", 0, false}, {"9999999999GiB", 0, false}, {"x", 0, false},
	} {
		got, err := parseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		in   int64
		want string
	}{{1 << 20, "1MiB"}, {64 << 20, "64MiB"}, {1000, "1000"}, {-1, "-1"}, {0, "0"}, {3 << 30, "3GiB"}} {
		if got := formatSize(c.in); got != c.want {
			t.Errorf("formatSize(%d) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRunRefusesBadConfigBeforeStarting(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := t.TempDir() + "/data"
	code := run([]string{"--data-dir", dir, "--fsync", "x", "--addr", "127.0.0.1:0"}, func(string) (string, bool) { return "", false }, &stdout, &stderr)
	if code != exitConfig || !strings.Contains(stderr.String(), "invalid configuration") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "listening") {
		t.Fatal("it listened")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused configuration created the data dir: %v", err)
	}
}
