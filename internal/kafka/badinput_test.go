package kafka_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// rawFrame is a request frame: size, key, version, correlation 1, client
// ID "t", then body.
func rawFrame(key, version int16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, 0, 1, 't')
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// Malformed frames, unknown keys and versions, oversize frames: the
// connection is closed (or, for ApiVersions, answered in v0), the broker
// never panics and goes on serving other clients.
func TestBadInputClosesTheConnection(t *testing.T) {
	p := start(t, "--kafka-max-request-bytes", "1MiB")
	closes := map[string][]byte{
		"garbage":                {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8},
		"negative size":          {0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0},
		"oversize frame":         binary.BigEndian.AppendUint32(nil, 2<<20),
		"unknown key":            rawFrame(999, 0, nil),
		"metadata v99":           rawFrame(int16(kmsg.Metadata), 99, nil),
		"truncated produce body": rawFrame(int16(kmsg.Produce), 7, []byte{0, 0, 0xff}),
		"client id past the end": {0, 0, 0, 10, 0, 3, 0, 4, 0, 0, 0, 1, 0x7f, 0xff},
	}
	for name, b := range closes {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", p.Kafka)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(b)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
				t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
			}
		})
	}
	t.Run("ApiVersions v99 answered in v0", func(t *testing.T) {
		c, err := net.Dial("tcp", p.Kafka)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(rawFrame(int16(kmsg.ApiVersions), 99, nil))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		if err := resp.ReadFrom(body[4:]); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
			t.Fatalf("answer %+v", resp)
		}
	})
	// Everyone else is still served.
	cl := p.client(t, kgo.DefaultProduceTopic("after"))
	createTopic(t, cl, "after", 1)
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Before SASL authentication a request may be at most 512 KiB (Kafka's
// sasl.server.max.receive.size): a client no key admits cannot make the
// broker hold more. The connection of a larger one closes at once; the
// broker used to wait for its bytes, having allocated them all.
func TestUnauthenticatedRequestsAreSmall(t *testing.T) {
	const key = "0123456789abcdef-kafka"
	p := start(t, "--api-keys", key)
	c, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(binary.BigEndian.AppendUint32(nil, 1<<20))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
	// An authenticated client's large requests are still taken.
	good := p.client(t, kgo.SASL(plainMech{user: "any", pass: key}), kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(2<<20))
	createTopic(t, good, "big", 1)
	if err := good.ProduceSync(ctxT(t), &kgo.Record{Value: bytes.Repeat([]byte("x"), 1<<20)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Connections not yet authenticated have a budget of their own: before
// it, three of them each holding half a request of 500 KiB spent the
// whole budget of a broker limited to 1 MiB, and an authenticated
// client's produce closed its connection, for as long as they stayed.
func TestUnauthenticatedBytesHaveTheirOwnBudget(t *testing.T) {
	const key = "0123456789abcdef-kafka"
	p := start(t, "--api-keys", key, "--kafka-max-request-bytes", "1MiB", "--kafka-max-decoding-bytes", "1MiB")
	for range 3 {
		c, err := net.Dial("tcp", p.Kafka)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(binary.BigEndian.AppendUint32(nil, 500<<10))
		c.Write(make([]byte, 300<<10))
	}
	good := p.client(t, kgo.SASL(plainMech{user: "any", pass: key}), kgo.DefaultProduceTopic("own"), kgo.ProducerBatchMaxBytes(1<<20))
	createTopic(t, good, "own", 1)
	if err := good.ProduceSync(ctxT(t), &kgo.Record{Value: bytes.Repeat([]byte("x"), 600<<10)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// The bytes of request frames held at once over every connection are
// bounded (--kafka-max-decoding-bytes): while one connection holds the
// whole budget with a frame it is still sending, another's frame closes
// its connection at once, and once the first is done the budget serves
// again.
func TestRequestBytesHeldAreBounded(t *testing.T) {
	p := start(t, "--kafka-max-request-bytes", "1MiB", "--kafka-max-decoding-bytes", "1MiB")
	var hog net.Conn
	sendHog := func() {
		var err error
		if hog, err = net.Dial("tcp", p.Kafka); err != nil {
			t.Fatal(err)
		}
		// 1 MiB announced, 300 KiB sent: the reader has grown its buffer
		// to the whole frame, charging all of it.
		hog.Write(binary.BigEndian.AppendUint32(nil, 1<<20))
		hog.Write(make([]byte, 300<<10))
	}
	sendHog()
	defer func() { hog.Close() }()
	testkit.Eventually(t, 10*time.Second, func() bool {
		if errors.Is(askVersions(p.Kafka), io.EOF) {
			return true
		}
		// On a loaded machine the broker may read the probe's frame
		// before the hog's, which then finds the budget short and is
		// closed itself: send it again.
		if closed(hog) {
			hog.Close()
			sendHog()
		}
		return false
	}, "a request while the budget is held to close its connection")
	hog.Close()
	// Once the broker has seen the hog go (and given its bytes back), a
	// request is answered again.
	testkit.Eventually(t, 10*time.Second, func() bool { return askVersions(p.Kafka) == nil },
		"a request to be answered once the budget is free")
	cl := p.client(t, kgo.DefaultProduceTopic("after-budget"))
	createTopic(t, cl, "after-budget", 1)
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// closed reports whether the broker closed c (c sends and reads
// nothing else).
func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// askVersions sends ApiVersions on a new connection to addr: nil once an
// answer starts, io.EOF if the broker closed the connection instead.
func askVersions(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.Write(rawFrame(int16(kmsg.ApiVersions), 0, nil))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = io.ReadFull(c, make([]byte, 4))
	return err
}

// An idle connection is closed after --kafka-idle-timeout.
func TestIdleConnectionClosed(t *testing.T) {
	p := start(t, "--kafka-idle-timeout", "300ms")
	c, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
}

// With API keys set, SASL PLAIN with a key as password is required before
// anything else; a wrong key is refused.
func TestSASLPlainChecksAPIKeys(t *testing.T) {
	const key = "0123456789abcdef-kafka"
	p := start(t, "--api-keys", key)
	good := p.client(t, kgo.SASL(plainMech{user: "any", pass: key}), kgo.DefaultProduceTopic("secure"))
	createTopic(t, good, "secure", 1)
	if err := good.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	bad := p.client(t, kgo.SASL(plainMech{user: "any", pass: "wrong-key-wrong-key"}), kgo.RetryTimeout(time.Second))
	if err := bad.Ping(ctxT(t)); err == nil {
		t.Fatal("a wrong key was accepted")
	}
	none := p.client(t, kgo.RetryTimeout(time.Second))
	req := kmsg.NewPtrMetadataRequest()
	if _, err := req.RequestWith(ctxT(t), none); err == nil {
		t.Fatal("metadata without SASL was answered")
	}
}

// A scoped API key does not authenticate over Kafka, whose listener checks
// no scopes: neither its key nor its whole entry, which the listener took
// for the password, giving the key's holder full access. Its full-access
// keys do.
func TestSASLPlainRefusesScopedKeys(t *testing.T) {
	const full, scoped = "0123456789abcdef-full", "0123456789abcdef-scoped"
	p := start(t, "--api-keys", full+","+scoped+":produce=orders")
	for _, pass := range []string{scoped, scoped + ":produce=orders"} {
		cl := p.client(t, kgo.SASL(plainMech{user: "any", pass: pass}), kgo.RetryTimeout(time.Second))
		if err := cl.Ping(ctxT(t)); err == nil {
			t.Fatalf("password %q (a scoped key) was accepted", pass)
		}
	}
	cl := p.client(t, kgo.SASL(plainMech{user: "any", pass: full}))
	if err := cl.Ping(ctxT(t)); err != nil {
		t.Fatalf("the full-access key: %v", err)
	}
}
