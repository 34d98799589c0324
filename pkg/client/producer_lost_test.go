package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// A Producer's keyless records leave out a partition that can never have
// a leader again (partition info's lost, PARTITION_LOST), as Kafka
// clients leave out one with no leader: known from the start, none goes
// there; learned from a refused batch, the records after it do not go
// there either (the topic is asked again). They used to take their turn
// there, and each one that did failed.
func TestKeylessRecordsAvoidALostPartition(t *testing.T) {
	const topic, parts, lost, n = "lost", 3, 1, 30
	for _, c := range []struct {
		name  string
		known bool // partition info says lost from the start
	}{{"known from partition info", true}, {"learned from an answer", false}} {
		t.Run(c.name, func(t *testing.T) {
			srv, _, rp, _ := brokerBehindProxy(t, topic, parts)
			var told atomic.Bool
			told.Store(c.known)
			var refused atomic.Int64
			node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/topics/"+topic:
					resp, err := http.Get(srv.URL + r.URL.Path)
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadGateway)
						return
					}
					var tp api.Topic
					err = json.NewDecoder(resp.Body).Decode(&tp)
					resp.Body.Close()
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadGateway)
						return
					}
					if told.Load() {
						tp.PartitionInfo[lost].Lost, tp.PartitionInfo[lost].LostReplicas = true, []uint64{2}
					}
					w.Header().Set("Content-Type", "application/json")
					json.NewEncoder(w).Encode(tp)
				case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/batches"):
					body, _ := io.ReadAll(r.Body)
					if len(body) >= 4 && binary.BigEndian.Uint32(body) == lost {
						told.Store(true)
						refused.Add(1)
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusGone)
						fmt.Fprintf(w, `{"error":{"code":"PARTITION_LOST","message":"partition %s/%d is lost","details":{"partition":%d,"lost_replicas":[2]}}}`, topic, lost, lost)
						return
					}
					r.Body = io.NopCloser(bytes.NewReader(body))
					rp.ServeHTTP(w, r)
				default:
					rp.ServeHTTP(w, r)
				}
			}))
			defer node.Close()
			p, err := NewProducer(&ProducerConfig{Brokers: []string{node.URL}, NoStream: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			failed := 0
			for i := range n {
				pos, err := p.Publish(context.Background(), topic, &Record{Value: []byte(fmt.Sprint(i))})
				var ae *api.Error
				switch {
				case err == nil && pos.Partition != lost:
				case errors.As(err, &ae) && ae.Code == api.ErrPartitionLost.Code && !c.known && failed == 0:
					failed++
				default:
					t.Fatalf("record %d: %+v %v (%d failed before)", i, pos, err, failed)
				}
			}
			if c.known && refused.Load() != 0 || !c.known && refused.Load() != 1 {
				t.Fatalf("%d batches refused PARTITION_LOST", refused.Load())
			}
		})
	}
}
