package kafka

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// A commit's metadata is read as Kafka reads it: bytes that are not UTF-8
// replaced (so every node of a cluster stores the same string), and its
// length counted in UTF-16 units, as a Java string's, against Kafka's
// default bound of 4096.
func TestCommitMetadata(t *testing.T) {
	text := func(s string) *string { return &s }
	for name, tc := range map[string]struct {
		in   *string
		want string
		ok   bool
	}{
		"null":              {nil, "", true},
		"ASCII":             {text("state=4"), "state=4", true},
		"not UTF-8":         {text("\xff\xfe\xe2\x82ab"), "\uFFFD\uFFFD\uFFFDab", true}, // as Java: E2 82 is one
		"surrogate":         {text("\xed\xa0\x80z"), "\uFFFDz", true},                   // Java counts it whole
		"surrogate cut":     {text("\xed\xa0z"), "\uFFFDz", true},
		"cut 4-byte":        {text("\xf0\x9f\x98"), "\uFFFD", true},
		"4097 bad bytes":    {text(strings.Repeat("\xff", 4097)), strings.Repeat("\uFFFD", 4097), false},
		"6000 bytes":        {text(strings.Repeat("é", 3000)), strings.Repeat("é", 3000), true},
		"4097 units":        {text(strings.Repeat("x", 4097)), strings.Repeat("x", 4097), false},
		"4098 units, pairs": {text(strings.Repeat("😀", 2049)), strings.Repeat("😀", 2049), false},
	} {
		if got, ok := commitMetadata(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %.20q, %v; want %.20q, %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

// OffsetFetch refused for the whole group (its coordinator elsewhere, its
// offsets being written) says so where the request's version reads it:
// in every partition asked for, with offset -1 (before v2, as Kafka
// answers, the only place), and from v2 in the response's error. Refused
// by the broker's coordinator (here NOT_COORDINATOR: the front end had
// not heard yet that the group moved; or UNAVAILABLE, a write in progress
// or failed), v0 and v1 answered no partition and so no error at all, as
// if the group had no offset committed.
func TestOffsetFetchFailsInTheRequestsVersion(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	br, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	br.ReplicateGroups(coordinatingNothing{})
	s := New(br, Options{NodeID: 1, Logger: cfg.Logger})
	for _, version := range []int16{0, 1, 2, 7} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.Group = version, "g"
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 2}}}
		r, err := s.offsetFetch(context.Background(), nil, req)
		if err != nil {
			t.Fatal(err)
		}
		// As the client reads it.
		got := kmsg.NewPtrOffsetFetchResponse()
		got.SetVersion(version)
		if err := got.ReadFrom(r.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		want := kerr.NotCoordinator.Code
		if version >= 2 && got.ErrorCode != want {
			t.Errorf("v%d: error %d, want %d", version, got.ErrorCode, want)
		}
		var parts []int32
		for _, st := range got.Topics {
			for _, sp := range st.Partitions {
				if st.Topic != "t" || sp.ErrorCode != want || sp.Offset != -1 {
					t.Errorf("v%d: %s/%d: %+v; want error %d, offset -1", version, st.Topic, sp.Partition, sp, want)
				}
				parts = append(parts, sp.Partition)
			}
		}
		if !slices.Equal(parts, []int32{0, 2}) {
			t.Errorf("v%d: partitions %v, want 0 and 2", version, parts)
		}
	}
}

// coordinatingNothing is a cluster node's replicated group state while
// the node coordinates no group (Epoch); nothing else of it is called.
type coordinatingNothing struct{ coordinator.Replicated }

func (coordinatingNothing) Epoch(string) (uint64, bool) { return 0, false }

// OffsetFetch answers the offsets last written at once unless it sets
// require_stable (v7+), as Kafka does; with it, it waits for the writes
// in progress, as Kafka 4's coordinator does. It waited always, up to
// 2 s: a consumer or admin reading its offsets while a commit was being
// written (a Raft round on a cluster) waited for it, and answered
// COORDINATOR_NOT_AVAILABLE if it failed.
func TestOffsetFetchWaitsOnlyWhenStable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, s, r := heldWritesServer(t, 1)
		reset := func(to int64) error {
			_, err := br.ResetOffsets("g", broker.ResetParams{To: broker.ResetOffsets, Offsets: broker.Offsets{"t": {0: to}}})
			return err
		}
		if err := reset(1); err != nil {
			t.Fatal(err)
		}
		release := r.hold()
		go reset(2) //nolint:errcheck // held in the store
		synctest.Wait()
		fetch := func(stable bool) chan int64 {
			answer := make(chan int64, 1)
			go func() {
				req := kmsg.NewPtrOffsetFetchRequest()
				req.Version, req.Group, req.RequireStable = 7, "g", stable
				req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
				resp, err := s.offsetFetch(context.Background(), nil, req)
				if err != nil {
					t.Error(err)
				}
				got := resp.(*kmsg.OffsetFetchResponse)
				if got.ErrorCode != 0 || got.Topics[0].Partitions[0].ErrorCode != 0 {
					t.Errorf("stable %v: %+v", stable, got)
				}
				answer <- got.Topics[0].Partitions[0].Offset
			}()
			return answer
		}
		loose, stable := fetch(false), fetch(true)
		synctest.Wait()
		select {
		case off := <-loose:
			if off != 1 {
				t.Errorf("without require_stable, during the write: offset %d, want 1 (the last written)", off)
			}
		default:
			t.Error("without require_stable, the fetch waits for the write in progress")
		}
		select {
		case off := <-stable:
			t.Fatalf("with require_stable, the fetch answered %d during the write", off)
		default:
		}
		release()
		if off := <-stable; off != 2 {
			t.Errorf("with require_stable, once written: offset %d, want 2", off)
		}
	})
}

