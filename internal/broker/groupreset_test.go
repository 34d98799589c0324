package broker

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A reset that fails leaves no group behind: the group a reset creates is
// created only once the reset is known to succeed.
func TestFailedResetCreatesNoGroup(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  ResetParams
		want *api.Error
	}{
		{"unknown topic", ResetParams{To: ResetEarliest, Topics: []string{"nope"}}, api.ErrTopicNotFound},
		{"unknown topic in offsets", ResetParams{To: ResetOffsets, Offsets: Offsets{"nope": {0: 0}}}, api.ErrTopicNotFound},
		{"unknown partition", ResetParams{To: ResetOffsets, Offsets: Offsets{"orders": {7: 0}}}, api.ErrPartitionNotFound},
		{"out of range", ResetParams{To: ResetOffsets, Offsets: Offsets{"orders": {0: 99}}}, api.ErrOffsetOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.ResetOffsets("g", tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("reset: %v, want %v", err, tc.want)
			}
			if gs := b.Groups(); len(gs) != 0 {
				t.Fatalf("groups after a failed reset: %+v", gs)
			}
		})
	}
	if _, err := b.ResetOffsets("g", ResetParams{To: ResetLatest, Topics: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	if gs := b.Groups(); len(gs) != 1 || gs[0].ID != "g" {
		t.Fatalf("groups after a reset: %+v", gs)
	}
}

// Every reset mode, previewed and applied, on chosen topics and partitions;
// the applied offsets survive a restart and a preview changes nothing.
func TestResetModes(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	closed := false
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	for _, name := range []string{"orders", "audit"} {
		if _, err := b.CreateTopic(TopicSpec{Name: name, Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-time.Hour).UnixMilli()
	var msgs []Message
	for i := range 10 { // orders/0: offsets 0..9, one minute apart from an hour ago
		msgs = append(msgs, Message{Value: []byte("m"), Partition: 0, Timestamp: hourAgo + int64(i)*60_000})
	}
	msgs = append(msgs, Message{Value: []byte("m"), Partition: 1}, Message{Value: []byte("m"), Partition: 1})
	if _, err := b.Publish("orders", msgs); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("audit", []Message{{Value: []byte("a"), Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	offsets := func(g string) Offsets {
		t.Helper()
		o, err := b.GroupOffsets(g)
		if errors.Is(err, api.ErrGroupNotFound) {
			return nil
		} else if err != nil {
			t.Fatal(err)
		}
		return o
	}
	reset := func(g string, req ResetParams) ResetResult {
		t.Helper()
		r, err := b.ResetOffsets(g, req)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		return r
	}

	// A preview of a group that does not exist creates nothing.
	r := reset("g", ResetParams{To: ResetOffsets, Offsets: Offsets{"orders": {0: 5}}, DryRun: true})
	if !r.DryRun || len(r.Changes) != 1 || r.Changes[0] != (OffsetChange{Topic: "orders", Partition: 0, From: -1, To: 5}) {
		t.Fatalf("preview: %+v", r)
	}
	if _, err := b.GroupOffsets("g"); !errors.Is(err, api.ErrGroupNotFound) {
		t.Fatalf("a preview created the group: %v", err)
	}

	for _, step := range []struct {
		name string
		req  ResetParams
		want Offsets
	}{
		{"offsets", ResetParams{To: ResetOffsets, Offsets: Offsets{"orders": {0: 5, 1: 1}, "audit": {0: 0}}},
			Offsets{"orders": {0: 5, 1: 1}, "audit": {0: 0}}},
		{"shift back", ResetParams{To: ResetShift, Shift: -2, Topics: []string{"orders"}},
			Offsets{"orders": {0: 3, 1: 0}, "audit": {0: 0}}},
		{"shift one partition past the end", ResetParams{To: ResetShift, Shift: 100, Topics: []string{"orders"}, Partitions: []int32{0}},
			Offsets{"orders": {0: 10, 1: 0}, "audit": {0: 0}}},
		{"timestamp", ResetParams{To: ResetTimestamp, Time: time.UnixMilli(hourAgo + 4*60_000 - 1), Topics: []string{"orders"}, Partitions: []int32{0}},
			Offsets{"orders": {0: 4, 1: 0}, "audit": {0: 0}}},
		{"duration ago", ResetParams{To: ResetDuration, Ago: 55*time.Minute + 30*time.Second, Topics: []string{"orders"}, Partitions: []int32{0}},
			Offsets{"orders": {0: 5, 1: 0}, "audit": {0: 0}}},
		{"latest, all topics", ResetParams{To: ResetLatest},
			Offsets{"orders": {0: 10, 1: 2}, "audit": {0: 1, 1: 0}}},
		{"earliest, one topic", ResetParams{To: ResetEarliest, Topics: []string{"audit"}},
			Offsets{"orders": {0: 10, 1: 2}, "audit": {0: 0, 1: 0}}},
		{"delete a topic", ResetParams{To: ResetDelete, Topics: []string{"audit"}},
			Offsets{"orders": {0: 10, 1: 2}}},
	} {
		preview := step.req
		preview.DryRun = true
		before := offsets("g")
		p := reset("g", preview)
		if got := offsets("g"); !reflect.DeepEqual(got, before) {
			t.Fatalf("%s: the preview changed the offsets: %v → %v", step.name, before, got)
		}
		if !reflect.DeepEqual(p.Offsets, step.want) {
			t.Fatalf("%s: preview %v, want %v", step.name, p.Offsets, step.want)
		}
		applied := reset("g", step.req)
		if !reflect.DeepEqual(applied.Offsets, step.want) || !reflect.DeepEqual(offsets("g"), step.want) {
			t.Fatalf("%s: applied %v, stored %v, want %v", step.name, applied.Offsets, offsets("g"), step.want)
		}
		if !reflect.DeepEqual(p.Changes, applied.Changes) {
			t.Fatalf("%s: preview changes %v, applied %v", step.name, p.Changes, applied.Changes)
		}
	}

	// Copy g into a new group h.
	reset("h", ResetParams{To: ResetGroup, FromGroup: "g"})
	if got := offsets("h"); !reflect.DeepEqual(got, Offsets{"orders": {0: 10, 1: 2}}) {
		t.Fatalf("copied %v", got)
	}

	// With a member, a preview works and a reset is refused.
	if _, err := b.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"orders"}}, "h"); err != nil {
		t.Fatal(err)
	}
	reset("g", ResetParams{To: ResetEarliest, DryRun: true})
	if _, err := b.ResetOffsets("g", ResetParams{To: ResetEarliest}); !errors.Is(err, api.ErrGroupNotEmpty) {
		t.Fatalf("reset of a group with a member: %v", err)
	}
	if err := b.LeaveGroup("g", "m"); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []ResetParams{
		{To: ResetDelete},
		{To: ResetGroup, FromGroup: "g"},
		{To: ResetGroup},
		{To: ResetShift},
		{To: ResetDuration},
		{To: ResetEarliest, Topics: []string{"orders", "audit"}, Partitions: []int32{0}},
		{To: ResetOffsets, Offsets: Offsets{"orders": {0: 1}}, Topics: []string{"orders"}},
		{To: ResetMode(99)},
		{},
	} {
		if _, err := b.ResetOffsets("g", bad); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want INVALID_ARGUMENT", bad, err)
		}
	}
	if _, err := b.ResetOffsets("g", ResetParams{To: ResetEarliest, Topics: []string{"orders"}, Partitions: []int32{9}}); !errors.Is(err, api.ErrPartitionNotFound) {
		t.Errorf("unknown partition: %v", err)
	}
	if _, err := b.ResetOffsets("x", ResetParams{To: ResetGroup, FromGroup: "nope"}); !errors.Is(err, api.ErrGroupNotFound) {
		t.Errorf("copy of an unknown group: %v", err)
	}

	// What was applied, deletions included, is what a restart finds.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	b = mustOpen(t, cfg)
	closed = false
	if got := offsets("g"); !reflect.DeepEqual(got, Offsets{"orders": {0: 10, 1: 2}}) {
		t.Fatalf("g after a restart: %v", got)
	}
	if got := offsets("h"); !reflect.DeepEqual(got, Offsets{"orders": {0: 10, 1: 2}}) {
		t.Fatalf("h after a restart: %v", got)
	}
}
