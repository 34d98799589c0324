package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Calls are request/answer exchanges between nodes beside the Raft stream:
// what a node must ask of another, such as a proposal for the group it does
// not lead (multiraft never forwards proposals). Each call has a connection
// of its own, so a slow answer never holds up Raft's messages; calls are
// rare (metadata changes), so the dial is cheap enough.

// ErrCallRefused is a call the fault hook cut or the peer did not take.
var ErrCallRefused = errors.New("transport: call refused")

// ErrPeerBusy is a call the peer refused unread because the calls it
// holds are at their bound (Config.CallBytes): it was not handled; a
// retry may be.
var ErrPeerBusy = fmt.Errorf("%w: the peer holds as many calls as it may", ErrCallRefused)

// ErrNoAnswer is a call whose request was sent whole but whose answer did
// not come (the peer failed or was cut off, or ctx ended first): the peer
// may have handled it. Every other error of Call is a request the peer
// never had whole, so never handled.
var ErrNoAnswer = errors.New("transport: no answer")

// MaxCall is the most bytes a call's request, and its answer, may hold.
const MaxCall = 16 << 20

// DefaultCallBytes is Config.CallBytes's default: the inbound calls'
// requests a node holds at once. Calls are small but for a group's
// request passed on to its coordinator (up to 1 MiB of body): 24
// concurrent ones of 11 MiB (before their bound) took a coordinator to
// 1.08 GB, each held raw, decoded and copied into the handler's request.
const DefaultCallBytes = 32 << 20

// busyAnswer is the size word of the answer to a call refused because
// Config.CallBytes was spent: no answer is so large (MaxCall), and a node
// from before it reads it as a broken answer, not as a success.
const busyAnswer = 0xFFFFFFFF

// callMinRate is the least rate, in bytes a second, at which a call's
// request must arrive once its size is read: it has DialTimeout and its
// size at this rate (MaxCall: 17 s with the default). The handshake's
// DialTimeout alone bounded it, which calls of a few hundred bytes kept
// to, but a group's write passed on to its coordinator carries up to
// 12 MiB: on a loaded node or a slow link it took longer, was cut, and
// its caller was told the answer did not come (the write may have been
// applied), the coordinator marked as leaving calls unanswered.
const callMinRate = 1 << 20

// Call sends req to node to and returns its Handle's answer. ctx bounds the
// whole exchange; when it ends after the request went out, the request may
// still be handled (ErrNoAnswer says so). A request over MaxCall is not
// sent.
func (t *Transport) Call(ctx context.Context, to uint64, req []byte) ([]byte, error) {
	p, ok := t.peers[to]
	if !ok {
		return nil, fmt.Errorf("%w: no node %d", ErrCallRefused, to)
	}
	if !t.allowed(t.cfg.NodeID, to) || !t.allowed(to, t.cfg.NodeID) {
		return nil, fmt.Errorf("%w: node %d cut off", ErrCallRefused, to)
	}
	if len(req) > MaxCall {
		return nil, fmt.Errorf("transport: a call of %d bytes, over %d, to node %d", len(req), MaxCall, to)
	}
	c, err := t.dial(ctx, p)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(appendBlob(appendGreeting(nil, callMagic, t.cfg.NodeID), req)); err != nil {
		return nil, err
	}
	ans, err := readBlob(c)
	if errors.Is(err, errBusy) {
		return nil, fmt.Errorf("%w: node %d", ErrPeerBusy, to)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w from node %d: %w", ErrNoAnswer, to, ctx.Err())
		}
		return nil, fmt.Errorf("%w from node %d: %w", ErrNoAnswer, to, err)
	}
	return ans, nil
}

// answer serves one inbound call on c (its greeting read) and closes c.
// The handler's context ends when the caller closes c (it gave up: its
// ctx ended), as an HTTP request's does when its client goes: a long
// poll passed on to a group's coordinator then hands back what it took
// rather than answer no one, which kept the messages in flight for a
// visibility timeout.
func (t *Transport) answer(ctx context.Context, from uint64, c net.Conn) {
	defer c.Close()
	if t.cfg.Handle == nil || !t.allowed(from, t.cfg.NodeID) {
		return
	}
	var size, charged int64
	req, err := readSizedBlob(c, func(n int) error {
		c.SetReadDeadline(time.Now().Add(t.cfg.DialTimeout + time.Duration(n)*time.Second/callMinRate))
		size = int64(n)
		if !t.calls.Take(size) {
			return errBusy
		}
		charged = size
		return nil
	})
	defer func() { t.calls.Give(charged) }() // after the handler: it holds req, and what it decoded of it
	if errors.Is(err, errBusy) {
		// Read through, so that the caller, which sends its request
		// whole before it reads, gets the refusal rather than a reset.
		if _, err := io.CopyN(io.Discard, c, size); err == nil {
			c.SetWriteDeadline(time.Now().Add(t.cfg.DialTimeout))
			c.Write(binary.BigEndian.AppendUint32(nil, busyAnswer))
		}
		return
	}
	if err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	hctx, cancel := context.WithCancel(ctx)
	var gone sync.WaitGroup
	gone.Go(func() {
		// The caller sends nothing after its request: a read ends only
		// when it closes c, or when c is closed below.
		var b [1]byte
		c.Read(b[:])
		cancel()
	})
	defer func() {
		c.Close()
		gone.Wait()
		cancel()
	}()
	ans := t.cfg.Handle(hctx, from, req)
	if !t.allowed(t.cfg.NodeID, from) {
		return
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(appendBlob(nil, ans))
}