// OffsetFetch with require_stable answers a partition whose offset write
// failed (kept to write again) UNSTABLE_OFFSET_COMMIT, as Kafka answers
// one with offsets pending, and the group's other partitions their
// offsets. It answered the whole group COORDINATOR_NOT_AVAILABLE, on
// which clients look for the coordinator again, while any write of the
// group, of any partition, failed.
func TestOffsetFetchStableAnswersAFailedWritePerPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, s, r := heldWritesServer(t, 2)
		if _, err := br.ResetOffsets("g", broker.ResetParams{To: broker.ResetOffsets, Offsets: broker.Offsets{"t": {0: 1, 1: 1}}}); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		r.fail = 1
		r.mu.Unlock()
		if _, err := br.ResetOffsets("g", broker.ResetParams{To: broker.ResetOffsets, Offsets: broker.Offsets{"t": {0: 2}}}); err == nil {
			t.Fatal("the reset whose write fails did not fail")
		}
		for _, all := range []bool{false, true} {
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Version, req.Group, req.RequireStable = 7, "g", true
			if !all {
				req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
			}
			resp, err := s.offsetFetch(context.Background(), nil, req)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.(*kmsg.OffsetFetchResponse)
			if got.ErrorCode != 0 || len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 2 {
				t.Fatalf("all partitions %v: answer %+v", all, got)
			}
			for _, want := range []kmsg.OffsetFetchResponseTopicPartition{
				{Partition: 0, Offset: -1, ErrorCode: kerr.UnstableOffsetCommit.Code},
				{Partition: 1, Offset: 1},
			} {
				sp := got.Topics[0].Partitions[want.Partition]
				if sp.Partition != want.Partition || sp.Offset != want.Offset || sp.ErrorCode != want.ErrorCode {
					t.Errorf("all partitions %v: t/%d: offset %d, error %d; want %d, %d", all, want.Partition, sp.Offset, sp.ErrorCode, want.Offset, want.ErrorCode)
				}
			}
		}
	})
}

// heldWritesServer is a Kafka front end over a cluster node's broker
// whose groups' state is r (heldWrites), with topic t of partitions
// partitions, 2 messages in each.
func heldWritesServer(t *testing.T, partitions int32) (*broker.Broker, *Server, *heldWrites) {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	br, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	r := &heldWrites{}
	br.ReplicateGroups(r)
	s := New(br, Options{NodeID: 1, Logger: cfg.Logger})
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "t", Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	for p := range partitions {
		if _, err := br.Publish("t", []broker.Message{{Value: []byte("a"), Partition: p}, {Value: []byte("b"), Partition: p}}); err != nil {
			t.Fatal(err)
		}
	}
	return br, s, r
}

// heldWrites is a cluster node's replicated group state coordinating
// every group, whose offset writes hold is able to hold, and fail fails.
type heldWrites struct {
	coordinator.Replicated
	mu   sync.Mutex
	gate chan struct{} // nil: writes pass
	fail int           // the next writes that fail
}

// hold holds the offset writes from now until the returned release.
func (r *heldWrites) hold() (release func()) {
	gate := make(chan struct{})
	r.mu.Lock()
	r.gate = gate
	r.mu.Unlock()
	return func() { close(gate) }
}

func (r *heldWrites) WriteOffsets(string, uint64, []offsetstore.Write) error {
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return api.ErrUnavailable.Withf("proposal dropped")
	}
	return nil
}

func (*heldWrites) Epoch(string) (uint64, bool)                         { return 1, true }
func (*heldWrites) SaveSettings(string, uint64, groupstate.Saved) error { return nil }
func (*heldWrites) SaveClassic(string, uint64, []byte) error            { return nil }
func (*heldWrites) Confirm(context.Context, string, uint64) error       { return nil }
func (*heldWrites) Holds(string, int32) bool                            { return true }
func (*heldWrites) ReadPoint(context.Context, string, int32) error      { return nil }

// Generations reserves none: a group's generations start at 0 and every
// reservation is granted (this fake has one coordinator for good).
func (*heldWrites) Generations(string) (floor, ceiling int64) { return 0, 0 }
func (*heldWrites) ReserveGenerations(_ string, _ uint64, gen int64) (int64, error) {
	return gen, nil
}
