package coordinator

import (
	"errors"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// A group speaks one protocol at a time: its aggregate decides which (see
// internal/groupstate's protocol.go). Classic Kafka groups are run by the
// Kafka front end, which holds the group here while it has members.

// Group protocols of the coordinator's members, as saved with a group's
// settings.
const (
	ProtocolHTTP     = groupstate.ProtocolHTTP     // GoQueue's HTTP API
	ProtocolConsumer = groupstate.ProtocolConsumer // Kafka's KIP-848 ConsumerGroupHeartbeat
)

// JoinConsumerGroup joins a member speaking Kafka's KIP-848 protocol: as
// JoinGroup, but into a group of such members only, and a topic that does
// not exist yet is no error: its partitions are assigned once it is
// created.
func (c *Coordinator) JoinConsumerGroup(groupID string, p JoinParams, host string) (JoinResult, error) {
	return c.joinAs(groupID, p, host, ProtocolConsumer)
}

// SubscribeConsumerGroup changes what a KIP-848 member subscribes to, in
// place: a heartbeat naming new SubscribedTopicNames (topics) or a new
// SubscribedTopicRegex (regex: every topic it matches in full, now and as
// topics come and go; see JoinParams.TopicRegex). The group rebalances
// and the member's next heartbeat answers its new assignment; topics that
// do not exist yet are assigned once created. The generation is checked as
// Heartbeat checks it. Errors: those of Heartbeat, INVALID_ARGUMENT (no
// topic, an empty name, topics and a regex, a regex that does not
// compile).
func (c *Coordinator) SubscribeConsumerGroup(groupID, memberID string, generation int64, topics []string, regex string) error {
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	view := c.topicView(nil)
	cg.mu.Lock()
	fx, err := cg.a.Subscribe(c.now(), memberID, generation, topics, regex, view)
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if perr := c.perform(cg, p); perr != nil {
		c.log.Error("persist offsets of a subscription", "group", cg.id, "err", perr)
	}
	if err != nil {
		return err
	}
	c.wake()
	return nil
}

// HoldClassicGroup marks groupID, creating it if need be, as run by classic
// Kafka members (JoinGroup/SyncGroup), which another front end
// coordinates: joins of HTTP and KIP-848 members are refused, and so is its
// deletion, until ReleaseClassicGroup. It returns the group's generation,
// which the classic members' generations go on from (see RecordRebalance),
// and the hold's token for SaveClassicMembers (each hold has its own).
// A group with members of the broker's coordinator is refused with
// INCONSISTENT_GROUP_PROTOCOL. Errors also: INVALID_ARGUMENT (group ID),
// TOO_MANY_GROUPS.
func (c *Coordinator) HoldClassicGroup(groupID string) (ClassicHold, error) {
	if err := c.checkID(groupID); err != nil {
		return ClassicHold{}, err
	}
	for {
		cg, err := c.getOrCreate(groupID)
		if err != nil {
			return ClassicHold{}, err
		}
		cg.mu.Lock()
		var h ClassicHold
		err, h.Generation = cg.a.HoldClassic(), cg.a.Generation()
		if err == nil {
			h.Token = c.holds.Add(1)
			cg.classicHold = h.Token
		}
		cg.mu.Unlock()
		if errors.Is(err, api.ErrGroupNotFound) {
			continue // deleted between getOrCreate and the lock: create it again
		}
		return h, err
	}
}

// ReleaseClassicGroup ends HoldClassicGroup: the group's last classic
// member left.
func (c *Coordinator) ReleaseClassicGroup(groupID string) {
	if cg, err := c.lookup(groupID); err == nil {
		cg.mu.Lock()
		cg.a.ReleaseClassic()
		cg.classicHold = 0
		cg.active = c.now() // its classic members left now (groupexpiry.go)
		cg.mu.Unlock()
	}
}

// ForgetBlankGroup forgets groupID if it is blank (groupstate.Group.Blank):
// it was made for joins that added no member (refused, or answered
// MEMBER_ID_REQUIRED by the Kafka front end, whose member IDs have
// expired). Kept,
// each such group was listed and counted against MaxGroups for good, as
// Kafka keeps no Empty group without offsets.
func (c *Coordinator) ForgetBlankGroup(groupID string) {
	c.forgetIf(groupID, (*groupstate.Group).Blank)
}

// forgetUnkeptGroup forgets groupID if it is unkept
// (groupstate.Group.Unkept): its last member left or expired, and it holds
// nothing a restart would keep. Kept, it was listed and counted against
// MaxGroups until a DELETE or a restart, as Kafka keeps no Empty group
// without offsets; its generation and rebalance history go with it, as
// they go on a restart.
func (c *Coordinator) forgetUnkeptGroup(cg *cgroup) {
	c.forgetIf(cg.id, (*groupstate.Group).Unkept)
}

// forgetIf forgets groupID if forgettable says so of it, with no write of its
// own in progress.
func (c *Coordinator) forgetIf(groupID string, forgettable func(*groupstate.Group) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cg := c.groups[groupID]
	if cg == nil {
		return
	}
	if !cg.saveMu.TryLock() {
		return // a join is saving its settings: the group will not be blank
	}
	defer cg.saveMu.Unlock()
	cg.mu.Lock()
	// Deleted, so that a join or hold between its getOrCreate and its
	// command finds GROUP_NOT_FOUND and creates the group again.
	forget := forgettable(cg.a) && len(cg.unwritten) == 0 && cg.rewriting == 0 && cg.a.Delete() == nil
	cg.mu.Unlock()
	if forget {
		c.dropLocked(groupID, cg)
	}
}

// ClassicHeld reports whether HoldClassicGroup holds groupID now. A front
// end that took the hold and finds it gone lost the group meanwhile (in a
// cluster: the group moved to another node, and perhaps back, and this
// node's coordinator holds a group restored afresh): its members are no
// longer the group's, and their commits are refused.
func (c *Coordinator) ClassicHeld(groupID string) bool {
	cg, err := c.lookup(groupID)
	if err != nil {
		return false
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.a.HeldClassic()
}

// GroupProtocol is the protocol of a group of the coordinator: the
// protocol of the join that created it, kept while it is empty and across
// restarts. Errors: GROUP_NOT_FOUND.
func (c *Coordinator) GroupProtocol(groupID string) (string, error) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return "", err
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.a.Protocol(), nil
}

// StoreOffsets sets a group's committed offsets as another front end's
// members committed them (Kafka's OffsetCommit), creating the group if
// need be, with the metadata committed with them (nil: none). They are
// the same offsets HTTP members commit: GET /groups/{id}, lag metrics and
// the CLI show them. member says whether the commit names a member of the
// group's classic Kafka members (checked by the front end; checked again
// here against the group's hold: UNKNOWN_MEMBER_ID if it has ended, or
// for a commit without member if one was taken since). A group with
// members of its own (HTTP or KIP-848) is refused with
// INCONSISTENT_GROUP_PROTOCOL. It answers partition by partition, as
// Kafka does: an offset of a partition that does not exist
// (TOPIC_NOT_FOUND, PARTITION_NOT_FOUND) or outside 0..its high watermark
// (OFFSET_OUT_OF_RANGE; below the earliest kept is taken, as a member's
// commit is; see also AwaitCopies and unbounded) is refused on its own,
// in refused, and
// the others are stored in one step. Errors also: GROUP_NOT_FOUND (deleted
// meanwhile).
func (c *Coordinator) StoreOffsets(groupID string, offsets Offsets, metadata CommitMetadata, member bool) (map[delivery.TP]error, error) {
	byTP := metadata.byTP()
	store := func(a *groupstate.Group, now time.Time, plan []groupstate.Ref) (groupstate.Effects, error) {
		return a.StoreClassic(now, plan, byTP, member)
	}
	_, refused, err := c.resetOffsets(groupID, ResetParams{To: ResetOffsets, Offsets: offsets, commit: true}, store)
	if errors.Is(err, api.ErrGroupNotEmpty) {
		return refused, api.ErrInconsistentProtocol.Withf("group %q has members of its own; its offsets are theirs to commit", groupID).WithDetail("group", groupID)
	}
	return refused, err
}
