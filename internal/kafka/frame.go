package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/abd-ulbasit/goqueue/internal/budget"
)

// errFrame is a request the protocol cannot answer: the connection closes,
// as a Kafka broker does.
var errFrame = errors.New("kafka: bad request frame")

// readFrame reads one size-prefixed request into buf's space and returns
// it. A size that is negative or above max is errFrame: nothing of it is
// read, the connection closes. The frame's buffer grows as its bytes
// arrive (a size announces, it does not send), charged to held, which
// the caller gives back the frame's length to once done with it; a frame
// past held's limit is errFrame too.
func readFrame(r io.Reader, buf []byte, max int32, held *budget.Bytes) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	return readBody(r, size, buf, max, held)
}

// readBody is readFrame once the frame's size prefix was read.
func readBody(r io.Reader, size [4]byte, buf []byte, max int32, held *budget.Bytes) ([]byte, error) {
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 8 || n > max {
		return nil, fmt.Errorf("%w: size %d outside 8..%d", errFrame, n, max)
	}
	frame, err := budget.ReadFull(r, buf, int(n), held)
	if errors.Is(err, budget.ErrSpent) {
		return nil, fmt.Errorf("%w: %d byte request: %w", errFrame, n, err)
	}
	return frame, err
}

// header is a request header (v1, or v2 with tagged fields when flexible).
type header struct {
	key, version int16
	correlation  int32
	clientID     string
}

// parseHeader reads the fixed part of a request header: key, version,
// correlation ID and client ID. The rest (tags of a flexible header) needs
// to know the request kind; see skipTags.
func parseHeader(frame []byte) (header, []byte, error) {
	if len(frame) < 10 {
		return header{}, nil, fmt.Errorf("%w: %d byte header", errFrame, len(frame))
	}
	h := header{
		key:         int16(binary.BigEndian.Uint16(frame)),
		version:     int16(binary.BigEndian.Uint16(frame[2:])),
		correlation: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	n := int16(binary.BigEndian.Uint16(frame[8:]))
	rest := frame[10:]
	if n > 0 {
		if int(n) > len(rest) {
			return header{}, nil, fmt.Errorf("%w: client id of %d bytes, %d left", errFrame, n, len(rest))
		}
		h.clientID, rest = string(rest[:n]), rest[n:]
	} else if n < -1 {
		return header{}, nil, fmt.Errorf("%w: client id length %d", errFrame, n)
	}
	return h, rest, nil
}

// skipTags skips the tagged fields of a flexible header.
func skipTags(b []byte) ([]byte, error) {
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: tagged fields", errFrame)
	}
	b = b[k:]
	for range count {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, fmt.Errorf("%w: tag", errFrame)
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: tag size", errFrame)
		}
		b = b[k+int(size):]
	}
	return b, nil
}
