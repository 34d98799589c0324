package api

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"
)

// Kafka's own vectors, from UtilsTest.testMurmur2 in the Java client
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
func TestMurmur2KafkaVectors(t *testing.T) {
	for _, c := range []struct {
		key  string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		if got := int32(murmur2([]byte(c.key))); got != c.want {
			t.Errorf("murmur2(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}

func TestKeyPartitionKnownPlacements(t *testing.T) {
	// toPositive(h) % n with the vectors above, worked by hand:
	// -973932308 & 0x7fffffff = 1173551340; -790332482 & 0x7fffffff = 1357151166.
	for _, c := range []struct {
		key  string
		n    int32
		want int32
	}{
		{"21", 6, 1173551340 % 6},
		{"21", 1, 0},
		{"foobar", 6, 1357151166 % 6},
		{"foobar", 100, 1357151166 % 100},
		{"abc", 7, 479470107 % 7},
	} {
		if got := KeyPartition([]byte(c.key), c.n); got != c.want {
			t.Errorf("KeyPartition(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
}

// A key lands where franz-go's Kafka-compatible partitioner puts it, for any
// key and partition count.
func TestKeyPartitionMatchesKgo(t *testing.T) {
	part := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOf(rapid.Byte()).Draw(t, "key")
		n := rapid.IntRange(1, 10000).Draw(t, "n")
		want := part.Partition(&kgo.Record{Key: key}, n)
		if got := KeyPartition(key, int32(n)); int(got) != want {
			t.Fatalf("KeyPartition(%x, %d) = %d, kgo says %d", key, n, got, want)
		}
	})
}
