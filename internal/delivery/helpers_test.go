package delivery

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

var (
	t0      = time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)
	orders0 = TP{"orders", 0}
	orders1 = TP{"orders", 1}
	orders2 = TP{"orders", 2}
)

// ends returns a high-watermark function over fixed watermarks.
func ends(hwm map[TP]int64) func(TP) int64 {
	return func(tp TP) int64 { return hwm[tp] }
}

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func offsetsOf(ds []Delivery) []int64 {
	offs := make([]int64, len(ds))
	for i, d := range ds {
		offs[i] = d.Offset
	}
	return offs
}

func countsOf(ds []Delivery) []int {
	cs := make([]int, len(ds))
	for i, d := range ds {
		cs[i] = d.DeliveryCount
	}
	return cs
}

func wantOffsets(t *testing.T, got []Delivery, want ...int64) {
	t.Helper()
	if !slices.Equal(offsetsOf(got), want) {
		t.Fatalf("delivered offsets %v, want %v", offsetsOf(got), want)
	}
}

func wantCommitted(t *testing.T, g *Group, tp TP, want int64) {
	t.Helper()
	if got, _ := g.Committed(tp); got != want {
		t.Fatalf("committed %v = %d, want %d", tp, got, want)
	}
}

func mustAck(t *testing.T, g *Group, member string, tp TP, offs ...int64) {
	t.Helper()
	for _, off := range offs {
		if err := g.Ack(member, tp, off); err != nil {
			t.Fatalf("Ack(%s, %v, %d): %v", member, tp, off, err)
		}
	}
}

func mustNack(t *testing.T, g *Group, now time.Time, member string, tp TP, off int64, opt NackOptions) Outcome {
	t.Helper()
	o, err := g.Nack(now, member, tp, off, opt)
	if err != nil {
		t.Fatalf("Nack(%s, %v, %d): %v", member, tp, off, err)
	}
	return o
}

// wantNotInFlight checks that err is api.ErrNotInFlight with the state detail.
func wantNotInFlight(t *testing.T, err error, state string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) || !errors.Is(err, api.ErrNotInFlight) {
		t.Fatalf("error %v, want %s", err, api.ErrNotInFlight.Code)
	}
	if state != "" && e.Details["state"] != state {
		t.Fatalf("error %v has state %v, want %q", err, e.Details["state"], state)
	}
}
