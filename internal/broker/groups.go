package broker

import (
	"context"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// The consumer groups' API is the coordinator's (internal/coordinator),
// passed on unchanged: the types below are its types, and each method
// calls the coordinator's method of the same name, whose doc says what it
// does and which errors it returns. Front ends keep one core to call.

// The coordinator's inputs, results and read models.
type (
	Assignment          = coordinator.Assignment
	Offsets             = coordinator.Offsets
	CommitMetadata      = coordinator.CommitMetadata
	Commits             = coordinator.Commits
	JoinParams          = coordinator.JoinParams
	JoinResult          = coordinator.JoinResult
	HeartbeatParams     = coordinator.HeartbeatParams
	HeartbeatResult     = coordinator.HeartbeatResult
	PollParams          = coordinator.PollParams
	Delivered           = coordinator.Delivered
	StoredPart          = coordinator.StoredPart
	StoredRange         = coordinator.StoredRange
	ServedBatch         = coordinator.ServedBatch
	MessageRef          = coordinator.MessageRef
	OffsetRange         = coordinator.OffsetRange
	Settle              = coordinator.Settle
	NackParams          = coordinator.NackParams
	ExtendParams        = coordinator.ExtendParams
	SettleResult        = coordinator.SettleResult
	SettleFailure       = coordinator.SettleFailure
	CommitParams        = coordinator.CommitParams
	ResetMode           = coordinator.ResetMode
	ResetParams         = coordinator.ResetParams
	ResetResult         = coordinator.ResetResult
	OffsetChange        = coordinator.OffsetChange
	GroupStats          = coordinator.GroupStats
	GroupPartitionStats = coordinator.GroupPartitionStats
	GroupDescription    = coordinator.GroupDescription
	MemberDescription   = coordinator.MemberDescription
	PartitionStatus     = coordinator.PartitionStatus
	RebalanceStats      = coordinator.RebalanceStats
	Rebalance           = coordinator.Rebalance
	Move                = coordinator.Move
	LagHistory          = coordinator.LagHistory
	PartitionLagHistory = coordinator.PartitionLagHistory
)

// The coordinator's reset modes (see ResetParams).
const (
	ResetEarliest  = coordinator.ResetEarliest
	ResetLatest    = coordinator.ResetLatest
	ResetTimestamp = coordinator.ResetTimestamp
	ResetDuration  = coordinator.ResetDuration
	ResetShift     = coordinator.ResetShift
	ResetOffsets   = coordinator.ResetOffsets
	ResetGroup     = coordinator.ResetGroup
	ResetDelete    = coordinator.ResetDelete
)

// The coordinator's bounds on polls, delays and ranges.
const (
	DefaultPollMessages = coordinator.DefaultPollMessages
	MaxPollMessages     = coordinator.MaxPollMessages
	DefaultPollBytes    = coordinator.DefaultPollBytes
	MaxPollBytes        = coordinator.MaxPollBytes
	MaxDelay            = coordinator.MaxDelay
	MaxRangeMessages    = coordinator.MaxRangeMessages
)

// CheckRanges is coordinator.CheckRanges.
func CheckRanges(rs []OffsetRange) error { return coordinator.CheckRanges(rs) }

// GroupTimeouts returns the bounds of the session and rebalance timeouts a
// join may name.
func (b *Broker) GroupTimeouts() (minSession, maxSession, maxRebalance time.Duration) {
	return b.coord.GroupTimeouts()
}

// JoinGroup is coordinator.Coordinator.JoinGroup.
func (b *Broker) JoinGroup(groupID string, p JoinParams, host string) (JoinResult, error) {
	return b.coord.JoinGroup(groupID, p, host)
}

// Heartbeat is coordinator.Coordinator.Heartbeat.
func (b *Broker) Heartbeat(groupID string, req HeartbeatParams, host string) (HeartbeatResult, error) {
	return b.coord.Heartbeat(groupID, req, host)
}

// LeaveGroup is coordinator.Coordinator.LeaveGroup.
func (b *Broker) LeaveGroup(groupID, memberID string) error {
	return b.coord.LeaveGroup(groupID, memberID)
}

// LeaveGroupForGood is coordinator.Coordinator.LeaveGroupForGood.
func (b *Broker) LeaveGroupForGood(groupID, memberID string) error {
	return b.coord.LeaveGroupForGood(groupID, memberID)
}

// MemberTopics is coordinator.Coordinator.MemberTopics.
func (b *Broker) MemberTopics(groupID, memberID string) []string {
	return b.coord.MemberTopics(groupID, memberID)
}

// Poll is coordinator.Coordinator.Poll.
func (b *Broker) Poll(ctx context.Context, groupID string, req PollParams, host string) ([]Delivered, error) {
	return b.coord.Poll(ctx, groupID, req, host)
}

// PollStored is coordinator.Coordinator.PollStored.
func (b *Broker) PollStored(ctx context.Context, groupID string, req PollParams, host string) ([]StoredPart, error) {
	return b.coord.PollStored(ctx, groupID, req, host)
}

// PollBuffers is coordinator.Coordinator.PollBuffers.
func (b *Broker) PollBuffers() (got, made int64) { return b.coord.PollBuffers() }

// ReleaseStored is coordinator.ReleaseStored: call it once an answer of
// PollStored is written, so that its read buffers serve other polls.
func ReleaseStored(parts []StoredPart) { coordinator.ReleaseStored(parts) }

// HandBack is coordinator.Coordinator.HandBack.
func (b *Broker) HandBack(groupID string, req PollParams, host string, got []Delivered) {
	b.coord.HandBack(groupID, req, host, got)
}

// HandBackStored is coordinator.Coordinator.HandBackStored.
func (b *Broker) HandBackStored(groupID string, req PollParams, host string, parts []StoredPart) {
	b.coord.HandBackStored(groupID, req, host, parts)
}

// HeartbeatDue is coordinator.Coordinator.HeartbeatDue.
func (b *Broker) HeartbeatDue(groupID, memberID string) bool {
	return b.coord.HeartbeatDue(groupID, memberID)
}

// GroupSettled is coordinator.Coordinator.Settled.
func (b *Broker) GroupSettled(groupID string) bool { return b.coord.Settled(groupID) }

// Ack is coordinator.Coordinator.Ack.
func (b *Broker) Ack(groupID string, req Settle, host string) (SettleResult, error) {
	return b.coord.Ack(groupID, req, host)
}

// Nack is coordinator.Coordinator.Nack.
func (b *Broker) Nack(groupID string, req NackParams, host string) (SettleResult, error) {
	return b.coord.Nack(groupID, req, host)
}

// Extend is coordinator.Coordinator.Extend.
func (b *Broker) Extend(groupID string, req ExtendParams, host string) (SettleResult, error) {
	return b.coord.Extend(groupID, req, host)
}

// CommitOffsets is coordinator.Coordinator.CommitOffsets.
func (b *Broker) CommitOffsets(groupID string, req CommitParams, host string) error {
	return b.coord.CommitOffsets(groupID, req, host)
}

// GroupOffsets is coordinator.Coordinator.GroupOffsets.
func (b *Broker) GroupOffsets(groupID string) (Offsets, error) { return b.coord.GroupOffsets(groupID) }

// GroupCommits is coordinator.Coordinator.GroupCommits.
func (b *Broker) GroupCommits(groupID string, stable bool) (Commits, error) {
	return b.coord.GroupCommits(groupID, stable)
}

// ResetOffsets is coordinator.Coordinator.ResetOffsets.
func (b *Broker) ResetOffsets(groupID string, req ResetParams) (ResetResult, error) {
	return b.coord.ResetOffsets(groupID, req)
}

// DeleteGroup is coordinator.Coordinator.DeleteGroup.
func (b *Broker) DeleteGroup(groupID string) error { return b.coord.DeleteGroup(groupID) }

// Groups is coordinator.Coordinator.Groups.
func (b *Broker) Groups() []GroupDescription { return b.coord.Groups() }

// DescribeGroup is coordinator.Coordinator.DescribeGroup.
func (b *Broker) DescribeGroup(groupID string) (GroupDescription, error) {
	return b.coord.DescribeGroup(groupID)
}

// GroupStats is coordinator.Coordinator.GroupStats.
func (b *Broker) GroupStats() []GroupStats { return b.coord.GroupStats() }

// GroupsExpired counts the groups deleted by offsets retention since the
// broker started (coordinator.Coordinator.Expired).
func (b *Broker) GroupsExpired() int64 { return b.coord.Expired() }

// LagHistory is coordinator.Coordinator.LagHistory.
func (b *Broker) LagHistory(groupID string, since time.Time, points int) (LagHistory, error) {
	return b.coord.LagHistory(groupID, since, points)
}

// LagHistoryRetention is how far back LagHistory can see.
func (b *Broker) LagHistoryRetention() time.Duration { return b.coord.LagHistoryRetention() }

// RebalanceHistory is coordinator.Coordinator.RebalanceHistory.
func (b *Broker) RebalanceHistory(groupID string) ([]Rebalance, error) {
	return b.coord.RebalanceHistory(groupID)
}

// The group protocols of the coordinator's members (see GroupProtocol).
const (
	ProtocolHTTP     = coordinator.ProtocolHTTP
	ProtocolConsumer = coordinator.ProtocolConsumer
)

// JoinConsumerGroup is coordinator.Coordinator.JoinConsumerGroup.
func (b *Broker) JoinConsumerGroup(groupID string, p JoinParams, host string) (JoinResult, error) {
	return b.coord.JoinConsumerGroup(groupID, p, host)
}

// SubscribeConsumerGroup is coordinator.Coordinator.SubscribeConsumerGroup.
func (b *Broker) SubscribeConsumerGroup(groupID, memberID string, generation int64, topics []string, regex string) error {
	return b.coord.SubscribeConsumerGroup(groupID, memberID, generation, topics, regex)
}

// HoldClassicGroup is coordinator.Coordinator.HoldClassicGroup.
func (b *Broker) HoldClassicGroup(groupID string) (coordinator.ClassicHold, error) {
	return b.coord.HoldClassicGroup(groupID)
}

// SaveClassicMembers is coordinator.Coordinator.SaveClassicMembers.
func (b *Broker) SaveClassicMembers(groupID string, token uint64, members []byte) error {
	return b.coord.SaveClassicMembers(groupID, token, members)
}

// AdoptedClassicGroups is coordinator.Coordinator.AdoptedClassicGroups.
func (b *Broker) AdoptedClassicGroups() []string { return b.coord.AdoptedClassicGroups() }

// AdoptedClassicMembers is coordinator.Coordinator.AdoptedClassicMembers.
func (b *Broker) AdoptedClassicMembers(groupID string) ([]byte, coordinator.ClassicHold, bool) {
	return b.coord.AdoptedClassicMembers(groupID)
}

// RecordRebalance is coordinator.Coordinator.RecordRebalance.
func (b *Broker) RecordRebalance(groupID string, r api.Rebalance) {
	b.coord.RecordRebalance(groupID, r)
}

// SetExternalGroupViews is coordinator.Coordinator.SetExternalViews.
func (b *Broker) SetExternalGroupViews(f coordinator.ExternalViews) { b.coord.SetExternalViews(f) }

// ReleaseClassicGroup is coordinator.Coordinator.ReleaseClassicGroup.
func (b *Broker) ReleaseClassicGroup(groupID string) { b.coord.ReleaseClassicGroup(groupID) }

// ForgetBlankGroup is coordinator.Coordinator.ForgetBlankGroup.
func (b *Broker) ForgetBlankGroup(groupID string) { b.coord.ForgetBlankGroup(groupID) }

// GroupProtocol is coordinator.Coordinator.GroupProtocol.
func (b *Broker) GroupProtocol(groupID string) (string, error) { return b.coord.GroupProtocol(groupID) }

// DeleteOffsets is coordinator.Coordinator.DeleteOffsets.
func (b *Broker) DeleteOffsets(groupID string, partitions Assignment, also []string) (Assignment, error) {
	return b.coord.DeleteOffsets(groupID, partitions, also)
}

// ClassicHeld is coordinator.Coordinator.ClassicHeld.
func (b *Broker) ClassicHeld(groupID string) bool { return b.coord.ClassicHeld(groupID) }

// StoreOffsets is coordinator.Coordinator.StoreOffsets.
func (b *Broker) StoreOffsets(groupID string, offsets Offsets, metadata CommitMetadata, member bool) (map[delivery.TP]error, error) {
	return b.coord.StoreOffsets(groupID, offsets, metadata, member)
}

// AwaitCopies is coordinator.Coordinator.AwaitCopies.
func (b *Broker) AwaitCopies(ctx context.Context, offsets Offsets) { b.coord.AwaitCopies(ctx, offsets) }

// CommitOffsetsEach is coordinator.Coordinator.CommitOffsetsEach.
func (b *Broker) CommitOffsetsEach(groupID string, req CommitParams, host string) (map[delivery.TP]error, error) {
	return b.coord.CommitOffsetsEach(groupID, req, host)
}
