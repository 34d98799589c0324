package crashtest

import (
	"strconv"
	"strings"
	"testing"
)

// The checker itself must catch each kind of damage, or a green crash test
// proves nothing.
func TestVerifyFindsDamage(t *testing.T) {
	val := func(p, s int) []byte { return []byte(`{"p":` + strconv.Itoa(p) + `,"s":` + strconv.Itoa(s) + `}`) }
	// p0/s0 and p0/s1 acknowledged in partition 0 at 0 and 1; p0/s2 sent to
	// partition 0 without an answer; p1/s0 acknowledged in partition 1 at 0.
	sentMsgs := map[msgID]sent{
		{0, 0}: {Partition: 0, Offset: 0},
		{0, 1}: {Partition: 0, Offset: 1},
		{0, 2}: {Partition: 0, Offset: unacked},
		{1, 0}: {Partition: 1, Offset: 0},
	}
	good := func() map[int32][]stored {
		return map[int32][]stored{
			0: {{0, val(0, 0)}, {1, val(0, 1)}},
			1: {{0, val(1, 0)}},
		}
	}
	tests := []struct {
		name string
		edit func(map[int32][]stored)
		want string // "" for no problem
	}{
		{"intact", func(map[int32][]stored) {}, ""},
		{"unacknowledged present once", func(l map[int32][]stored) {
			l[0] = append(l[0], stored{2, val(0, 2)})
		}, ""},
		{"acknowledged lost at the tail", func(l map[int32][]stored) { l[0] = l[0][:1] }, "1 acknowledged messages lost, the first p0/s1"},
		{"whole partition lost", func(l map[int32][]stored) { delete(l, 1) }, "lost, the first p1/s0"},
		{"duplicate", func(l map[int32][]stored) {
			l[0] = append(l[0], stored{2, val(0, 1)})
		}, "p0/s1 was acknowledged at offset 1"},
		{"duplicate of an unacknowledged message", func(l map[int32][]stored) {
			l[0] = append(l[0], stored{2, val(0, 2)}, stored{3, val(0, 2)})
		}, "p0/s2 stored twice"},
		{"gap", func(l map[int32][]stored) { l[0][1].Offset = 2 }, "not contiguous"},
		{"moved offset", func(l map[int32][]stored) {
			l[0] = []stored{{0, val(0, 1)}, {1, val(0, 0)}}
		}, "p0/s1 was acknowledged at offset 1"},
		{"reordered unacknowledged", func(l map[int32][]stored) {
			l[0] = []stored{{0, val(0, 0)}, {1, val(0, 1)}}
			l[0] = append(l[0][:1], stored{1, val(0, 2)}, stored{2, val(0, 1)})
		}, "stored after s2"},
		{"wrong partition", func(l map[int32][]stored) {
			l[1] = append(l[1], stored{1, val(0, 2)})
		}, "belongs in partition 0"},
		{"never sent", func(l map[int32][]stored) {
			l[1] = append(l[1], stored{1, val(7, 7)})
		}, "never sent"},
		{"garbage", func(l map[int32][]stored) {
			l[1] = append(l[1], stored{1, []byte("garbage")})
		}, "no message of the test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := good()
			tt.edit(logs)
			problems := verify(sentMsgs, logs)
			if tt.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems in an intact log: %q", problems)
				}
				return
			}
			if !strings.Contains(strings.Join(problems, "\n"), tt.want) {
				t.Fatalf("problems %q do not report %q", problems, tt.want)
			}
		})
	}
}
