package faulttest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// After rm -rf of the data directory the broker went on answering 200 to
// publishes, 201 to topic creation and "ready" on /readyz, and everything
// was gone at the next start. Now it notices the directory's identity
// changed, refuses writes with STORAGE_FAILED and turns unready.
// Removing only a topic's directory is noticed too, through the partition's
// open file (its path no longer names it).
func TestLostDataDirRefusesWritesAndTurnsUnready(t *testing.T) {
	for _, c := range []struct{ name, remove string }{{"data dir", ""}, {"one topic's dir", "topics/t"}} {
		t.Run(c.name, func(t *testing.T) { testLostDir(t, c.remove) })
	}
}

func testLostDir(t *testing.T, remove string) {
	dir := filepath.Join(t.TempDir(), "data")
	p := start(t, dir, "")
	p.must(http.StatusCreated, "POST", "/topics", fmtTopic("t", 1, ""), nil)
	if n, st, raw := p.publishN("t", 0, 10, 10, 0); n != 10 {
		t.Fatalf("publish before the loss: %d %s", st, raw)
	}
	if err := os.RemoveAll(filepath.Join(dir, remove)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		st, raw := p.do("GET", "/readyz", nil)
		if st != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz still %d %s after the data dir was removed", st, raw)
		}
		if e := apiError(t, raw); e.Code != api.ErrStorageFailed.Code {
			t.Fatalf("/readyz: %s, want STORAGE_FAILED", raw)
		}
		return nil
	})
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/topics/t/messages", `{"value":"lost?"}`},
		{"POST", "/topics", fmtTopic("u", 1, "")},
		{"POST", "/topics/t/partitions", `{"count":2}`},
	} {
		st, raw := p.do(req.method, req.path, req.body)
		if e := apiError(t, raw); st != http.StatusServiceUnavailable || e.Code != api.ErrStorageFailed.Code || e.Retriable {
			t.Errorf("%s %s after the loss: %d %s, want 503 STORAGE_FAILED, not retriable", req.method, req.path, st, raw)
		}
	}
	if !regexpMatch(`data directory lost`, p.Log()) {
		t.Errorf("no log line says the data directory was lost:\n%s", p.Log())
	}
}

