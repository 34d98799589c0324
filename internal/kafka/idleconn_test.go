package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// heapInUse is the heap's live bytes after a collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// A connection that has served its requests and sent nothing more for a
// while holds little: its read buffer and the buffers its requests grew
// (a produce's frame, an answer) go back to pools for the connections
// still busy. Each idle connection held its 64 KiB read buffer, and the
// frame buffer of its largest request up to 1 MiB, for as long as it
// stayed open: 10,000 idle producers held gigabytes.
func TestIdleConnectionsHoldLittle(t *testing.T) {
	const conns, value = 100, 200 << 10
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	produce := func() []byte {
		batch, err := recordbatch.Build(nil, recordbatch.NewHeader(0), recordbatch.None,
			[]recordbatch.Record{{Value: bytes.Repeat([]byte("v"), value)}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 7, 1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		frame := binary.BigEndian.AppendUint32(nil, 0)
		frame = binary.BigEndian.AppendUint16(frame, uint16(kmsg.Produce))
		frame = append(frame, 0, 7, 0, 0, 0, 1, 0xff, 0xff) // v7, correlation 1, no client ID
		frame = req.AppendTo(frame)
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		return frame
	}()
	served := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write(produce); err != nil {
			return err
		}
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return err
		}
		_, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:])))
		return err
	}
	// Warm up: what the broker allocates once (the log's first segment,
	// pools) is not the connections'.
	warm, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := served(warm); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	before := heapInUse()
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		if err := served(c); err != nil {
			t.Fatal(err)
		}
	}
	const most = 16 << 10
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		if per := (heapInUse() - before) / conns; per > most {
			return fmt.Errorf("%d idle connections hold %d bytes of heap each; want at most %d", conns, per, most)
		}
		return nil
	})
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// Idle connections are served as before once they ask again.
	for i, c := range open {
		if err := served(c); err != nil {
			t.Fatalf("connection %d, asking again after idle: %v", i, err)
		}
	}
	t.Logf("idle connection: %d bytes of heap each (stacks in use: %d bytes in all)", (heapInUse()-before)/conns, ms.StackInuse)
}

// A connection waiting for a request past idleAfter holds no buffer, and
// a frame whose size arrives split around that moment is read whole (the
// bytes of the size read before are kept); one whose size has arrived is
// a request arriving, not an idle connection, however slow its body.
func TestFramesSplitAcrossIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		f := &frames{nc: server}
		defer f.release()
		frame := binary.BigEndian.AppendUint32(nil, 10)
		frame = append(frame, "0123456789"...)
		idles := 0
		for i, tc := range []struct {
			split int  // bytes sent before the wait
			idle  bool // the connection holds nothing during the wait
			idles int  // times it went idle so far
		}{
			{0, true, 0}, // idle from the start: nothing to give back
			{0, true, 1},
			{2, true, 2},
			{4, false, 2},
		} {
			got := make(chan []byte, 1)
			go func() {
				b, err := f.next(context.Background(), time.Now().Add(time.Hour), 1<<20, nil, func() { idles++ })
				if err != nil {
					t.Errorf("frame %d: %v", i, err)
				}
				got <- bytes.Clone(b)
			}()
			client.Write(frame[:tc.split])
			time.Sleep(2 * idleAfter)
			synctest.Wait()
			if idle := f.br == nil && f.buf == nil; idle != tc.idle || idles != tc.idles {
				t.Fatalf("frame %d, %d bytes sent, waiting: holds nothing %v, went idle %d times; want %v, %d", i, tc.split, idle, idles, tc.idle, tc.idles)
			}
			client.Write(frame[tc.split:])
			if b := <-got; string(b) != "0123456789" {
				t.Fatalf("frame %d split at %d read %q", i, tc.split, b)
			}
		}
	})
}

// A frame larger than a connection keeps is not lent to a pool while the
// caller still reads it: another connection would take it and write its
// own frame or answer over the request being served.
func TestLargeFrameIsNotLentWhileRead(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	f := &frames{nc: server}
	defer f.release()
	frame := binary.BigEndian.AppendUint32(nil, 2*keptBuf)
	frame = append(frame, make([]byte, 2*keptBuf)...)
	go client.Write(frame)
	got, err := f.next(context.Background(), time.Now().Add(time.Minute), 4*keptBuf, nil, func() {})
	if err != nil || len(got) != 2*keptBuf {
		t.Fatalf("next: %d bytes, %v", len(got), err)
	}
	for range 4 { // sync.Pool may hand back something else first
		if p, ok := bigBufs.Get().(*[]byte); ok && cap(*p) > 0 && &(*p)[:1][0] == &got[0] {
			t.Fatal("the frame being read was lent to the pool of large buffers")
		}
	}
}
