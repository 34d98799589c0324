package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Calls are request/answer exchanges between nodes beside the Raft stream:
// what a node must ask of another, such as a proposal for the group it does
// not lead (multiraft never forwards proposals). Each call has a connection
// of its own, so a slow answer never holds up Raft's messages; calls are
// rare (metadata changes), so the dial is cheap enough.

// ErrCallRefused is a call the fault hook cut or the peer did not take.
var ErrCallRefused = errors.New("transport: call refused")

// Call sends req to node to and returns its Handle's answer. ctx bounds the
// whole exchange; when it ends first, the request may still be handled.
func (t *Transport) Call(ctx context.Context, to uint64, req []byte) ([]byte, error) {
	p, ok := t.peers[to]
	if !ok {
		return nil, fmt.Errorf("%w: no node %d", ErrCallRefused, to)
	}
	if !t.allowed(t.cfg.NodeID, to) || !t.allowed(to, t.cfg.NodeID) {
		return nil, fmt.Errorf("%w: node %d cut off", ErrCallRefused, to)
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
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("transport: call to node %d: %w", to, err)
	}
	return ans, nil
}

// answer serves one inbound call on c (its greeting read) and closes c.
func (t *Transport) answer(ctx context.Context, from uint64, c net.Conn) {
	defer c.Close()
	if t.cfg.Handle == nil || !t.allowed(from, t.cfg.NodeID) {
		return
	}
	req, err := readBlob(c)
	if err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	ans := t.cfg.Handle(ctx, from, req)
	if !t.allowed(t.cfg.NodeID, from) {
		return
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(appendBlob(nil, ans))
}