// mountTmpfs mounts a tmpfs of size at dir, or skips the test saying why
// (mounting needs root and a sandbox may forbid it even then).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs to fill (needs root and a sandbox that allows mount): %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// A full device answered 500 INTERNAL "internal error". Now a publish that
// meets ENOSPC answers 507 STORAGE_FULL, retriable, and nothing of it is
// visible; once space is freed, publishing works again. An ack whose offset
// write meets a full disk says that it was applied in memory.
func TestDiskFullAnswersStorageFull(t *testing.T) {
	dir := t.TempDir()
	mountTmpfs(t, dir, "4m")
	p := start(t, filepath.Join(dir, "data"), "", "--fsync", "always")
	p.must(http.StatusCreated, "POST", "/topics", fmtTopic("t", 1, ""), nil)
	if n, st, raw := p.publishN("t", 0, 20, 100, 0); n != 20 {
		t.Fatalf("publish: %d %s", st, raw)
	}
	var join api.JoinResponse
	p.must(http.StatusOK, "POST", "/groups/g/join", map[string]any{"topics": []string{"t"}}, &join)
	var polled api.PollResponse
	p.must(http.StatusOK, "POST", "/groups/g/poll", map[string]any{"member_id": join.MemberID, "generation": join.Generation, "max_messages": 20}, &polled)
	if len(polled.Messages) != 20 {
		t.Fatalf("polled %d messages, want 20", len(polled.Messages))
	}

	// Fill the device with a file of our own, as another tenant would.
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	n, st, raw := p.publishN("t", 0, 100000, 1000, 0)
	if st == http.StatusOK {
		t.Fatalf("published %d KB onto a full device", n)
	}
	if e := apiError(t, raw); st != http.StatusInsufficientStorage || e.Code != api.ErrStorageFull.Code || !e.Retriable {
		t.Fatalf("publish on a full device: %d %s, want 507 STORAGE_FULL, retriable", st, raw)
	}
	var info api.Topic
	p.must(http.StatusOK, "GET", "/topics/t", nil, &info)
	hwm := info.PartitionInfo[0].HighWatermark

	// Acks until one meets the full disk: its answer must say it was applied.
	sawFull := false
	for _, m := range polled.Messages {
		st, raw := p.do("POST", "/groups/g/ack", api.AckRequest{MemberID: join.MemberID, Generation: join.Generation,
			Messages: []api.MessageRef{{Topic: "t", Partition: m.Partition, Offset: m.Offset}}})
		if st == http.StatusOK {
			continue
		}
		e := apiError(t, raw)
		if st != http.StatusInsufficientStorage || e.Code != api.ErrStorageFull.Code || e.Details["applied"] != true {
			t.Fatalf("ack on a full device: %d %s, want 507 STORAGE_FULL with details.applied", st, raw)
		}
		sawFull = true
		break
	}
	if !sawFull {
		t.Log("every ack found room on the device (the offset journal's page had space); only publishes were checked")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if n, st, raw := p.publishN("t", 0, 5, 100, 0); n != 5 {
		t.Fatalf("publish after space was freed: %d %s", st, raw)
	}
	p.must(http.StatusOK, "GET", "/topics/t", nil, &info)
	if got := info.PartitionInfo[0].HighWatermark; got != hwm+5 {
		t.Fatalf("high watermark %d after 5 more, want %d: a refused publish left records behind", got, hwm+5)
	}
	p.must(http.StatusOK, "GET", "/readyz", nil, nil)
}

// mountExt4 mounts a fresh ext4 image of size at dir with errors=remount-ro
// and returns a function that makes the file system read-only as a disk
// error would (ext4's trigger_fs_error), or skips the test saying why.
func mountExt4(t *testing.T, dir, size string) (remountRO func()) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "ext4.img")
	for _, cmd := range [][]string{{"truncate", "-s", size, img}, {"mkfs.ext4", "-q", img}} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Skipf("cannot make an ext4 image: %v: %s", err, out)
		}
	}
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", img, dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount an ext4 image (needs root and loop devices): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	dev, err := exec.Command("findmnt", "-n", "-o", "SOURCE", dir).Output()
	if err != nil {
		t.Skipf("findmnt %s: %v", dir, err)
	}
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(strings.TrimSpace(string(dev))), "trigger_fs_error")
	if _, err := os.Stat(trigger); err != nil {
		t.Skipf("this kernel cannot fail an ext4 file system on demand: %v", err)
	}
	return func() {
		t.Helper()
		if err := os.WriteFile(trigger, []byte("goqueue faulttest\n"), 0); err != nil {
			t.Fatalf("make %s read-only: %v", dir, err)
		}
	}
}

// A file system remounted read-only under the broker (ext4 does so on an
// error) answered publishes and topic creation 500 INTERNAL, retriable,
// acks INTERNAL, and /readyz went on saying ready. Now every write answers
// 503 STORAGE_FAILED, not retriable, /readyz answers 503, and what was
// acknowledged before is still served.
func TestReadOnlyFileSystemFailsStorage(t *testing.T) {
	dir := t.TempDir()
	remountRO := mountExt4(t, dir, "64M")
	p := start(t, filepath.Join(dir, "data"), "", "--fsync", "always")
	p.must(http.StatusCreated, "POST", "/topics", fmtTopic("t", 1, ""), nil)
	if n, st, raw := p.publishN("t", 0, 20, 100, 0); n != 20 {
		t.Fatalf("publish: %d %s", st, raw)
	}
	var join api.JoinResponse
	p.must(http.StatusOK, "POST", "/groups/g/join", map[string]any{"topics": []string{"t"}}, &join)
	var polled api.PollResponse
	p.must(http.StatusOK, "POST", "/groups/g/poll", map[string]any{"member_id": join.MemberID, "generation": join.Generation, "max_messages": 20}, &polled)

	remountRO()
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/topics/t/messages", `{"value":"lost?"}`},
		{"POST", "/topics", fmtTopic("u", 1, "")},
		{"POST", "/groups/g/ack", api.AckRequest{MemberID: join.MemberID, Generation: join.Generation,
			Messages: []api.MessageRef{{Topic: "t", Partition: 0, Offset: polled.Messages[0].Offset}}}},
		{"POST", "/topics/t/messages", `{"value":"lost again?"}`},
	} {
		st, raw := p.do(req.method, req.path, req.body)
		if e := apiError(t, raw); st != http.StatusServiceUnavailable || e.Code != api.ErrStorageFailed.Code || e.Retriable {
			t.Errorf("%s %s on a read-only file system: %d %s, want 503 STORAGE_FAILED, not retriable", req.method, req.path, st, raw)
		}
	}
	st, raw := p.do("GET", "/readyz", nil)
	if e := apiError(t, raw); st != http.StatusServiceUnavailable || e.Code != api.ErrStorageFailed.Code {
		t.Errorf("/readyz on a read-only file system: %d %s, want 503 STORAGE_FAILED", st, raw)
	}
	var fetched api.FetchResponse
	p.must(http.StatusOK, "GET", "/topics/t/partitions/0/messages?offset=0&max=100", nil, &fetched)
	if len(fetched.Messages) != 20 {
		t.Errorf("fetched %d messages after the file system went read-only, want the 20 acknowledged", len(fetched.Messages))
	}
}

