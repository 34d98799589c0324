// Package testkit is for tests only: it waits for a condition with a
// deadline (Eventually, EventuallyNil, Within) and runs the real goqueue
// binary as a child process (Binary, Start, Proc), makes a throwaway
// certificate authority for TLS tests (PKI), writes requests byte for
// byte (RequestHead, SendRaw), seeds fuzz targets with damaged copies of
// real encodings (AddDamaged) and cuts file writes short as a full disk
// does (WithFileSizeLimit), and replays golden transcripts (Transcripts).
// It owns no broker state; internal/brokertest, which starts a broker
// inside the test process, is the other way to get a server.
package testkit
