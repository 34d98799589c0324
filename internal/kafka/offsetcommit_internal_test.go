package kafka

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
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
