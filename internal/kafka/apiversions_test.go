package kafka_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsOf asks the broker at addr for its versions, at ApiVersions
// v3 as librdkafka asks.
func apiVersionsOf(t *testing.T, addr string) map[kmsg.Key]kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "librdkafka", "1.7.0"
	c.Write(frameOf(1, req))
	_, body := readAnswer(t, c)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	out := make(map[kmsg.Key]kmsg.ApiVersionsResponseApiKey)
	for _, k := range resp.ApiKeys {
		out[kmsg.Key(k.ApiKey)] = k
	}
	return out
}

// Produce is listed from v0, as Kafka 4 lists it (KAFKA-18659), though a
// Produce below v3 still closes its connection: librdkafka (kcat,
// confluent-kafka) compresses with gzip, snappy or lz4 only for a broker
// that lists Produce v0, and sent such batches uncompressed, saying
// nothing, to a broker that lists v3 first.
func TestApiVersionsListProduceFromV0(t *testing.T) {
	p := start(t)
	if got := apiVersionsOf(t, p.Kafka)[kmsg.Produce]; got.MinVersion != 0 || got.MaxVersion < 3 {
		t.Fatalf("Produce listed %d..%d, want from 0", got.MinVersion, got.MaxVersion)
	}
	c, err := net.Dial("tcp", p.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := produceTo("t", []int32{0}, func(int32) []byte { return nil })
	req.Version = 2
	c.Write(frameOf(1, req))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want Produce v2's connection closed", n, err)
	}
}
