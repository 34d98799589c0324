package broker

import (
	"bufio"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// ackScenario publishes 10 messages to t/0, has one member poll them all and
// acknowledge offsets 0–3 and 6, and returns the broker. The committed
// offset is then 4 with 6 acknowledged above it: a restart must deliver
// exactly 4, 5, 7, 8, 9 again.
func ackScenario(t testing.TB, cfg Config) *Broker {
	t.Helper()
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	msgs := make([]Message, 10)
	for i := range msgs {
		msgs[i] = Message{Value: []byte{byte(i)}, Partition: 0}
	}
	if _, err := b.Publish("t", msgs); err != nil {
		t.Fatal(err)
	}
	j, err := b.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := b.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 10}, "h")
	if err != nil || len(ds) != 10 {
		t.Fatalf("poll: %d messages, %v", len(ds), err)
	}
	var refs []MessageRef
	for _, off := range []int64{0, 1, 2, 3, 6} {
		refs = append(refs, MessageRef{Topic: "t", Partition: 0, Offset: off})
	}
	if _, err := b.Ack("g", Settle{MemberID: j.MemberID, Generation: j.Generation, Messages: refs}, "h"); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAcksKept reopens dir and checks that the acknowledgements of
// ackScenario are there: committed 4, and a new member gets exactly the
// unacknowledged messages.
func checkAcksKept(t *testing.T, cfg Config) {
	t.Helper()
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o, err := b.GroupOffsets("g")
	if err != nil {
		t.Fatal(err)
	}
	if got := o["t"][0]; got != 4 {
		t.Fatalf("committed offset after restart: %d, want 4", got)
	}
	j, err := b.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := b.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 100}, "h")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, d := range ds {
		got = append(got, d.Record.Offset)
	}
	if want := []int64{4, 5, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("delivered after restart: %v, want %v", got, want)
	}
}

func durabilityConfig(dir, fsync string) Config {
	c := DefaultConfig()
	c.DataDir = dir
	c.Fsync = fsync
	// Far longer than a test: under interval only the write to the OS
	// can have kept the acks, never the flusher.
	c.FsyncInterval = time.Hour
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

// Acknowledged offsets survive a graceful restart under every policy.
func TestAcksSurviveRestart(t *testing.T) {
	for _, fsync := range []string{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(fsync, func(t *testing.T) {
			cfg := durabilityConfig(t.TempDir(), fsync)
			b := ackScenario(t, cfg)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			checkAcksKept(t, cfg)
		})
	}
}

// crashChildEnv names the data dir of a child process that runs
// ackScenario and then waits to be killed.
const crashChildEnv = "GOQUEUE_TEST_CRASH_DIR"

// Acknowledged offsets survive a SIGKILL of the broker's process under
// fsync=always and interval: an answered ack is at least in the OS.
func TestAcksSurviveProcessCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, fsync := range []string{FsyncAlways, FsyncInterval} {
		t.Run(fsync, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "GOQUEUE_TEST_CRASH_FSYNC="+fsync)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := false
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "ACKED" {
					acked = true
					break
				}
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if !acked {
				t.Fatal("the child ended before acknowledging")
			}
			checkAcksKept(t, durabilityConfig(dir, fsync))
		})
	}
}

// TestCrashChild is the broker process TestAcksSurviveProcessCrash kills:
// it runs only with crashChildEnv set, and never closes the broker.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as TestAcksSurviveProcessCrash's child")
	}
	ackScenario(t, durabilityConfig(dir, os.Getenv("GOQUEUE_TEST_CRASH_FSYNC")))
	os.Stdout.WriteString("\nACKED\n")
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}
