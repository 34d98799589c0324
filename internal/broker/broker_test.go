package broker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/api"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(t *testing.T) Config {
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

func mustOpen(t *testing.T, c Config) *Broker {
	t.Helper()
	b, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRefusesInvalidConfig(t *testing.T) {
	c := testConfig(t)
	c.Fsync = "maybe"
	if _, err := Open(c); err == nil {
		t.Fatal("Open accepted fsync=maybe")
	}
	if entries, _ := os.ReadDir(c.DataDir); len(entries) != 0 {
		t.Fatalf("a refused Open wrote %v", entries)
	}
}

// A deletion cut short after the topic was marked deleted is finished by
// the next Open: the files go and the name is free.
func TestInterruptedDeleteFinishesOnOpen(t *testing.T) {
	c := testConfig(t)
	b := mustOpen(t, c)
	if _, err := b.CreateTopic(TopicSpec{Name: "doomed", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("doomed", []Message{{Value: []byte("x"), Partition: AnyPartition}}); err != nil {
		t.Fatal(err)
	}
	info, _ := b.Topic("doomed")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The first step of DeleteTopic, then a crash.
	m, err := openMeta(c.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	marked := info.Config
	marked.Deleted = true
	if err := m.put(marked); err != nil {
		t.Fatal(err)
	}
	m.close()

	b = mustOpen(t, c)
	defer b.Close()
	if _, err := b.Topic("doomed"); !errors.Is(err, api.ErrTopicNotFound) {
		t.Fatalf("Topic after interrupted delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "topics", "doomed")); !os.IsNotExist(err) {
		t.Fatalf("files remain: %v", err)
	}
	if _, err := b.CreateTopic(TopicSpec{Name: "doomed"}); err != nil {
		t.Fatalf("name not free: %v", err)
	}
}

func TestTopicsChangedWakesWatchers(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	for _, change := range []func() error{
		func() error { _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); return err },
		func() error { _, err := b.AddPartitions("t", 2); return err },
		func() error { return b.DeleteTopic("t") },
	} {
		ch := b.TopicsChanged()
		select {
		case <-ch:
			t.Fatal("changed before any change")
		default:
		}
		if err := change(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		default:
			t.Fatal("a topic change did not close the channel")
		}
	}
	// A refused change is no change.
	ch := b.TopicsChanged()
	b.DeleteTopic("t")
	select {
	case <-ch:
		t.Fatal("a refused delete signalled a change")
	default:
	}
}

// A long-poll returns at the instant a message arrives (no time passes in
// the bubble), and an idle one returns empty exactly at its wait.
func TestFetchWaitReturnsWhenDataArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustOpen(t, testConfig(t))
		defer b.Close()
		if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		type answer struct {
			res FetchResult
			err error
			at  time.Time
		}
		done := make(chan answer, 1)
		start := time.Now()
		go func() {
			res, err := b.Fetch(context.Background(), "t", FetchRequest{MaxMessages: 10, MaxBytes: 1 << 20, Wait: 30 * time.Second})
			done <- answer{res, err, time.Now()}
		}()
		synctest.Wait() // the fetch is blocked waiting
		select {
		case a := <-done:
			t.Fatalf("fetch returned before any data: %+v", a)
		default:
		}
		time.Sleep(5 * time.Second) // fake time: the poll is still waiting
		if _, err := b.Publish("t", []Message{{Value: []byte("now"), Partition: AnyPartition}}); err != nil {
			t.Fatal(err)
		}
		a := <-done
		if a.err != nil || len(a.res.Records) != 1 || string(a.res.Records[0].Value) != "now" || a.res.NextOffset != 1 {
			t.Fatalf("fetch answered %+v, %v", a.res, a.err)
		}
		if waited := a.at.Sub(start); waited != 5*time.Second {
			t.Fatalf("fetch returned after %v, want the instant of the publish (5s)", waited)
		}

		start = time.Now()
		res, err := b.Fetch(context.Background(), "t", FetchRequest{Offset: OffsetLatest, MaxMessages: 10, MaxBytes: 1 << 20, Wait: 2 * time.Second})
		if err != nil || len(res.Records) != 0 || res.NextOffset != 1 {
			t.Fatalf("idle fetch: %+v, %v", res, err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Fatalf("idle fetch waited %v, want 2s", waited)
		}
	})
}

// A fetch waiting on a topic that is deleted ends with TOPIC_NOT_FOUND, and
// one waiting when the broker closes ends too.
func TestFetchWaitEndsOnDeleteAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustOpen(t, testConfig(t))
		for _, name := range []string{"a", "b"} {
			if _, err := b.CreateTopic(TopicSpec{Name: name, Partitions: 1}); err != nil {
				t.Fatal(err)
			}
		}
		errs := make(chan error, 2)
		for _, name := range []string{"a", "b"} {
			go func() {
				_, err := b.Fetch(context.Background(), name, FetchRequest{MaxMessages: 1, MaxBytes: 1, Wait: time.Hour})
				errs <- err
			}()
		}
		synctest.Wait()
		if err := b.DeleteTopic("a"); err != nil {
			t.Fatal(err)
		}
		if err := <-errs; !errors.Is(err, api.ErrTopicNotFound) {
			t.Fatalf("fetch on a deleted topic: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errs; !errors.Is(err, api.ErrUnavailable) {
			t.Fatalf("fetch on a closed broker: %v", err)
		}
	})
}

// Run's loops stop with their context; publishing, changing topics and
// fetching concurrently is race-free.
func TestConcurrentUse(t *testing.T) {
	c := testConfig(t)
	c.FsyncInterval = time.Millisecond
	c.RetentionCheckInterval = time.Millisecond
	b := mustOpen(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- b.Run(ctx) }()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				_, err := b.Publish("t", []Message{{Key: []byte{byte(w), byte(i)}, Value: []byte("v"), Partition: AnyPartition}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for n := int32(3); n <= 6; n++ {
			if _, err := b.AddPartitions("t", n); err != nil {
				t.Error(err)
			}
			b.Topics()
		}
	})
	wg.Go(func() {
		for range 20 {
			if _, err := b.Fetch(ctx, "t", FetchRequest{Offset: OffsetEarliest, MaxMessages: 100, MaxBytes: 1 << 20}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range must(b.Topic("t")).Partitions {
		total += p.HighWatermark
	}
	if total != 200 {
		t.Fatalf("%d messages stored, want 200", total)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("t", []Message{{Partition: AnyPartition}}); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("publish after Close: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestPartitionChangedSignalsAppends(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	ch0 := must(b.PartitionChanged("t", 0))
	ch1 := must(b.PartitionChanged("t", 1))
	if _, err := b.Publish("t", []Message{{Value: []byte("x"), Partition: 1}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch1:
	default:
		t.Fatal("an append to partition 1 did not signal it")
	}
	select {
	case <-ch0:
		t.Fatal("an append to partition 1 signalled partition 0")
	default:
	}
	if _, err := b.PartitionChanged("t", 2); !errors.Is(err, api.ErrPartitionNotFound) {
		t.Fatalf("partition 2: %v", err)
	}
	if _, err := b.PartitionChanged("u", 0); !errors.Is(err, api.ErrTopicNotFound) {
		t.Fatalf("topic u: %v", err)
	}
}
