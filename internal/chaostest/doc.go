// Package chaostest runs a consumer group of real worker processes against
// the real goqueue binary while a producer publishes, and makes members
// join, leave gracefully (Close) and die by SIGKILL at random, under the
// cooperative-sticky and the eager range assignors. From what each worker
// logged (assignments, revocations, losses, deliveries and acks, with
// timestamps) it proves that every message was delivered and acknowledged,
// that no partition ever had two live owners at once, and that every
// duplicate delivery is of a message that was in flight at a member that
// was killed, lost, or had the partition revoked before acknowledging it.
//
// The same churn runs kgo members over the Kafka listener, in a classic
// group (cooperative-sticky, assigned by the leader client) and in a
// KIP-848 group (assigned by the broker), while an idempotent kgo producer
// produces. Each worker commits after every poll; the test reads the
// group's committed offsets from the broker every 20 ms. It proves that
// every acknowledged message was delivered from the partition and offset
// its produce was answered with, that no partition had two owners at once,
// that the broker took commits only from the partition's owner, and that
// committed offsets never went backwards.
//
// The package is tests only; it owns no broker state. Run the short version
// (about 50,000 messages, a dozen membership changes per assignor) with
//
//	go test -race ./internal/chaostest/
//
// and the long one (1,000,000 messages per assignor) with -chaos.long or
// GOQUEUE_CHAOS_LONG=1; -chaos.seed replays a run's schedule of joins,
// leaves and kills (the seed is logged).
package chaostest
