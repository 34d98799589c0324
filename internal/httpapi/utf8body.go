package httpapi

import (
	"io"
	"unicode/utf8"

	"github.com/abd-ulbasit/goqueue/api"
)

// JSON text is UTF-8 (RFC 8259), and encoding/json replaces each byte
// that is not with U+FFFD without a word: a key, a string value or a
// header sent with such bytes was stored altered, a message the client
// did not send. Bodies are read through utf8Body, which refuses them
// instead, saying where, and pointing at key_base64 and value_base64 for
// bytes that are not text.

// utf8Body passes r's bytes on and ends with INVALID_ARGUMENT at the first
// read whose bytes are not UTF-8. A character split between two reads is
// checked once its rest arrives.
type utf8Body struct {
	r       io.Reader
	carry   [utf8.UTFMax]byte // the start of a character the last read ended in
	carried int
	off     int64 // bytes passed on before this read
}

func (u *utf8Body) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if bad, at := u.check(p[:n]); bad {
		return 0, notUTF8(u.off + int64(at))
	}
	u.off += int64(n)
	if err == io.EOF && u.carried > 0 {
		return n, notUTF8(u.off - int64(u.carried))
	}
	return n, err
}

// check reports whether b, following what was read before, holds a byte
// that is not UTF-8, and where in b; it keeps an incomplete character
// that ends b for the next read.
func (u *utf8Body) check(b []byte) (bad bool, at int) {
	if u.carried > 0 {
		// Complete the carried character from b's first bytes.
		need := min(len(b), utf8.UTFMax-u.carried)
		var c [2 * utf8.UTFMax]byte
		k := copy(c[:], u.carry[:u.carried])
		k += copy(c[k:], b[:need])
		if !utf8.FullRune(c[:k]) {
			u.carried = copy(u.carry[:], c[:k]) // still incomplete: b was that short
			return false, 0
		}
		r, size := utf8.DecodeRune(c[:k])
		if r == utf8.RuneError && size <= 1 {
			return true, -u.carried // where the character began, in the last read
		}
		b = b[size-u.carried:]
		at = size - u.carried
		u.carried = 0
	}
	// An incomplete character at the end waits for the next read.
	end := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				end = i
			}
			break
		}
	}
	if !utf8.Valid(b[:end]) {
		for i := 0; i < end; {
			r, size := utf8.DecodeRune(b[i:end])
			if r == utf8.RuneError && size <= 1 {
				return true, at + i
			}
			i += size
		}
	}
	u.carried = copy(u.carry[:], b[end:])
	return false, 0
}

func notUTF8(at int64) *api.Error {
	return api.ErrInvalidArgument.Withf("the body is not UTF-8 at byte %d (JSON text is UTF-8); send bytes that are not text in key_base64 or value_base64", at).
		WithDetail("field", "(body)").WithDetail("offset", at)
}
