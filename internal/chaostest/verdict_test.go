package chaostest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestCheckFires shows each check of check firing on a small made-up run
// of messages 0..2 on partition 0, and staying quiet on the legal ones.
func TestCheckFires(t *testing.T) {
	a := func(ns int64) event { return event{kind: 'A', ns: ns} }
	r := func(ns int64) event { return event{kind: 'R', ns: ns} }
	l := func(ns int64) event { return event{kind: 'L', ns: ns} }
	d := func(v, ns int64) event { return event{kind: 'D', off: v, value: v, ns: ns} }
	k := func(v, ns int64) event { return event{kind: 'K', off: v, ns: ns} }
	p := func(ns int64) event { return event{kind: 'P', ns: ns} }
	all := []event{a(1), d(0, 2), k(0, 3), d(1, 4), k(1, 5), d(2, 6), k(2, 7)}
	for _, tc := range []struct {
		name    string
		members []memberLog
		want    string // a substring of the first problem; "" for none
	}{
		{"one member does everything", []memberLog{{id: 1, events: all, end: 100}}, ""},
		{"clean handoff", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3), r(4)}, end: 100},
			{id: 2, events: []event{a(5), d(1, 6), k(1, 7), d(2, 8), k(2, 9)}, end: 100},
		}, ""},
		{"delivery before the assignment callback", []memberLog{{id: 1, events: []event{d(0, 1), k(0, 2), a(3), d(1, 4), k(1, 5), d(2, 6), k(2, 7)}, end: 100}}, ""},
		{"message lost", []memberLog{{id: 1, events: all[:5], end: 100}}, "message 2 was never delivered"},
		{"message never acknowledged", []memberLog{{id: 1, events: all[:6], end: 100}}, "message 2 was delivered 1 times and never acknowledged"},
		{"two owners at once", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3), r(10)}, end: 100},
			{id: 2, events: []event{a(5), d(1, 6), k(1, 7), d(2, 8), k(2, 9)}, end: 100},
		}, "partition 0: member 2 owned it from 5 while member 1 owned it until 10"},
		{"a killed owner owns until its kill", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3)}, killed: true, end: 10},
			{id: 2, events: []event{a(5), d(1, 6), k(1, 7), d(2, 8), k(2, 9)}, end: 100},
		}, "member 2 owned it from 5 while member 1 owned it until 10 (K)"},
		{"redelivery after a kill", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3), d(1, 4)}, killed: true, end: 5},
			{id: 2, events: []event{a(6), d(1, 7), k(1, 8), d(2, 9), k(2, 10)}, end: 100},
		}, ""},
		{"redelivery of an unacked message after revocation", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3), d(1, 4), r(5)}, end: 100},
			{id: 2, events: []event{a(6), d(1, 7), k(1, 8), d(2, 9), k(2, 10)}, end: 100},
		}, ""},
		{"redelivery after a loss", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3), d(1, 4), k(1, 5), l(50)}, end: 100},
			{id: 2, events: []event{a(6), d(1, 7), k(1, 8), d(2, 9), k(2, 10)}, end: 100},
		}, ""},
		{"redelivery of an acked message after revocation", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3), d(1, 4), k(1, 5), r(6)}, end: 100},
			{id: 2, events: []event{a(7), d(1, 8), k(1, 9), d(2, 10), k(2, 11)}, end: 100},
		}, "message 1 (0/1) delivered again to member 2 at 8 although member 1 acked it"},
		{"redelivery within one ownership", []memberLog{{id: 1, events: []event{a(1), p(2), d(0, 3), k(0, 4), p(5), d(0, 6), k(0, 7), d(1, 8), k(1, 9), d(2, 10), k(2, 11)}, end: 100}},
			"message 0 delivered twice to member 1 in one ownership"},
		{"a poll sent before a revocation and answered after the partition came back", []memberLog{{id: 1, events: []event{
			a(1), d(0, 2), k(0, 3), p(4), r(5), a(6), d(1, 7), k(1, 8), p(9), d(1, 10), k(1, 11), d(2, 12), k(2, 13)}, end: 100}}, ""},
		{"delivery of a partition never assigned", []memberLog{{id: 1, events: []event{d(0, 1), k(0, 2), r(3), a(4), d(1, 5), k(1, 6), d(2, 7), k(2, 8)}, end: 100}},
			"member 1: delivered partition 0 from 1 without being assigned it"},
		{"an ack refused as revoked is no ack", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(0, 3), d(1, 4), k(1, 5), {kind: 'X', off: 1, ns: 6}, r(7)}, end: 100},
			{id: 2, events: []event{a(8), d(1, 9), k(1, 10), d(2, 11), k(2, 12)}, end: 100},
		}, ""},
		{"a refused ack never retried", []memberLog{{id: 1, events: append(all[:6:6], k(2, 7), event{kind: 'X', off: 2, ns: 8}), end: 100}},
			"message 2 was delivered 1 times and never acknowledged"},
		{"acks reported lost, and their message delivered again", []memberLog{{id: 1, events: []event{
			a(1), d(0, 2), k(0, 3), p(4), r(5), a(6), d(1, 7), k(1, 8), p(9), d(1, 10), k(1, 11), d(2, 12), k(2, 13), {kind: 'Q', value: 1, ns: 14}}, end: 100}}, ""},
		{"more acks reported lost than delivered again", []memberLog{{id: 1, events: []event{
			a(1), d(0, 2), k(0, 3), p(4), r(5), a(6), d(1, 7), k(1, 8), p(9), d(1, 10), k(1, 11), d(2, 12), k(2, 13), {kind: 'Q', value: 2, ns: 14}}, end: 100}},
			"member 1: Close reported 2 acknowledgements lost, but only 1 of its acknowledged deliveries were followed by another"},
		{"an ack after the revocation callback, reported lost", []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), r(3), k(0, 4), {kind: 'Q', value: 1, ns: 20}}, end: 100},
			{id: 2, events: []event{a(5), d(0, 6), k(0, 7), d(1, 8), k(1, 9), d(2, 10), k(2, 11)}, end: 100},
		}, ""},
		{"acks reported lost, and nothing delivered again", []memberLog{{id: 1, events: append(all[:7:7], event{kind: 'Q', value: 1, ns: 8}), end: 100}},
			"member 1: Close reported 1 acknowledgements lost, but only 0 of its acknowledged deliveries were followed by another"},
		{"unknown message", []memberLog{{id: 1, events: append([]event{a(0), d(7, 1)}, all[1:]...), end: 100}}, "delivered unknown message 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := check(3, tc.members)
			switch {
			case tc.want == "" && len(v.problems) > 0:
				t.Fatalf("problems in a legal run: %q", v.problems)
			case tc.want != "" && (len(v.problems) == 0 || !strings.Contains(v.problems[0], tc.want)):
				t.Fatalf("problems %q, want one with %q", v.problems, tc.want)
			}
		})
	}
}

