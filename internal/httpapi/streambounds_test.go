package httpapi_test

import (
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// stallInFrame sends the header of a PRODUCE frame of size payload bytes
// and the first sent of them, and no more.
func (c *streamClient) stallInFrame(size, sent int) {
	c.t.Helper()
	var hdr [api.StreamHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(5+size))
	hdr[4] = byte(api.StreamProduce)
	binary.BigEndian.PutUint32(hdr[5:], 1)
	if _, err := c.conn.Write(append(hdr[:], make([]byte, sent)...)); err != nil {
		c.t.Fatal(err)
	}
}

// A stream's frames are request bodies to --max-decoding-bytes: a stream
// stalled in the middle of a frame holds its share, and other bodies are
// refused 429 past it, until it goes. They were charged nothing: 100
// streams that each sent 15 MiB of a 16 MiB frame and stopped held
// 1.56 GB.
func TestStreamFrameChargedToDecodingBudget(t *testing.T) {
	const budget = 64 << 10
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.MaxBodyBytes, o.MaxDecodingBytes = budget, budget
	}))
	createTopic(t, s, "orders", 1)
	_, sc := dialStream(t, s, "")
	sc.stallInFrame(40<<10, 30<<10)
	testkit.Eventually(t, 5*time.Second, func() bool { return s.Handler().BodiesUsed() >= 30<<10 },
		"the 30 KiB the stream sent charged")
	body := `{"value":"` + strings.Repeat("x", 30<<10) + `"}`
	status, raw := s.Do("POST", "/topics/orders/messages", body)
	wantError(t, status, raw, api.ErrTooManyRequests)
	sc.conn.Close()
	testkit.Eventually(t, 5*time.Second, func() bool {
		code, _ := s.Do("POST", "/topics/orders/messages", body)
		return code == http.StatusOK
	}, "the body taken once the stream is gone")
}

// A stream frame is due within the read timeout once its header has come:
// a stream stalled in the middle of one is closed, as a request whose
// body stalls is. Streams had no deadline at all.
func TestStreamStalledFrameClosed(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.StreamReadTimeout = 100 * time.Millisecond }))
	_, sc := dialStream(t, s, "")
	sc.send(api.StreamPing, 1, nil)
	if f := sc.next(); f.Type != api.StreamPong {
		t.Fatalf("frame %v, want PONG", f.Type)
	}
	sc.stallInFrame(1000, 10)
	sc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, err := sc.r.Read(); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("a stream stalled in a frame: read %v, %v; want it closed", f.Type, err)
	}
}
