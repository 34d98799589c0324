package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The transport floor of docs/latency.md: the latency workload's shape —
// one producer sending rate messages a second (a batch leaves at once when
// none is out, and gathers while one is), a broker process relaying them to
// one consumer — with nothing of GoQueue in between (no log, no group, no
// client library), over two transports between two processes:
//
//	http    HTTP/1.1 request/response as GoQueue's clients use it: POST a
//	        batch, answered once taken; the consumer long-polls (POST, wait
//	        up to 100 ms) and polls again as soon as an answer arrives
//	h2c     the same requests over HTTP/2 without TLS (one connection,
//	        requests multiplexed as streams)
//	stream  one long-lived TCP connection each way: length-prefixed frames,
//	        the relay writes each batch to the consumer as it comes and acks
//	        the producer on its own connection
//
// What the floor shows is what the machine and the request/response pattern
// cost before GoQueue does anything.

// floorMsg is the size of a relayed message: the workload's 100 bytes.
const floorMsg = 100

// TestTransportFloor runs both transports when GOQUEUE_LATENCY_FLOOR is set
// (GOQUEUE_LATENCY_RATE and GOQUEUE_LATENCY_DURATION as TestLatencyStages).
func TestTransportFloor(t *testing.T) {
	if os.Getenv("GOQUEUE_LATENCY_FLOOR") == "" {
		t.Skip("set GOQUEUE_LATENCY_FLOOR=1 to measure the transport floor")
	}
	rate, dur := 20000, 10*time.Second
	if v := os.Getenv("GOQUEUE_LATENCY_RATE"); v != "" {
		if _, err := fmt.Sscan(v, &rate); err != nil {
			t.Fatal(err)
		}
	}
	if v := os.Getenv("GOQUEUE_LATENCY_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	relay := exec.Command(os.Args[0], "-test.run=^TestFloorRelay$")
	relay.Env = append(os.Environ(), "GOQUEUE_FLOOR_RELAY=1")
	out, err := relay.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	relay.Stderr = os.Stderr
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = relay.Process.Kill(); _ = relay.Wait() }()
	var httpAddr, tcpAddr string
	if _, err := fmt.Fscan(bufio.NewReader(out), &httpAddr, &tcpAddr); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []string{"http", "h2c", "stream", "http", "h2c", "stream"} {
		before := loadavg()
		cpu0, rcpu0 := cpuTime(os.Getpid()), cpuTime(relay.Process.Pid)
		var h Histogram
		var reqs int
		var err error
		switch tr {
		case "http":
			h, reqs, err = floorHTTP(httpAddr, rate, dur, false)
		case "h2c":
			h, reqs, err = floorHTTP(httpAddr, rate, dur, true)
		default:
			h, reqs, err = floorStream(tcpAddr, rate, dur)
		}
		if err != nil {
			t.Fatal(err)
		}
		perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(h.Count(), 1)) }
		t.Logf("%-6s %d msg/s for %v, %d batches: p50 %dus p90 %dus p99 %dus p99.9 %dus max %dus (%d msgs; cpu/msg client %.1fus relay %.1fus; load %s -> %s)",
			tr, rate, dur, reqs, h.Quantile(.5)/1e3, h.Quantile(.9)/1e3, h.Quantile(.99)/1e3, h.Quantile(.999)/1e3, h.Max()/1e3, h.Count(),
			perMsg(cpuTime(os.Getpid())-cpu0), perMsg(cpuTime(relay.Process.Pid)-rcpu0), before, loadavg())
	}
}

// cpuTime is the CPU (user and system) process pid has used so far, in
// the kernel's clock ticks (10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	_, _ = fmt.Sscan(f[11], &utime)
	_, _ = fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// floorGen stamps rate messages a second with their send time and hands
// them to the sender; batches returns all that came since the last call,
// waiting for at least one.
type floorGen struct {
	epoch time.Time
	ch    chan []byte
}

func newFloorGen(ctx context.Context, rate int, dur time.Duration) *floorGen {
	g := &floorGen{epoch: time.Now(), ch: make(chan []byte, rate)}
	go func() {
		defer close(g.ch)
		interval := int64(time.Second) / int64(rate)
		total := int64(rate) * int64(dur/time.Millisecond) / 1000
		for seq := int64(0); seq < total && ctx.Err() == nil; {
			now := int64(time.Since(g.epoch))
			for due := min(now/interval+1, total); seq < due; seq++ {
				m := make([]byte, floorMsg)
				binary.BigEndian.PutUint64(m, uint64(time.Since(g.epoch)))
				g.ch <- m
			}
			if wait := time.Duration(seq*interval - int64(time.Since(g.epoch))); wait > 0 {
				time.Sleep(wait)
			}
		}
	}()
	return g
}

// batch returns the messages waiting, at least one; nil when done.
func (g *floorGen) batch(buf []byte) []byte {
	m, ok := <-g.ch
	if !ok {
		return nil
	}
	buf = append(buf[:0], m...)
	for {
		select {
		case m, ok := <-g.ch:
			if !ok {
				return buf
			}
			buf = append(buf, m...)
		default:
			return buf
		}
	}
}

func (g *floorGen) record(h *Histogram, body []byte) {
	now := int64(time.Since(g.epoch))
	for ; len(body) >= floorMsg; body = body[floorMsg:] {
		h.Record(now - int64(binary.BigEndian.Uint64(body)))
	}
}

