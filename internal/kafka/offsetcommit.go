package kafka

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// offsetCommit stores a group's offsets in the broker's group offset store,
// where HTTP groups keep theirs: GET /groups/{id}, the lag metrics and the
// CLI show them. A member of a classic group must be of the current
// generation; a commit without member and generation (a consumer that
// assigns itself partitions) is taken when the group has no members.
// Each offset's metadata string is kept with it (OffsetFetch answers it);
// one too long (see commitMetadata) is refused OFFSET_METADATA_TOO_LARGE,
// its partition's offset with it, as Kafka refuses it. A partition that
// does not exist, or an offset outside 0..its high watermark (see
// groupstate.Group.CommitEach), is refused on its own, and the others
// committed in one step, as Kafka answers partition by partition; but a
// classic group's negative offset is taken (see
// coordinator.negativeCommit). A refusal of the member or the group
// refuses them all.
func (s *Server) offsetCommit(ctx context.Context, c *conn, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	resp.SetVersion(req.Version)
	offsets, metadata := broker.Offsets{}, broker.CommitMetadata{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			text, ok := commitMetadata(p.Metadata)
			if !ok {
				continue
			}
			if offsets[t.Topic] == nil {
				offsets[t.Topic], metadata[t.Topic] = map[int32]int64{}, map[int32]string{}
			}
			offsets[t.Topic][p.Partition], metadata[t.Topic][p.Partition] = p.Offset, text
		}
	}
	code := s.notCoordinator(req.Group)
	elsewhere := code != 0
	if !elsewhere {
		// Before the member's checks, which then hold as the commit
		// is made (the wait is up to seconds, on a cluster).
		s.b.AwaitCopies(ctx, offsets)
		code = s.groups.checkCommit(req.Group, req.MemberID, req.InstanceID, req.Generation)
	}
	// commit commits offsets with their metadata in one step and answers
	// the partitions refused on their own and the code of the others.
	var commit func() (map[delivery.TP]error, int16)
	switch {
	case elsewhere: // refused: another node coordinates the group
	case code == kerr.UnknownMemberID.Code && req.MemberID != "" && !s.groups.live(req.Group):
		// A KIP-848 member: the coordinator checks that it owns what it
		// commits, in its epoch (checkCommit's UNKNOWN_MEMBER_ID is the
		// classic groups').
		code = 0
		commit = func() (map[delivery.TP]error, int16) {
			refused, err := s.b.CommitOffsetsEach(req.Group, broker.CommitParams{MemberID: req.MemberID,
				Generation: int64(req.Generation), Offsets: offsets, Metadata: metadata}, c.host)
			return refused, commitCode(err)
		}
	case code == 0:
		member := req.MemberID != "" || req.Generation >= 0
		commit = func() (map[delivery.TP]error, int16) {
			refused, err := s.b.StoreOffsets(req.Group, offsets, metadata, member)
			return refused, groupCode(err)
		}
	}
	var refused map[delivery.TP]error
	if commit != nil && len(offsets) > 0 { // none: every one refused for its metadata
		refused, code = commit()
	}
	for _, t := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = t.Topic
		for _, p := range t.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p.Partition, code
			if err, ok := refused[delivery.TP{Topic: t.Topic, Partition: p.Partition}]; ok {
				sp.ErrorCode = errorCode(err)
			} else if _, ok := commitMetadata(p.Metadata); !ok && code == 0 {
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// maxCommitMetadata bounds a committed offset's metadata string, as
// Kafka's offset.metadata.max.bytes does by default: it is kept in memory
// and on disk with the offset.
const maxCommitMetadata = 4096

// commitMetadata is the metadata a commit carries for a partition (null:
// ""), as Kafka reads it: bytes that are not UTF-8 replaced as Java
// decodes them (the cluster's replicated group state, JSON, would replace
// them only on followers, so that a failover changed the answer), and
// false past maxCommitMetadata UTF-16 units (the length Kafka's check
// takes, a Java string's).
func commitMetadata(m *string) (string, bool) {
	if m == nil {
		return "", true
	}
	text := javaUTF8(*m)
	units := 0
	for _, r := range text {
		units += utf16.RuneLen(r)
	}
	return text, units <= maxCommitMetadata
}

// checkCommit decides whether a member may commit now.
func (gs *groups) checkCommit(group, memberID string, instanceID *string, generation int32) int16 {
	if group == "" {
		return kerr.InvalidGroupID.Code
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.lookup(group)
	if memberID == "" && generation < 0 {
		if g != nil && len(g.members) > 0 {
			return kerr.UnknownMemberID.Code
		}
		return 0
	}
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	m, code := g.checkMember(memberID, instanceID, generation)
	if code != 0 {
		return code
	}
	if g.state == groupCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	m.lastSeen = time.Now()
	return 0
}

// commitCode is the Kafka code of a KIP-848 member's failed commit.
func commitCode(err error) int16 {
	if errors.Is(err, api.ErrStaleGeneration) {
		return kerr.StaleMemberEpoch.Code
	}
	return heartbeatCode(err)
}

// javaUTF8 is s with each ill-formed UTF-8 subsequence replaced by one
// U+FFFD, as Java's decoder replaces it: the longest start of a valid
// sequence (an E2 82 cut short is one), or else a single byte.
func javaUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if r, n := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || n > 1 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		b.WriteRune(utf8.RuneError)
		i += validPrefix(s[i:])
	}
	return b.String()
}

// validPrefix is how many bytes of s, which holds no valid sequence at
// its start, begin one (at least 1): its lead byte and the continuation
// bytes that may follow it, as Java's decoder counts them — Unicode's
// table of well-formed sequences, but that an encoded surrogate (ED A0..BF
// xx) counts whole, as ED's other sequences do.
func validPrefix(s string) int {
	lo, hi, need := byte(0x80), byte(0xBF), 0
	switch c := s[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	}
	n := 1
	for ; n <= need && n < len(s); n++ {
		if c := s[n]; c < lo || c > hi {
			break
		}
		lo, hi = 0x80, 0xBF // the second byte alone has narrower bounds
	}
	return n
}
