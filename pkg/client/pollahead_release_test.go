package client

import (
	"testing"
)

// TestReleaseDuringAheadDecode: a release while takeAhead decodes an
// answer polled ahead does not see it; the release took back those of its
// partitions' messages, so none of them is handed out after it, neither
// the first ones Poll takes nor those left ahead for the next Poll, also
// when the partition is this member's again. Before, the first ones were
// dropped and the rest were handed out by the next Poll.
func TestReleaseDuringAheadDecode(t *testing.T) {
	c := &Consumer{state: newMemberState(), wake: make(chan struct{}, 1)}
	c.state.session, c.state.joined = c.state.session+1, true // joined once
	k := tp{"t", 0}
	c.state.owned[k] = true
	c.state.aheadRaw = []rawAnswer{{storedAnswer(t, 1, 10), 10}}
	release := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.state.releaseLocked([]tp{k})
		// The release's heartbeat answer gives the partition back.
		delete(c.state.released, k)
		c.state.owned[k] = true
	}
	aheadDecoded.Store(&release)
	first := c.takeAhead(4)
	aheadDecoded.Store(nil)
	rest := c.takeAhead(0)
	if len(first) != 0 || len(rest) != 0 {
		t.Fatalf("handed out %d, then %d messages that the release took back; want none", len(first), len(rest))
	}
}
