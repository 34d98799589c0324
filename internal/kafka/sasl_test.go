package kafka_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake v0 is listed and served as Kafka serves it (KIP-43): the
// PLAIN token follows in a frame of its own, no request header and no
// SaslAuthenticate around it, and success is an empty token in a frame of
// its own. librdkafka (confluent-kafka, kcat) authenticates with no broker
// whose SaslHandshake versions leave out v0, though it then sends v1;
// sarama with Net.SASL.Version 0 and kafka-python 2.0.2 send v0. A wrong
// key closes the connection, the only answer this exchange has for it.
func TestSASLHandshakeV0(t *testing.T) {
	const key = "0123456789abcdef-kafka"
	p := start(t, "--api-keys", key)
	if got := apiVersionsOf(t, p.Kafka)[kmsg.SASLHandshake]; got.MinVersion != 0 || got.MaxVersion != 1 {
		t.Fatalf("SaslHandshake listed %d..%d, want 0..1", got.MinVersion, got.MaxVersion)
	}
	bare := func(c net.Conn, pass string) {
		t.Helper()
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, "PLAIN"
		c.Write(frameOf(1, hs))
		_, body := readAnswer(t, c)
		resp := hs.ResponseKind().(*kmsg.SASLHandshakeResponse)
		if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("handshake v0: %+v, %v", resp, err)
		}
		token := []byte("\x00user\x00" + pass)
		c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...))
	}

	c, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bare(c, key)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
		t.Fatalf("after the token: % x, %v; want an empty token", size, err)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 4
	c.Write(frameOf(2, md))
	if corr, _ := readAnswer(t, c); corr != 2 {
		t.Fatalf("answer to %d, want the metadata request's (2)", corr)
	}

	wrong, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	bare(wrong, "wrong-key-wrong-key")
	wrong.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := wrong.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want a wrong key's connection closed", n, err)
	}
}
