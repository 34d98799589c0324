package api

import (
	"bytes"
	"errors"
	"testing"
)

func TestSplitFrames(t *testing.T) {
	var body []byte
	body = AppendFrame(body, 3, []byte("abc"))
	body = AppendFrame(body, 0, []byte("z"))
	frames, err := SplitFrames(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 || frames[0].Partition != 3 || !bytes.Equal(frames[0].Batch, []byte("abc")) ||
		frames[1].Partition != 0 || !bytes.Equal(frames[1].Batch, []byte("z")) {
		t.Fatalf("frames = %+v", frames)
	}

	bad := map[string][]byte{
		"short header":   body[:5],
		"short batch":    body[:len(body)-1],
		"zero length":    AppendFrame(nil, 1, nil),
		"huge length":    {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1},
		"trailing bytes": append(AppendFrame(nil, 1, []byte("x")), 0),
	}
	for name, b := range bad {
		if _, err := SplitFrames(b); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: err = %v, want ErrBadFrame", name, err)
		}
	}
}

func FuzzSplitFrames(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, 1, []byte("abc")), 2, []byte("de")))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, body []byte) {
		frames, err := SplitFrames(body)
		if err != nil {
			return
		}
		var again []byte
		for _, fr := range frames {
			again = AppendFrame(again, fr.Partition, fr.Batch)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("frames do not re-encode to the body")
		}
	})
}

func TestErrorIsByCode(t *testing.T) {
	err := ErrTopicNotFound.Withf("topic %q", "x").WithDetail("topic", "x")
	if !errors.Is(err, ErrTopicNotFound) {
		t.Fatal("a derived error must match its table entry")
	}
	if errors.Is(err, ErrGroupNotFound) {
		t.Fatal("different codes must not match")
	}
	if ErrTopicNotFound.Message != "" || ErrTopicNotFound.Details != nil {
		t.Fatal("Withf/WithDetail modified the table entry")
	}
	seen := map[string]bool{}
	for _, e := range Codes() {
		if seen[e.Code] {
			t.Errorf("code %s twice in the table", e.Code)
		}
		seen[e.Code] = true
		if e.Status < 400 || e.Status > 599 {
			t.Errorf("%s: status %d", e.Code, e.Status)
		}
	}
}
