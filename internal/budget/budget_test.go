package budget_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

func TestReadFull(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 100_000) // 1,000,000 bytes
	for _, tc := range []struct {
		name    string
		n       int    // bytes asked for
		sent    int    // bytes the reader has
		buf     []byte // the caller's buffer
		budget  int64  // 0: no budget
		err     error  // nil: the read succeeds
		wantCap int    // the result's capacity, when it succeeds
	}{
		{name: "small", n: 10, sent: 10, wantCap: 10},
		{name: "grows fourfold to exactly n", n: 1_000_000, sent: 1_000_000, wantCap: 1_000_000},
		{name: "reuses a large enough buffer", n: 1000, sent: 1000, buf: make([]byte, 5, 4096), wantCap: 4096},
		{name: "grows a small buffer", n: 200_000, sent: 200_000, buf: make([]byte, 0, 100), wantCap: 200_000},
		{name: "nothing", n: 0, sent: 0, wantCap: 0},
		{name: "ends early", n: 1_000_000, sent: 70_000, err: io.ErrUnexpectedEOF},
		{name: "ends before it starts", n: 100, sent: 0, err: io.EOF},
		{name: "within budget", n: 1_000_000, sent: 1_000_000, budget: 1_000_000, wantCap: 1_000_000},
		{name: "past the budget", n: 1_000_000, sent: 1_000_000, budget: 999_999, err: budget.ErrSpent},
		{name: "past the budget in a reused buffer", n: 1000, sent: 1000, buf: make([]byte, 0, 4096), budget: 999, err: budget.ErrSpent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b *budget.Bytes
			if tc.budget > 0 {
				b = budget.New(tc.budget)
			}
			got, err := budget.ReadFull(bytes.NewReader(payload[:tc.sent]), tc.buf, tc.n, b)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if b != nil && b.Used() != 0 {
					t.Fatalf("a failed read left %d bytes charged", b.Used())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload[:tc.n]) || cap(got) != tc.wantCap {
				t.Fatalf("read %d bytes (cap %d), want the first %d (cap %d)", len(got), cap(got), tc.n, tc.wantCap)
			}
			if b != nil && b.Used() != int64(tc.n) {
				t.Fatalf("charged %d, want %d", b.Used(), tc.n)
			}
		})
	}
}

// A sender that announces 100 MiB and sends 1 KiB makes the reader
// allocate about the first chunk, not the announcement.
func TestReadFullAllocatesAsBytesArrive(t *testing.T) {
	const announced = 100 << 20
	var err error
	allocated := testkit.Allocated(func() { _, err = budget.ReadFull(bytes.NewReader(make([]byte, 1024)), nil, announced, nil) })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if allocated > 1<<20 {
		t.Fatalf("allocated %d bytes for 1 KiB sent of %d announced", allocated, announced)
	}
}

// stalled reads its bytes, then, as a sender that stops short would
// keep the reader waiting, calls stall before failing.
type stalled struct {
	r     io.Reader
	stall func()
}

func (s *stalled) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.stall()
	}
	return n, err
}

// A sender that stops short holds charged about what it sent, whatever
// buffer the reader reads into: one kept from an earlier read, with room
// for the whole payload, was charged nothing until the payload was whole,
// so connections stalled in the middle of their frames held their kept
// buffers outside the budget.
func TestReadFullChargesWhileStalled(t *testing.T) {
	const n = 4 << 20
	for _, tc := range []struct {
		name string
		buf  []byte
		sent int
	}{
		{"new buffer", nil, 1 << 20},
		{"kept buffer with room", make([]byte, 0, n), 1 << 20},
		{"kept buffer, a few bytes sent", make([]byte, 0, n), 100},
		{"nothing sent", nil, 0},
		{"kept buffer, nothing sent", make([]byte, 0, n), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := budget.New(64 << 20)
			var held int64
			r := &stalled{r: bytes.NewReader(make([]byte, tc.sent)), stall: func() { held = b.Used() }}
			want := io.ErrUnexpectedEOF
			if tc.sent == 0 {
				want = io.EOF
			}
			if _, err := budget.ReadFull(r, tc.buf, n, b); !errors.Is(err, want) {
				t.Fatalf("err = %v, want %v", err, want)
			}
			// Sending a payload's size alone costs a sender nothing: what
			// it holds charged for it must be little.
			if held < int64(tc.sent) || held > max(8<<10, 4*int64(tc.sent)) {
				t.Fatalf("%d bytes charged while stalled after %d of %d; want at least those sent, at most 4 times (or 8 KiB)", held, tc.sent, n)
			}
			if b.Used() != 0 {
				t.Fatalf("a failed read left %d bytes charged", b.Used())
			}
		})
	}
}

func TestTakeUpTo(t *testing.T) {
	b := budget.New(100)
	for _, tc := range []struct{ ask, got, used int64 }{
		{60, 60, 60},
		{60, 40, 100}, // what is left
		{1, 0, 100},   // spent
	} {
		if got := b.TakeUpTo(tc.ask); got != tc.got || b.Used() != tc.used {
			t.Fatalf("TakeUpTo(%d) = %d, used %d; want %d, used %d", tc.ask, got, b.Used(), tc.got, tc.used)
		}
	}
}

func TestBytes(t *testing.T) {
	b := budget.New(100)
	if !b.Take(60) || b.Take(41) || !b.Take(40) || b.Used() != 100 {
		t.Fatalf("takes of 60, 41 (refused), 40 left %d used", b.Used())
	}
	b.Give(100)
	if b.Used() != 0 || b.Max() != 100 {
		t.Fatalf("used %d, max %d after giving all back", b.Used(), b.Max())
	}
}
