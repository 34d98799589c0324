package httpapi

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/abd-ulbasit/goqueue/api"
)

// utf8Body refuses exactly the inputs that are not UTF-8, however reads
// split them (here one byte at a time, and in chunks of every size up to
// five), and names the offset of the first bad byte; it passes the others
// on unchanged.
func FuzzUTF8Body(f *testing.F) {
	for _, s := range []string{"", "plain", "é", "日本", "😀x", "a\xc3", "\xff", "ok\xe2\x82", "\xe2\x82\xac\xf0\x9f", "\xed\xa0\x80", "\xc0\xaf"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := -1
		if !utf8.Valid(in) {
			for i := 0; i < len(in); {
				r, size := utf8.DecodeRune(in[i:])
				if r == utf8.RuneError && size <= 1 {
					want = i
					break
				}
				i += size
			}
		}
		readers := map[string]io.Reader{"one byte": iotest.OneByteReader(bytes.NewReader(in))}
		for n := 2; n <= 5; n++ {
			readers[string(rune('0'+n))+" bytes"] = &chunked{b: in, n: n}
		}
		for name, r := range readers {
			got, err := io.ReadAll(&utf8Body{r: r})
			var ae *api.Error
			switch {
			case want < 0 && (err != nil || !bytes.Equal(got, in)):
				t.Fatalf("%s: valid %q read as %q, %v", name, in, got, err)
			case want >= 0 && !errors.As(err, &ae):
				t.Fatalf("%s: %q (bad at %d) read with %v", name, in, want, err)
			case want >= 0 && ae.Details["offset"] != int64(want):
				t.Fatalf("%s: %q refused at %v, want %d", name, in, ae.Details["offset"], want)
			}
		}
	})
}

// chunked reads b n bytes at a time.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// A key, a string value or a header with bytes that are not UTF-8 is
// refused, not stored with U+FFFD in their place (it was, silently).
func TestPublishRefusesBytesNotUTF8(t *testing.T) {
	for _, body := range []string{
		`{"value":"a` + "\xff" + `b"}`,
		`{"key":"` + "\xc3" + `","value":"x"}`,
		`{"value":"x","headers":{"h":"` + "\xe2\x82" + `"}}`,
		`{"messages":[{"value":"ok"},{"value":"` + "\xed\xa0\x80" + `"}]}`,
	} {
		_, err := decodePublish(strings.NewReader(body), 10)
		if !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), "not UTF-8") {
			t.Errorf("%q: %v, want INVALID_ARGUMENT (not UTF-8)", body, err)
		}
	}
	if _, err := decodePublish(strings.NewReader(`{"key":"é","value":"日本😀"}`), 10); err != nil {
		t.Fatalf("UTF-8 text refused: %v", err)
	}
}