func TestReadLogDropsOnlyATornLastLine(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		events     int
		bad        bool
	}{
		{"complete", "A 1 10\nD 1 5 7 11\nK 1 5 12\nQ 2 13\nC 14\n", 5, false},
		{"lost acks without their count", "Q 13\n", 0, true},
		{"torn", "A 1 10\nD 1 5 7 11\nK 1 5", 2, false},
		{"empty", "", 0, false},
		{"malformed", "A 1 10\nD 1 5 11\nK 1 5 12\n", 0, true},
		{"unknown kind", "Z 1 10\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/w.log"
			if err := writeFile(path, tc.text); err != nil {
				t.Fatal(err)
			}
			events, err := readLog(path)
			if (err != nil) != tc.bad || !tc.bad && len(events) != tc.events {
				t.Fatalf("readLog = %d events, %v", len(events), err)
			}
		})
	}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }

// TestKafkaCheckFires shows each check of checkKafka firing on a small
// made-up run of messages 0..2, produced to partition 0 at offsets 0..2,
// and staying quiet on the legal ones.
func TestKafkaCheckFires(t *testing.T) {
	a := func(ns int64) event { return event{kind: 'A', ns: ns} }
	r := func(ns int64) event { return event{kind: 'R', ns: ns} }
	l := func(ns int64) event { return event{kind: 'L', ns: ns} }
	d := func(v, ns int64) event { return event{kind: 'D', off: v, value: v, ns: ns} }
	k := func(off, ns int64) event { return event{kind: 'K', off: off, ns: ns} }
	produced := []position{{0, 0}, {0, 1}, {0, 2}}
	for _, tc := range []struct {
		name     string
		produced []position
		members  []memberLog
		want     string // a substring of the first problem; "" for none
	}{
		{"one member does everything", produced, []memberLog{{id: 1, events: []event{a(1), d(0, 2), d(1, 3), d(2, 4), k(3, 5)}, end: 100}}, ""},
		{"handoff after a kill, with a duplicate", produced, []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(1, 3), d(1, 4)}, killed: true, end: 5},
			{id: 2, events: []event{a(6), d(1, 7), d(2, 8), k(3, 9)}, end: 100},
		}, ""},
		{"a lost member read on, but its commits were refused", produced, []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(1, 3), d(1, 8), {kind: 'X', off: 2, ns: 9}, l(10)}, end: 100},
			{id: 2, events: []event{a(6), d(1, 7), d(2, 8), k(3, 9)}, end: 100},
		}, ""},
		{"a lost member's commit taken while another owned the partition", produced, []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(1, 3), d(1, 8), k(2, 9), l(10)}, end: 100},
			{id: 2, events: []event{a(6), d(1, 7), d(2, 8), k(3, 12)}, end: 100},
		}, "partition 0: member 2 owned it from 6 while member 1 owned it until 9 (L)"},
		{"two owners at once", produced, []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), k(1, 3), r(10)}, end: 100},
			{id: 2, events: []event{a(5), d(1, 6), d(2, 7), k(3, 8)}, end: 100},
		}, "partition 0: member 2 owned it from 5 while member 1 owned it until 10"},
		{"message lost", produced, []memberLog{{id: 1, events: []event{a(1), d(0, 2), d(1, 3), k(2, 5)}, end: 100}}, "message 2, produced to 0/2, was never delivered"},
		{"an unacknowledged message may be missing", []position{{0, 0}, {0, 1}, {-1, 0}}, []memberLog{{id: 1, events: []event{a(1), d(0, 2), d(1, 3), k(2, 5)}, end: 100}}, ""},
		{"message moved", []position{{0, 0}, {0, 1}, {0, 5}}, []memberLog{{id: 1, events: []event{a(1), d(0, 2), d(1, 3), d(2, 4), k(3, 5)}, end: 100}}, "message 2 was produced to 0/5 and delivered from 0/2"},
		{"delivery without ownership", produced, []memberLog{{id: 1, events: []event{d(0, 1), a(2), d(1, 3), d(2, 4), k(3, 5)}, end: 100}}, "member 1: delivered 0/0 at 1 without owning partition 0"},
		{"commit taken after the revocation", produced, []memberLog{{id: 1, events: []event{a(1), d(0, 2), d(1, 3), d(2, 4), r(5), k(3, 6)}, end: 100}}, "the broker took its commit of 0/3 at 6, after it gave the partition up"},
		{"epoch goes back", produced, []memberLog{{id: 1, events: []event{{kind: 'G', value: 3}, a(1), d(0, 2), r(3), {kind: 'G', value: 2}, a(4), d(1, 5), d(2, 6), k(3, 7)}, end: 100}},
			"member 1: assigned in epoch 2 after epoch 3"},
		{"committed offset goes back", produced, []memberLog{
			{id: 1, events: []event{a(1), d(0, 2), d(1, 3), k(2, 4), r(5)}, end: 100},
			{id: 2, events: []event{a(6), d(2, 7), k(1, 8), k(3, 9)}, end: 100},
		}, "partition 0: committed offset went back from 2 (member 1 at 4) to 1 (member 2 at 8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := checkKafka(tc.produced, tc.members)
			switch {
			case tc.want == "" && len(v.problems) > 0:
				t.Fatalf("problems in a legal run: %q", v.problems)
			case tc.want != "" && (len(v.problems) == 0 || !strings.Contains(v.problems[0], tc.want)):
				t.Fatalf("problems %q, want one with %q", v.problems, tc.want)
			}
		})
	}
}

func TestLostAcks(t *testing.T) {
	lost := &client.AckLostError{Count: 3}
	for _, tc := range []struct {
		name string
		err  error
		want bool
		n    int64
	}{
		{"nil", nil, false, 0},
		{"lost acks", lost, true, 3},
		{"wrapped and joined", fmt.Errorf("close consumer: %w", errors.Join(lost, lost)), true, 6},
		{"with a failed commit", fmt.Errorf("close consumer: %w", errors.Join(errors.New("commit: connection refused"), lost)), false, 0},
		{"with acks dropped unsent", errors.Join(fmt.Errorf("%w: 2 dropped", client.ErrRevoked), lost), false, 0},
		{"ErrAckLost without a count", fmt.Errorf("%w: 3 lost", client.ErrAckLost), false, 0},
		{"another error", errors.New("leave: timeout"), false, 0},
	} {
		if n, got := lostAcks(tc.err); got != tc.want || n != tc.n {
			t.Errorf("%s: lostAcks = %d, %v, want %d, %v", tc.name, n, got, tc.n, tc.want)
		}
	}
}
