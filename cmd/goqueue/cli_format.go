package main

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// startSpec is where a read without a group starts in each partition
// (consume --from): one of its fields is set.
type startSpec struct {
	earliest, latest bool
	offset           int64 // ≥ 0: this offset, within the partition's range
	last             int64 // > 0: the last N messages
	timestamp        int64 // ms since the epoch, when atTime
	atTime           bool
}

// parseStart reads a --from SPEC: earliest, latest, 42, -10, @TIME (RFC
// 3339 or ms since the epoch) or @-1h (a duration before now).
func parseStart(s string, now time.Time) (startSpec, error) {
	bad := usageErrorf("--from %q: want earliest, latest, an offset (42), the last N (-10), @TIME (RFC 3339 or ms) or @-DURATION (@-1h)", s)
	switch {
	case s == "earliest" || s == "beginning":
		return startSpec{earliest: true}, nil
	case s == "latest" || s == "end":
		return startSpec{latest: true}, nil
	case strings.HasPrefix(s, "@-"):
		d, err := time.ParseDuration(s[2:])
		if err != nil || d <= 0 {
			return startSpec{}, bad
		}
		return startSpec{atTime: true, timestamp: now.Add(-d).UnixMilli()}, nil
	case strings.HasPrefix(s, "@"):
		ms, err := parseTime("--from", s[1:])
		if err != nil {
			return startSpec{}, bad
		}
		return startSpec{atTime: true, timestamp: ms}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return startSpec{}, bad
	case n < 0:
		return startSpec{last: -n}, nil
	}
	return startSpec{offset: n}, nil
}

// offset resolves the spec for one partition.
func (s startSpec) resolve(ctx context.Context, cl *client.Client, topic string, p api.PartitionInfo) (int64, error) {
	switch {
	case s.earliest:
		return p.EarliestOffset, nil
	case s.latest:
		return p.HighWatermark, nil
	case s.last > 0:
		return max(p.EarliestOffset, p.HighWatermark-s.last), nil
	case s.atTime:
		_, r, err := cl.Fetch(ctx, topic, p.Partition, client.FetchOptions{Timestamp: s.timestamp, Max: 1})
		if err != nil {
			return 0, err
		}
		if len(r.Messages) == 0 {
			return p.HighWatermark, nil
		}
		return r.Messages[0].Offset, nil
	}
	return min(max(s.offset, p.EarliestOffset), p.HighWatermark), nil
}

// formatMessage appends m to b as the kcat-style template f: %t topic, %p
// partition, %o offset, %k key, %s value, %h headers, %T timestamp (ms), %d
// delivery count, %% a percent sign; \n and \t are a newline and a tab.
// Anything else is copied as it is.
func formatMessage(b []byte, f string, m *client.Message) []byte {
	for i := 0; i < len(f); i++ {
		ch := f[i]
		if i+1 == len(f) || (ch != '%' && ch != '\\') {
			b = append(b, ch)
			continue
		}
		i++
		switch string([]byte{ch, f[i]}) {
		case "%t":
			b = append(b, m.Topic...)
		case "%p":
			b = strconv.AppendInt(b, int64(m.Partition), 10)
		case "%o":
			b = strconv.AppendInt(b, m.Offset, 10)
		case "%k":
			b = append(b, m.Key...)
		case "%s":
			b = append(b, m.Value...)
		case "%h":
			b = appendHeaders(b, m.Headers)
		case "%T":
			b = strconv.AppendInt(b, m.Timestamp.UnixMilli(), 10)
		case "%d":
			b = strconv.AppendInt(b, int64(m.DeliveryCount), 10)
		case "%%":
			b = append(b, '%')
		case "\\n":
			b = append(b, '\n')
		case "\\t":
			b = append(b, '\t')
		default:
			b = append(b, ch, f[i])
		}
	}
	return b
}

// appendHeaders appends k=v pairs, sorted by key, comma-separated.
func appendHeaders(b []byte, h map[string]string) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, k...), '='), h[k]...)
	}
	return b
}
