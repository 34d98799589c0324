package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

func TestTopicLifecycle(t *testing.T) {
	s := brokertest.Start(t)

	var created api.Topic
	st := s.DoJSON("POST", "/topics", `{"name":"orders","partitions":6,"retention_hours":168}`, &created)
	if st != http.StatusCreated || created.Name != "orders" || created.Partitions != 6 || len(created.PartitionInfo) != 6 {
		t.Fatalf("create: %d %+v", st, created)
	}
	def := broker.DefaultConfig()
	if created.RetentionHours != 168 || created.MaxMessageBytes != def.MaxMessageBytes || created.Fsync != "interval" ||
		created.SegmentBytes != def.SegmentBytes || created.RetentionBytes != -1 || created.CreatedAt == 0 {
		t.Fatalf("create did not resolve defaults: %+v", created)
	}
	createTopic(t, s, "audit", 0) // default partition count

	st, raw := s.Do("POST", "/topics", `{"name":"orders","partitions":2}`)
	wantError(t, st, raw, api.ErrTopicExists)

	var list api.TopicList
	if st := s.DoJSON("GET", "/topics", nil, &list); st != 200 || len(list.Topics) != 2 ||
		list.Topics[0].Name != "audit" || list.Topics[1].Name != "orders" || list.Topics[0].Partitions != def.DefaultPartitions {
		t.Fatalf("list: %d %+v", st, list)
	}

	publish(t, s, "orders", `{"value":"a","partition":5}`)
	d := describe(t, s, "orders")
	if p := d.PartitionInfo[5]; p.Partition != 5 || p.EarliestOffset != 0 || p.HighWatermark != 1 || p.Bytes == 0 || p.Segments != 1 {
		t.Fatalf("describe partition 5: %+v", p)
	}

	var grown api.Topic
	if st := s.DoJSON("POST", "/topics/orders/partitions", `{"count":8}`, &grown); st != 200 || grown.Partitions != 8 || len(grown.PartitionInfo) != 8 {
		t.Fatalf("add partitions: %d %+v", st, grown)
	}
	publish(t, s, "orders", `{"value":"b","partition":7}`)
	for _, count := range []int{8, 3, 0, -1, 2000} {
		st, raw := s.Do("POST", "/topics/orders/partitions", map[string]int{"count": count})
		wantError(t, st, raw, api.ErrInvalidPartitions)
	}
	if d := describe(t, s, "orders"); d.Partitions != 8 || d.PartitionInfo[5].HighWatermark != 1 {
		t.Fatalf("refused changes changed the topic: %+v", d)
	}

	dir := filepath.Join(s.Dir, "topics", "orders")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("partition dirs: %v", err)
	}
	if st, raw := s.Do("DELETE", "/topics/orders", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d %s", st, raw)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("files of a deleted topic remain: %v", err)
	}
	for _, req := range [][2]string{{"GET", "/topics/orders"}, {"DELETE", "/topics/orders"}, {"GET", "/topics/orders/partitions/0/messages"}} {
		st, raw := s.Do(req[0], req[1], nil)
		wantError(t, st, raw, api.ErrTopicNotFound)
	}
	st, raw = s.Do("POST", "/topics/orders/messages", `{"value":1}`)
	wantError(t, st, raw, api.ErrTopicNotFound)

	createTopic(t, s, "orders", 2) // the name is free again, and the topic is new
	if n := totalMessages(t, s, "orders"); n != 0 {
		t.Fatalf("recreated topic holds %d messages", n)
	}
}

func TestCreateTopicRejectsBadInput(t *testing.T) {
	s := brokertest.Start(t)
	for _, c := range []struct {
		name string
		body string
		want *api.Error
	}{
		{"empty name", `{"name":""}`, api.ErrInvalidTopicName},
		{"dot", `{"name":"."}`, api.ErrInvalidTopicName},
		{"dot dot", `{"name":".."}`, api.ErrInvalidTopicName},
		{"slash", `{"name":"a/b"}`, api.ErrInvalidTopicName},
		{"traversal", `{"name":"../../etc"}`, api.ErrInvalidTopicName},
		{"space", `{"name":"my topic"}`, api.ErrInvalidTopicName},
		{"too long", `{"name":"` + strings.Repeat("x", 250) + `"}`, api.ErrInvalidTopicName},
		{"Kafka's offsets topic", `{"name":"__consumer_offsets"}`, api.ErrInvalidTopicName},
		{"Kafka's metadata log", `{"name":"__cluster_metadata"}`, api.ErrInvalidTopicName},
		{"negative partitions", `{"name":"t","partitions":-1}`, api.ErrInvalidPartitions},
		{"too many partitions", `{"name":"t","partitions":100000}`, api.ErrInvalidPartitions},
		{"bad fsync", `{"name":"t","fsync":"sometimes"}`, api.ErrInvalidArgument},
		{"bad retention", `{"name":"t","retention_hours":-2}`, api.ErrInvalidArgument},
		{"retention past a century", `{"name":"t","retention_hours":9000000000000}`, api.ErrInvalidArgument},
		{"segment age past a century", `{"name":"t","segment_ms":9000000000000000}`, api.ErrInvalidArgument},
		{"tiny segments", `{"name":"t","segment_bytes":10}`, api.ErrInvalidArgument},
		{"segment per append", `{"name":"t","segment_ms":1}`, api.ErrInvalidArgument},
		{"segment age under a minute", `{"name":"t","segment_ms":59999}`, api.ErrInvalidArgument},
		{"negative segment age", `{"name":"t","segment_ms":-1}`, api.ErrInvalidArgument},
		{"huge messages", `{"name":"t","max_message_bytes":1000000000}`, api.ErrInvalidArgument},
		{"wrong type", `{"name":"t","partitions":"six"}`, api.ErrInvalidArgument},
		{"unknown field", `{"name":"t","partitons":6}`, api.ErrBadRequest},
		{"malformed", `{"name":"t"`, api.ErrBadRequest},
		{"empty body", ``, api.ErrBadRequest},
		{"not json", `name=t`, api.ErrBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, raw := s.Do("POST", "/topics", c.body)
			wantError(t, st, raw, c.want)
		})
	}
	var list api.TopicList
	s.DoJSON("GET", "/topics", nil, &list)
	entries, _ := os.ReadDir(filepath.Join(s.Dir, "topics"))
	if len(list.Topics) != 0 || len(entries) != 0 {
		t.Fatalf("refused creations left topics %v and files %v", list.Topics, entries)
	}
	// A bad name in the path is refused as such.
	st, raw := s.Do("GET", "/topics/bad*name", nil)
	wantError(t, st, raw, api.ErrInvalidTopicName)
}

