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
//
// A Consumer allocates about 250 bytes per message it hands out (the
// Message and the answer its Key and Value alias); a Producer much less.
// An application consuming two million messages a second with a small live
// heap is collected every few milliseconds under GOGC=100, which took half
// of the bench's CPU: give the collector a floor with package
// gcfloor (goqueue bench does, with the broker's 32 MiB), or set GOGC.
package client
