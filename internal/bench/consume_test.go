package bench

import (
	"errors"
	"fmt"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

func TestAckRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{api.ErrNotInFlight, true},
		{fmt.Errorf("client: poll: %w", api.ErrNotInFlight), true},
		{&api.Error{Code: "BAD_REQUEST", Status: 409}, true}, // an answer the client could not decode whole
		{api.ErrTopicNotFound, false},
		{client.ErrUnreachable, false},
		{errors.New("boom"), false},
	} {
		if got := ackRefused(tc.err); got != tc.want {
			t.Errorf("ackRefused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestSeenCountsEachOffsetOnce(t *testing.T) {
	s := newSeen(map[int32]int64{0: 100, 1: 3})
	msg := func(p int32, off int64) *client.Message { return &client.Message{Partition: p, Offset: off} }
	if got := s.add([]*client.Message{msg(0, 0), msg(0, 99), msg(1, 2), msg(0, 0)}); got != 3 {
		t.Errorf("first batch: %d new, want 3", got)
	}
	if got := s.add([]*client.Message{msg(0, 99), msg(1, 3), msg(2, 0), msg(0, 64)}); got != 1 {
		t.Errorf("second batch: %d new, want 1", got)
	}
	if s.dups != 2 || s.extra != 2 {
		t.Errorf("dups %d extra %d, want 2 and 2", s.dups, s.extra)
	}
}
