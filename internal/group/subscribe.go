package group

import (
	"maps"
	"regexp"
	"regexp/syntax"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Subscribe changes what a live member subscribes to, in place: KIP-848's
// heartbeat naming new SubscribedTopicNames (topics) or a new
// SubscribedTopicRegex (regex, instead), which unlike a join at epoch 0 is
// no new incarnation. The group rebalances (subscription_changed); the
// member keeps what it owns until the new target revokes it, as any
// member does in a rebalance, so a partition of a topic it still
// subscribes to is not released for nothing. Its new assignment is
// answered by its next heartbeat, which the caller sends at once: what is
// granted before the member hears of it would be released by the owned
// partitions that heartbeat reports. partitions is as for Join. The same
// subscription again changes nothing. generation is checked as Heartbeat
// checks it.
//
// Errors: those of Heartbeat, INVALID_ARGUMENT (no topic, an empty name,
// topics and a regex, a regex that does not compile).
func (g *Group) Subscribe(now time.Time, memberID string, generation int64, topics []string, regex string, partitions map[string]int32) error {
	m, err := g.caller(memberID, generation)
	if err != nil {
		return err
	}
	switch {
	case len(topics) == 0 && regex == "":
		return api.ErrInvalidArgument.Withf("a subscription needs at least one topic")
	case len(topics) > 0 && regex != "":
		return api.ErrInvalidArgument.Withf("a subscription names topics or a topic regex, not both")
	case slices.Contains(topics, ""):
		return api.ErrInvalidArgument.Withf("empty topic name")
	}
	topics, matches, err := subscription(topics, regex, partitions)
	if err != nil {
		return err
	}
	m.lastSeen = now
	if slices.Equal(m.topics, topics) && m.regex == regex {
		return nil
	}
	next := maps.Clone(g.partitions)
	for _, t := range topics {
		if n := partitions[t]; n > 0 {
			next[t] = n
		} else {
			delete(next, t)
		}
	}
	prev := g.partitions
	m.topics, m.regex, m.matches, g.partitions = topics, regex, matches, next
	g.releaseGone(prev, next)
	g.rebalance(now, ReasonSubscriptionChanged)
	g.settle(now)
	return nil
}

// subscription returns the sorted topics a member subscribes to: topics,
// or for a regex the existing topics of partitions it matches in full (as
// Kafka matches a KIP-848 regex), with the compiled regex.
func subscription(topics []string, regex string, partitions map[string]int32) ([]string, *regexp.Regexp, error) {
	if regex == "" {
		return sortedTopics(topics), nil, nil
	}
	// Anchored as parsed, not as written: the text of a regex that quotes
	// to its end (\Q without \E) would quote the anchor too.
	parsed, err := syntax.Parse(regex, syntax.Perl)
	if err != nil {
		return nil, nil, api.ErrInvalidArgument.Withf("topic regex %q: %v", regex, err).WithDetail("regex", regex)
	}
	re, err := regexp.Compile(`^(?:` + parsed.String() + `)$`)
	if err != nil {
		return nil, nil, api.ErrInvalidArgument.Withf("topic regex %q: %v", regex, err).WithDetail("regex", regex)
	}
	return matching(re, partitions), re, nil
}

// matching returns the topics of partitions that exist and re matches,
// sorted.
func matching(re *regexp.Regexp, partitions map[string]int32) []string {
	out := []string{}
	for t, n := range partitions {
		if n > 0 && re.MatchString(t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
