package chaostest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Environment of a Kafka worker process (with envWorkerLog and
// envWorkerGroup): the test binary run again as one kgo member of the group.
const (
	envKafkaWorkerAddr     = "GOQUEUE_CHAOS_KAFKA_ADDR"
	envKafkaWorkerProtocol = "GOQUEUE_CHAOS_KAFKA_PROTOCOL"
)

// The group protocols a Kafka worker speaks.
const (
	protocolClassic  = "classic"  // JoinGroup/SyncGroup, cooperative-sticky assigned by the leader client
	protocolConsumer = "consumer" // KIP-848 ConsumerGroupHeartbeat, assigned by the broker
)

// Timeouts of the Kafka members: short, so that a killed member's
// partitions move on within seconds; the broker is started with the same
// session timeout for KIP-848 members, which do not choose theirs.
const (
	kafkaSession   = 2 * time.Second
	kafkaHeartbeat = 300 * time.Millisecond
	kafkaRebalance = 4 * time.Second
)

// kafkaWorker is a kgo member of the group until SIGTERM, when it closes
// the client (revoke everything, then leave); SIGKILL leaves the broker to
// notice through the session timeout. It commits by hand after every poll
// and holds rebalances off while it does (BlockRebalanceOnPoll), so a
// partition is never given up with records delivered but not committed,
// and every commit is made while the member owns what it commits.
//
// Lines, as worker's with these differences: "G epoch ns" is the
// generation (classic) or member epoch (KIP-848) of the "A" lines that
// follow; "K p offset ns" is a commit of offset (the next to consume) that
// the broker took, "X p offset ns" one it refused. Callbacks run while no
// poll is being processed, so the lines of one member are in order.
func kafkaWorker(addr, logPath, group, protocol string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	log := &eventLog{f: f}
	each := func(kind byte, m map[string][]int32) {
		for _, p := range m[topic] {
			log.add(kind, int64(p))
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			_, epoch := cl.GroupMetadata()
			log.add('G', int64(epoch))
			each('A', m)
		}),
		// Nothing is left to commit here: every poll's records were
		// committed before the rebalance it held off could run.
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { each('R', m) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { each('L', m) }),
	}
	if protocol == protocolConsumer {
		opts = append(opts, kgo.ServerSideBalancer())
	} else {
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.SessionTimeout(kafkaSession), kgo.HeartbeatInterval(kafkaHeartbeat), kgo.RebalanceTimeout(kafkaRebalance))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for ctx.Err() == nil {
		log.add('P')
		fs := cl.PollRecords(ctx, 500)
		next := map[int32]kgo.EpochOffset{}
		fs.EachRecord(func(r *kgo.Record) {
			v, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil || r.Topic != topic {
				v = -1 // not one of ours: the check reports it
			}
			log.add('D', int64(r.Partition), r.Offset, v)
			next[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		})
		if len(next) > 0 {
			commitPolled(cl, log, next)
		}
		cl.AllowRebalance()
	}
	cl.Close()
	log.add('C')
	return 0
}

// commitPolled commits offsets synchronously and logs, per partition, whether
// the broker took it.
func commitPolled(cl *kgo.Client, log *eventLog, next map[int32]kgo.EpochOffset) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: next},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			for p, eo := range next {
				code := int16(-1) // no answer: refused as far as the log knows
				if err == nil {
					code = partitionCode(resp, p)
				}
				kind := byte('K')
				if code != 0 {
					kind = 'X'
				}
				log.add(kind, int64(p), eo.Offset)
			}
		})
}

func partitionCode(resp *kmsg.OffsetCommitResponse, p int32) int16 {
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			if t.Topic == topic && rp.Partition == p {
				return rp.ErrorCode
			}
		}
	}
	return -1
}
