package coordinator

import (
	"sync/atomic"
	"testing"
	"time"
)

// A group whose last member left or expired, holding nothing a restart
// keeps (no offsets, no saved settings), is forgotten then: it stayed
// listed and counted against MaxGroups until a DELETE or a restart. A
// group that committed, or saved settings, is kept.
func TestGroupForgottenWithItsLastMember(t *testing.T) {
	const session = 10 * time.Second
	for _, tc := range []struct {
		name string
		join JoinParams
		// before the member goes
		use  func(t *testing.T, c *Coordinator, jr JoinResult)
		end  string // "leave" or "expire"
		kept bool
	}{
		{name: "left", end: "leave"},
		{name: "expired", end: "expire"},
		{name: "polled, left", end: "leave", use: func(t *testing.T, c *Coordinator, jr JoinResult) {
			if _, err := c.Poll(t.Context(), "g", PollParams{MemberID: jr.MemberID, Generation: jr.Generation}, "h"); err != nil {
				t.Fatal(err)
			}
		}, kept: true}, // the poll stored where the group starts
		{name: "committed, left", end: "leave", use: func(t *testing.T, c *Coordinator, jr JoinResult) {
			if err := c.CommitOffsets("g", CommitParams{MemberID: jr.MemberID, Generation: jr.Generation, Offsets: Offsets{"t": {0: 1}}}, "h"); err != nil {
				t.Fatal(err)
			}
		}, kept: true},
		{name: "settings saved, expired", end: "expire", join: JoinParams{MaxRetries: 3}, kept: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock atomic.Int64
			clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
			c, tb := openTest(t, func() time.Time { return time.Unix(0, clock.Load()) })
			tb.createTopic("t", 1)
			tb.publish("t", 0, []byte("a"), []byte("b"))
			c.syncTopics()
			p := tc.join
			p.Topics, p.SessionTimeout = []string{"t"}, session
			jr, err := c.JoinGroup("g", p, "h")
			if err != nil {
				t.Fatal(err)
			}
			if tc.use != nil {
				tc.use(t, c, jr)
			}
			switch tc.end {
			case "leave":
				if err := c.LeaveGroup("g", jr.MemberID); err != nil {
					t.Fatal(err)
				}
			case "expire":
				clock.Add(int64(session + time.Second))
				c.tick()
				if _, err := c.Heartbeat("g", HeartbeatParams{MemberID: jr.MemberID, Generation: jr.Generation}, "h"); err == nil {
					t.Fatalf("heartbeat after the session timeout: %v, want the member gone", err)
				}
			}
			_, err = c.DescribeGroup("g")
			if kept := err == nil; kept != tc.kept {
				t.Fatalf("after the last member: describe %v, listed %d groups; want kept %v", err, len(c.Groups()), tc.kept)
			}
			if !tc.kept && len(c.Groups()) != 0 {
				t.Fatalf("listed %d groups, want none", len(c.Groups()))
			}
			if jr, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h"); err != nil || (!tc.kept && jr.Generation != 1) {
				t.Fatalf("join again: generation %d, %v", jr.Generation, err)
			}
		})
	}
}

// An empty group whose offsets were all of topics since deleted holds
// nothing a restart keeps, and is forgotten with them, as Kafka forgets an
// Empty group without offsets: it stayed listed and counted against
// MaxGroups until a DELETE or a restart, so that a broker whose groups
// consumed topics created and deleted in turn refused new groups
// (TOO_MANY_GROUPS) for good. One with offsets left is kept.
func TestGroupForgottenWithItsTopics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		deleted []string
		kept    bool
	}{
		{"every topic deleted", []string{"t", "u"}, false},
		{"one topic deleted", []string{"t"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tb := openTest(t, time.Now)
			for _, topic := range []string{"t", "u"} {
				tb.createTopic(topic, 1)
				tb.publish(topic, 0, []byte("a"))
			}
			c.syncTopics()
			jr, err := c.JoinGroup("g", JoinParams{Topics: []string{"t", "u"}}, "h")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CommitOffsets("g", CommitParams{MemberID: jr.MemberID, Generation: jr.Generation, Offsets: Offsets{"t": {0: 1}, "u": {0: 1}}}, "h"); err != nil {
				t.Fatal(err)
			}
			if err := c.LeaveGroup("g", jr.MemberID); err != nil {
				t.Fatal(err)
			}
			for _, topic := range tc.deleted {
				tb.deleteTopic(topic)
			}
			c.syncTopics() // what the timer loop does on a topic change
			_, err = c.DescribeGroup("g")
			if kept := err == nil; kept != tc.kept || len(c.Groups()) != map[bool]int{true: 1}[tc.kept] {
				t.Fatalf("after deleting %v: describe %v, listed %d groups; want kept %v", tc.deleted, err, len(c.Groups()), tc.kept)
			}
		})
	}
}

// A topic change syncing the groups forgets only a group it took offsets
// from: a group just made for its first commit (StoreOffsets, a reset, a
// Kafka commit), unkept until that commit is written, went too, and the
// commit failed GROUP_NOT_FOUND (httpapi's TestGroupRoutesRefuseOtherCoordinators
// failed so, one run in a few, its topic created just before).
func TestTopicSyncKeepsAGroupBeingMade(t *testing.T) {
	c, tb := openTest(t, time.Now)
	tb.createTopic("t", 1)
	c.syncTopics()
	if _, err := c.getOrCreate("g"); err != nil {
		t.Fatal(err)
	}
	c.syncTopics() // the timer loop, between the group's making and its write
	if _, err := c.DescribeGroup("g"); err != nil {
		t.Fatalf("a group being made, after a topic sync: %v", err)
	}
}
