package kafka_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// The groups of Kafka clients, classic and KIP-848, are the coordinator's
// groups and follow --offsets-retention as HTTP groups do: kept with
// their offsets while a member is in, longer than the retention; gone
// with them (GET /groups/{g} 404, Dead to DescribeGroups, not in
// ListGroups, nothing for OffsetFetch) once empty for the retention.
func TestKafkaGroupsFollowOffsetsRetention(t *testing.T) {
	const retention = 2 * time.Second
	p := start(t, "--offsets-retention", retention.String())
	admin := p.client(t)
	createTopic(t, admin, "ret", 1)
	produceN(t, admin, "ret", "r", 5)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"classic", nil},
		{"kip848", []kgo.Opt{kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group := "ret-" + tc.name
			cl := p.client(t, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics("ret"), kgo.DisableAutoCommit(),
				kgo.FetchMaxWait(100 * time.Millisecond)}, tc.opts...)...)
			for seen := 0; seen < 5; {
				fs := cl.PollFetches(ctxT(t))
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				seen += fs.NumRecords()
			}
			if err := cl.CommitUncommittedOffsets(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			// A member in for longer than the retention keeps the group.
			for end := time.Now().Add(retention + time.Second); time.Now().Before(end); {
				ctx, cancel := context.WithTimeout(ctxT(t), 100*time.Millisecond)
				cl.PollFetches(ctx)
				cancel()
			}
			if off, body := committed(t, p, group); off != 5 {
				t.Fatalf("with a member past the retention: committed %d, want 5: %s", off, body)
			}
			cl.Close() // leaves
			testkit.EventuallyNil(t, 10*time.Second, func() error {
				if st, body := httpDo(t, p, "GET", "/groups/"+group, ""); st != http.StatusNotFound {
					return fmt.Errorf("GET /groups/%s: %d %s", group, st, body)
				}
				return nil
			})
			if d := describe(t, admin, group); d.State != "Dead" {
				t.Fatalf("DescribeGroups of the expired group: state %q, want Dead", d.State)
			}
			lg, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctxT(t), admin)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range lg.Groups {
				if g.Group == group {
					t.Fatalf("ListGroups still lists the expired group: %+v", g)
				}
			}
			of := kmsg.NewPtrOffsetFetchRequest()
			of.Group = group
			ofr, err := of.RequestWith(ctxT(t), admin)
			if err != nil {
				t.Fatal(err)
			}
			for _, tp := range ofr.Topics {
				for _, pp := range tp.Partitions {
					if pp.Offset >= 0 {
						t.Fatalf("OffsetFetch of the expired group: %s/%d at %d", tp.Topic, pp.Partition, pp.Offset)
					}
				}
			}
			// A member of the same name starts the group afresh: from the
			// start, its old offsets gone.
			again := p.client(t, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics("ret"), kgo.DisableAutoCommit(),
				kgo.FetchMaxWait(100 * time.Millisecond)}, tc.opts...)...)
			fs := again.PollFetches(ctxT(t))
			if err := fs.Err0(); err != nil || fs.NumRecords() == 0 || fs.Records()[0].Offset != 0 {
				t.Fatalf("a member of the expired group's name: %d records, %v; want from offset 0", fs.NumRecords(), err)
			}
		})
	}
}
