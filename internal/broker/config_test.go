package broker

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.DataDir = ""
	c.Fsync = "sometimes"
	c.FsyncInterval = 0
	c.DefaultPartitions = 0
	c.RetentionHours = -5
	c.RetentionBytes = 0
	c.SegmentBytes = 10
	c.SegmentAge = -time.Second
	c.MaxMessageBytes = 0
	c.RetentionCheckInterval = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want every problem")
	}
	msg := err.Error()
	for _, want := range []string{
		"data dir", "fsync \"sometimes\"", "fsync interval", "default partitions", "retention hours",
		"retention bytes", "segment bytes", "segment age", "max message bytes", "retention check interval",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate() does not mention %q:\n%s", want, msg)
		}
	}
	if n := len(strings.Split(msg, "\n")); n != 10 {
		t.Errorf("Validate() reported %d problems, want 10:\n%s", n, msg)
	}
}

func TestConfigValidateOneProblem(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" for valid
	}{
		{"fsync always", func(c *Config) { c.Fsync = FsyncAlways }, ""},
		{"fsync never", func(c *Config) { c.Fsync = FsyncNever }, ""},
		{"retention forever", func(c *Config) { c.RetentionHours, c.RetentionBytes = -1, -1 }, ""},
		{"no segment age", func(c *Config) { c.SegmentAge = 0 }, ""},
		{"segment age of a millisecond", func(c *Config) { c.SegmentAge = time.Millisecond }, "segment age"},
		{"default above max", func(c *Config) { c.DefaultPartitions, c.MaxPartitions = 10, 5 }, "default partitions"},
		{"zero max partitions", func(c *Config) { c.MaxPartitions = 0 }, "max partitions"},
		{"huge messages", func(c *Config) { c.MaxMessageBytes = MaxMessageLimit + 1 }, "max message bytes"},
		{"huge segments", func(c *Config) { c.SegmentBytes = MaxSegmentBytes + 1 }, "segment bytes"},
		{"bad fsync", func(c *Config) { c.Fsync = "" }, "fsync"},
		{"offsets kept for ever", func(c *Config) { c.OffsetsRetention = 0 }, ""},
		{"negative offsets retention", func(c *Config) { c.OffsetsRetention = -time.Second }, "offsets retention"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Validate() = %v, want a problem with %q", err, c.want)
			}
		})
	}
}
