// Package client is GoQueue's Go client: a Producer that batches messages
// onto the broker's binary fast path, a Consumer that is one member of a
// consumer group, and a Client for administration (topics, groups, offsets,
// dead letters). All three speak the HTTP API of package api and share one
// transport: every request goes through transport.do, which tries the
// brokers in turn with backoff and turns error bodies into *api.Error values,
// so errors.Is(err, api.ErrTopicNotFound) works on anything returned here.
//
// Blocking calls take a context first and return when it is done. The types
// are safe for concurrent use unless their documentation says otherwise.
// A broker that takes a request and never answers it (a stopped or hung
// process, its connections whole) does not hold a call for ever, even one
// of context.Background: each attempt of a request is bounded by what the
// broker does before it answers (a read 5 s, a group's write, ack, join or
// the consumer stream's upgrade 10 s, a topic's change 15 s, a publish 20 s; a fetch 5 s and a group's
// poll 10 s, plus their wait), after which the request goes to another
// broker, and fails once every broker given has left it so (with one
// broker, a publish fails after 20 s; a request only one node serves, a
// group's, waits out that node's failover first). The consumer's stream fails likewise, its acknowledgements then
// going as requests, when a PONG or the write of a frame (to a broker that
// stopped reading, the socket's buffers full) takes longer than an ack's
// 10 s; a Producer's pipelined requests when the broker leaves them
// unanswered for RequestTimeout, which ends a write to it too. A write so
// cut may have been applied: its error says so, and a publish sent on may
// be stored twice (delivery is at least once).
//
// A Consumer allocates about 250 bytes per message it hands out (the
// Message and the answer its Key and Value alias); a Producer much less.
// An application consuming two million messages a second with a small live
// heap is collected every few milliseconds under GOGC=100, which took half
// of the bench's CPU: give the collector a floor with package
// gcfloor (goqueue bench does, with the broker's 32 MiB), or set GOGC.
package client