// fill writes a file at path until the device has no byte left, in
// shrinking chunks, as another tenant filling the disk would.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range []int{64 << 10, 4 << 10, 512, 1} {
		chunk := make([]byte, n)
		for {
			if _, err := f.Write(chunk); err != nil {
				break
			}
		}
	}
}

// A publish to two partitions that met a full device after the first
// took its message answered 507 STORAGE_FULL, retriable, which says
// nothing of it was applied: a client that retried stored the first
// partition's messages twice. Now the answer is not retriable and
// details.written_partitions names the partitions that took messages.
// So for JSON messages and for the Go client's binary batches.
func TestDiskFullMidPublishSaysWhatWasWritten(t *testing.T) {
	frame := func(part int32, value string) []byte {
		var b recordbatch.Builder
		b.Reset(nil)
		b.Add(0, time.Now().UnixMilli(), nil, []byte(value), nil)
		return api.AppendFrame(nil, part, b.Finish(recordbatch.NewHeader(0)))
	}
	for _, c := range []struct {
		name, path, contentType string
		body                    any
	}{
		{"json", "/topics/t/messages", "application/json", `{"messages":[{"value":"a","partition":0},{"value":"b","partition":1}]}`},
		{"batches", "/topics/t/batches", api.BatchesContentType, append(frame(0, "a"), frame(1, "b")...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			mountTmpfs(t, dir, "4m")
			p := start(t, filepath.Join(dir, "data"), "", "--fsync", "always")
			p.must(http.StatusCreated, "POST", "/topics", fmtTopic("t", 2, ""), nil)
			// Partition 0's segment holds a page with room for more;
			// partition 1's none: on the full device a small write fits
			// in the first only.
			if n, st, raw := p.publishN("t", 0, 1, 10, 0); n != 1 {
				t.Fatalf("publish: %d %s", st, raw)
			}
			fill(t, filepath.Join(dir, "filler"))

			st, raw := p.doAs(c.contentType, "POST", c.path, c.body)
			e := apiError(t, raw)
			if st != http.StatusInsufficientStorage || e.Code != api.ErrStorageFull.Code {
				t.Fatalf("publish to both partitions on a full device: %d %s, want 507 STORAGE_FULL", st, raw)
			}
			var info api.Topic
			p.must(http.StatusOK, "GET", "/topics/t", nil, &info)
			if hwm := info.PartitionInfo[0].HighWatermark; hwm != 2 {
				t.Skipf("partition 0 has %d messages: the device refused its write too, so nothing was written (the case TestDiskFullAnswersStorageFull covers)", hwm)
			}
			if written, _ := e.Details["written_partitions"].([]any); e.Retriable || len(written) != 1 || written[0] != 0.0 {
				t.Fatalf("partition 0 took its message, but the answer %s is retriable or does not say so in details.written_partitions", raw)
			}
		})
	}
}
