package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A frame that announces the largest size and sends 1 KiB makes the
// reader hold about the first chunk, not the announcement: 300 such
// connections made the broker hold 30 GB of buffers it had never been
// sent.
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	in := binary.BigEndian.AppendUint32(nil, DefaultMaxRequestBytes)
	in = append(in, make([]byte, 1024)...)
	var err error
	allocated := testkit.Allocated(func() { _, err = readFrame(bytes.NewReader(in), nil, DefaultMaxRequestBytes, nil) })
	if err == nil {
		t.Fatal("a frame cut short was read")
	}
	if allocated > 1<<20 {
		t.Fatalf("allocated %d bytes for 1 KiB of a %d byte frame", allocated, DefaultMaxRequestBytes)
	}
}

// Frames are charged to the budget of bytes held over every connection;
// one past it is refused as a bad frame, and charges nothing.
func TestReadFrameChargesTheBudget(t *testing.T) {
	frame := func(n int) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(n)), bytes.Repeat([]byte{7}, n)...)
	}
	held := budget.New(300 << 10)
	first, err := readFrame(bytes.NewReader(frame(200<<10)), nil, DefaultMaxRequestBytes, held)
	if err != nil || len(first) != 200<<10 || held.Used() != 200<<10 {
		t.Fatalf("first frame: %d bytes, %v; %d charged", len(first), err, held.Used())
	}
	if _, err := readFrame(bytes.NewReader(frame(200<<10)), nil, DefaultMaxRequestBytes, held); !errors.Is(err, errFrame) || !errors.Is(err, budget.ErrSpent) {
		t.Fatalf("second frame past the budget: %v", err)
	}
	if held.Used() != 200<<10 {
		t.Fatalf("the refused frame left %d charged, want the first's %d", held.Used(), 200<<10)
	}
	held.Give(int64(len(first)))
	if _, err := readFrame(bytes.NewReader(frame(200<<10)), first, DefaultMaxRequestBytes, held); err != nil {
		t.Fatalf("after the first was given back: %v", err)
	}
}