func floorHTTP(addr string, rate int, dur time.Duration, h2c bool) (Histogram, int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	hc := &http.Client{Transport: tr}
	defer hc.CloseIdleConnections()
	g := newFloorGen(ctx, rate, dur)
	total := int64(rate) * int64(dur/time.Millisecond) / 1000
	var h Histogram
	done := make(chan error, 1)
	go func() {
		var got int64
		for got < total {
			resp, err := hc.Post("http://"+addr+"/poll", "application/octet-stream", nil)
			if err != nil {
				done <- err
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				done <- err
				return
			}
			g.record(&h, body)
			got += int64(len(body) / floorMsg)
		}
		done <- nil
	}()
	reqs := 0
	var buf []byte
	for {
		if buf = g.batch(buf); buf == nil {
			break
		}
		resp, err := hc.Post("http://"+addr+"/pub", "application/octet-stream", bytes.NewReader(buf))
		if err != nil {
			return h, reqs, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		reqs++
	}
	select {
	case err := <-done:
		return h, reqs, err
	case <-time.After(10 * time.Second):
		return h, reqs, fmt.Errorf("http: %d of %d messages", h.Count(), total)
	}
}

func floorStream(addr string, rate int, dur time.Duration) (Histogram, int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, err := net.Dial("tcp", addr)
	if err != nil {
		return Histogram{}, 0, err
	}
	defer cons.Close()
	prod, err := net.Dial("tcp", addr)
	if err != nil {
		return Histogram{}, 0, err
	}
	defer prod.Close()
	if _, err := cons.Write([]byte{'C'}); err != nil {
		return Histogram{}, 0, err
	}
	time.Sleep(50 * time.Millisecond) // the relay knows its consumer before the first batch
	if _, err := prod.Write([]byte{'P'}); err != nil {
		return Histogram{}, 0, err
	}
	g := newFloorGen(ctx, rate, dur)
	total := int64(rate) * int64(dur/time.Millisecond) / 1000
	var h Histogram
	done := make(chan error, 1)
	go func() {
		r := bufio.NewReader(cons)
		var got int64
		var body []byte
		for got < total {
			var n uint32
			if err := binary.Read(r, binary.BigEndian, &n); err != nil {
				done <- err
				return
			}
			body = append(body[:0], make([]byte, n)...)
			if _, err := io.ReadFull(r, body); err != nil {
				done <- err
				return
			}
			g.record(&h, body)
			got += int64(n / floorMsg)
		}
		done <- nil
	}()
	// Acks come back on the producer's connection; the producer does not
	// wait for them (a stream keeps batches in flight), it counts them.
	acks := make(chan int, 1)
	go func() {
		r := bufio.NewReader(prod)
		n := 0
		for {
			if _, err := r.ReadByte(); err != nil {
				acks <- n
				return
			}
			n++
		}
	}()
	reqs := 0
	var b, frame []byte
	for {
		if b = g.batch(b); b == nil {
			break
		}
		frame = binary.BigEndian.AppendUint32(frame[:0], uint32(len(b)))
		frame = append(frame, b...)
		if _, err := prod.Write(frame); err != nil {
			return h, reqs, err
		}
		reqs++
	}
	select {
	case err := <-done:
		return h, reqs, err
	case <-time.After(10 * time.Second):
		return h, reqs, fmt.Errorf("stream: %d of %d messages", h.Count(), total)
	}
}

// TestFloorRelay is the relay process of TestTransportFloor (it runs only
// as that test's child): it prints its HTTP and TCP addresses and relays
// until killed.
func TestFloorRelay(t *testing.T) {
	if os.Getenv("GOQUEUE_FLOOR_RELAY") == "" {
		t.Skip("the relay process of TestTransportFloor")
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(hl.Addr(), tl.Addr())
	var (
		mu      sync.Mutex
		queue   []byte
		arrived = make(chan struct{})
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/pub", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		queue = append(queue, b...)
		close(arrived)
		arrived = make(chan struct{})
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) {
		deadline := time.NewTimer(100 * time.Millisecond)
		defer deadline.Stop()
		for {
			mu.Lock()
			if len(queue) > 0 {
				b := queue
				queue = nil
				mu.Unlock()
				_, _ = w.Write(b)
				return
			}
			ch := arrived
			mu.Unlock()
			select {
			case <-ch:
			case <-deadline.C:
				return
			}
		}
	})
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(hl) }()
	var consumer net.Conn
	var cmu sync.Mutex
	for {
		c, err := tl.Accept()
		if err != nil {
			return
		}
		go func() {
			role := make([]byte, 1)
			if _, err := io.ReadFull(c, role); err != nil {
				return
			}
			if role[0] == 'C' {
				cmu.Lock()
				consumer = c
				cmu.Unlock()
				return
			}
			r := bufio.NewReader(c)
			buf := make([]byte, 0, 64<<10)
			for {
				head := make([]byte, 4)
				if _, err := io.ReadFull(r, head); err != nil {
					return
				}
				n := binary.BigEndian.Uint32(head)
				buf = append(buf[:0], head...)
				buf = append(buf, make([]byte, n)...)
				if _, err := io.ReadFull(r, buf[4:]); err != nil {
					return
				}
				cmu.Lock()
				if consumer != nil {
					_, _ = consumer.Write(buf)
				}
				cmu.Unlock()
				_, _ = c.Write([]byte{1})
			}
		}()
	}
}