// TestKafkaInternalNameOfAnOldTopic: a topic named as Kafka's internal
// topics, which a creation now refuses, created before that rule (here
// through the broker, which does not check it) can still be read, altered
// and deleted.
func TestKafkaInternalNameOfAnOldTopic(t *testing.T) {
	s := brokertest.Start(t)
	if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "__consumer_offsets", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/topics/__consumer_offsets/messages", `{"value":"v"}`, http.StatusOK},
		{"GET", "/topics/__consumer_offsets", "", http.StatusOK},
		{"PATCH", "/topics/__consumer_offsets", `{"retention_hours":48}`, http.StatusOK},
		{"DELETE", "/topics/__consumer_offsets", "", http.StatusNoContent},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		if st, raw := s.Do(c.method, c.path, body); st != c.want {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, st, raw, c.want)
		}
	}
}

func TestTopicsSurviveRestart(t *testing.T) {
	s := brokertest.Start(t)
	s.Do("POST", "/topics", `{"name":"orders","partitions":2,"retention_hours":-1,"fsync":"always","segment_bytes":65536}`)
	createTopic(t, s, "gone", 1)
	s.Do("POST", "/topics/orders/partitions", `{"count":4}`)
	s.Do("DELETE", "/topics/gone", nil)
	before := describe(t, s, "orders")

	s.Restart()
	after := describe(t, s, "orders")
	if after.Partitions != 4 || after.RetentionHours != -1 || after.Fsync != "always" || after.SegmentBytes != 65536 || after.CreatedAt != before.CreatedAt {
		t.Fatalf("after restart: %+v, before: %+v", after, before)
	}
	st, raw := s.Do("GET", "/topics/gone", nil)
	wantError(t, st, raw, api.ErrTopicNotFound)
}

// A setting sent as null goes back to the broker's default; a setting left
// out stays. The body is checked as strictly as any other.
func TestAlterTopicBackToDefault(t *testing.T) {
	s := brokertest.Start(t, brokertest.WithConfig(func(c *broker.Config) { c.RetentionBytes = 5 << 20 }))
	def := broker.DefaultConfig()
	if st, raw := s.Do("POST", "/topics", `{"name":"orders","partitions":1,"retention_hours":48,"retention_bytes":10485760,"max_message_bytes":2097152}`); st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, raw)
	}
	for _, c := range []struct {
		body   string
		hours  int64
		bytes  int64
		maxMsg int32
	}{
		{`{"retention_bytes":null}`, 48, 5 << 20, 2 << 20},
		{`{"retention_hours":null,"max_message_bytes":4096}`, def.RetentionHours, 5 << 20, 4096},
		{`{"retention_hours":1,"Max_Message_Bytes":null}`, 1, 5 << 20, def.MaxMessageBytes},
		{`{"retention_bytes":-1}`, 1, -1, def.MaxMessageBytes},
	} {
		var got api.Topic
		if st := s.DoJSON("PATCH", "/topics/orders", c.body, &got); st != http.StatusOK {
			t.Fatalf("PATCH %s: %d", c.body, st)
		}
		if got.RetentionHours != c.hours || got.RetentionBytes != c.bytes || got.MaxMessageBytes != c.maxMsg {
			t.Errorf("PATCH %s: retention %dh, %d bytes, max message %d; want %dh, %d bytes, %d",
				c.body, got.RetentionHours, got.RetentionBytes, got.MaxMessageBytes, c.hours, c.bytes, c.maxMsg)
		}
	}
	for body, want := range map[string]*api.Error{
		`{"retention_byte":null}`:    api.ErrBadRequest,
		`{"retention_bytes":"5MiB"}`: api.ErrInvalidArgument,
		`{}`:                         api.ErrInvalidArgument,
		`{"partitions":null}`:        api.ErrInvalidArgument, // a count has no default to go back to
	} {
		st, raw := s.Do("PATCH", "/topics/orders", body)
		if e := wantError(t, st, raw, want); want == api.ErrBadRequest && e.Details["field"] != "retention_byte" {
			t.Errorf("PATCH %s: %s", body, raw)
		}
	}
}
