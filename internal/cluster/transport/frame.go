package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/abd-ulbasit/goqueue/internal/budget"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// A frame carries a batch of envelopes for one peer:
//
//	length uint32 (of the rest) | count uint32 | count × (group uint64 | flags byte | len uint32 | raftpb.Message)
//
// flags: 1 = a quiesce note, 2 = a wake note (multiraft.Envelope's flags).
//
// A connection starts with a hello from each side: magic uint32 | node ID
// uint64 | boot uint64. The boot is random per process start, so a peer
// sees a restart however quickly the new process connects (Config.Restarted).
// A call connection (Transport.Call) starts with the call magic instead and
// carries one request and its answer, each as length uint32 | bytes.
const (
	helloMagic    = 0x67715232 // "gqR2"
	oldHelloMagic = 0x67715231 // "gqR1", before the hello had a boot
	callMagic     = 0x67714331 // "gqC1"
	greetLen      = 12         // magic, node
	maxFrame      = 64 << 20

	msgHeaderLen = 13 // group, flags, length
	flagQuiesce  = 1
	flagWake     = 2
)

var (
	errFrame     = errors.New("transport: bad frame")
	errOlderPeer = errors.New("transport: refused a peer")
)

func appendHello(dst []byte, node, boot uint64) []byte {
	return binary.BigEndian.AppendUint64(appendGreeting(dst, helloMagic, node), boot)
}

func appendGreeting(dst []byte, magic uint32, node uint64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, magic)
	return binary.BigEndian.AppendUint64(dst, node)
}

func readHello(r io.Reader) (node, boot uint64, err error) {
	magic, node, err := readGreeting(r)
	if err == nil && magic != helloMagic {
		err = fmt.Errorf("%w: not a GoQueue cluster peer", errFrame)
	}
	if err != nil {
		return 0, 0, err
	}
	boot, err = readBoot(r)
	return node, boot, err
}

// readBoot reads the rest of a hello, after its greeting.
func readBoot(r io.Reader) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// readGreeting reads the first bytes of a connection: which kind it is
// (helloMagic or callMagic) and the node that opened it.
func readGreeting(r io.Reader) (magic uint32, node uint64, err error) {
	var b [greetLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, 0, err
	}
	magic = binary.BigEndian.Uint32(b[0:4])
	if magic == oldHelloMagic {
		return 0, 0, fmt.Errorf("%w: node %d runs an older GoQueue (its hello has no boot); run one version on every node", errOlderPeer, binary.BigEndian.Uint64(b[4:12]))
	}
	if magic != helloMagic && magic != callMagic {
		return 0, 0, fmt.Errorf("%w: not a GoQueue cluster peer", errFrame)
	}
	return magic, binary.BigEndian.Uint64(b[4:12]), nil
}

// appendBlob appends b with its length, as a call's request or answer.
func appendBlob(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

func readBlob(r io.Reader) ([]byte, error) { return readSizedBlob(r, nil) }

// errBusy is a blob refused for its size (readSizedBlob's sized), or the
// refusal a busy node answered a call with (busyAnswer).
var errBusy = errors.New("transport: busy")

// readSizedBlob is readBlob telling sized (if not nil) the blob's size
// before reading its bytes; an error of sized is returned, the bytes
// left unread.
func readSizedBlob(r io.Reader, sized func(size int) error) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == busyAnswer {
		return nil, errBusy
	}
	if size > MaxCall {
		return nil, fmt.Errorf("%w: call of %d bytes", errFrame, size)
	}
	if sized != nil {
		if err := sized(int(size)); err != nil {
			return nil, err
		}
	}
	// Allocated as the bytes arrive: anything that reaches the listener
	// can announce MaxCall and send no more, on as many connections as it
	// likes.
	return budget.ReadFull(r, nil, int(size), nil)
}

// frameTarget is the size at which a frame is closed and the rest of a
// batch goes in the next: a peer restarted after a while is sent appends of
// many groups at once (100–200 MB in one batch, seen), which as one frame
// was over maxFrame and dropped whole, with every other group's messages
// in it, and held that much memory besides.
const frameTarget = 4 << 20

// appendFrame encodes a prefix of envs as one frame: envelopes up to
// frameTarget bytes, at least one (none if envs is empty: a keep-alive). It
// returns how many it took. An envelope that cannot be encoded, or alone
// is over maxFrame, is taken alone (those before it go in this frame) and
// its error returned, with dst as it was.
func appendFrame(dst []byte, envs []multiraft.Envelope) ([]byte, int, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // length, count
	n := 0
	for _, e := range envs {
		size := msgHeaderLen + proto.Size(e.Msg)
		if n > 0 && len(dst)-start+size > frameTarget {
			break // for the next frame
		}
		if size > maxFrame {
			if n > 0 {
				break // alone, in the next call
			}
			return dst[:start], 1, fmt.Errorf("%w: a message of %d bytes", errFrame, size)
		}
		before := len(dst)
		dst = binary.BigEndian.AppendUint64(dst, e.Group)
		var flags byte
		if e.Quiesce {
			flags |= flagQuiesce
		}
		if e.Wake {
			flags |= flagWake
		}
		dst = append(dst, flags)
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		var err error
		dst, err = proto.MarshalOptions{}.MarshalAppend(dst, e.Msg)
		if err != nil {
			if n > 0 {
				dst = dst[:before] // those before go; this one alone, in the next call
				break
			}
			return dst[:start], 1, err
		}
		binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
		n++
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(n))
	return dst, n, nil
}

// eachFrame encodes batch as frames (appendFrame) into buf, in order, and
// gives each to send, stopping at its first error; an empty batch is one
// empty frame. An envelope that cannot be encoded (or alone is over
// maxFrame) is left out and given to drop: raft sends again what a peer
// did not get. It returns buf for reuse.
func eachFrame(buf []byte, batch []multiraft.Envelope, send func([]byte) error, drop func(error)) ([]byte, error) {
	for first := true; first || len(batch) > 0; first = false {
		var n int
		var err error
		buf, n, err = appendFrame(buf[:0], batch)
		batch = batch[n:]
		if err != nil {
			drop(err)
			continue
		}
		if err := send(buf); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// readFrame decodes the next frame; buf is reused between calls.
func readFrame(r *bufio.Reader, buf []byte) ([]multiraft.Envelope, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, buf, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if n < 4 || n > maxFrame {
		return nil, buf, fmt.Errorf("%w: length %d", errFrame, n)
	}
	// Grown as the bytes arrive, not to the size announced: a frame that
	// stops short holds up to four times what came (budget.ReadFull).
	b, err := budget.ReadFull(r, buf, n, nil)
	if err != nil {
		return nil, buf, err
	}
	buf = b
	count := int(binary.BigEndian.Uint32(b[0:4]))
	b = b[4:]
	if count > len(b)/msgHeaderLen {
		return nil, buf, fmt.Errorf("%w: %d messages in %d bytes", errFrame, count, len(b))
	}
	envs := make([]multiraft.Envelope, 0, count)
	for range count {
		if len(b) < msgHeaderLen {
			return nil, buf, fmt.Errorf("%w: truncated", errFrame)
		}
		group := binary.BigEndian.Uint64(b[0:8])
		flags := b[8]
		ml := int(binary.BigEndian.Uint32(b[9:13]))
		b = b[msgHeaderLen:]
		if ml > len(b) {
			return nil, buf, fmt.Errorf("%w: truncated message", errFrame)
		}
		m := new(pb.Message)
		// Unmarshal copies bytes fields, so buf can be reused.
		if err := proto.Unmarshal(b[:ml], m); err != nil {
			return nil, buf, fmt.Errorf("%w: %v", errFrame, err)
		}
		b = b[ml:]
		envs = append(envs, multiraft.Envelope{Group: group, Msg: m, Quiesce: flags&flagQuiesce != 0, Wake: flags&flagWake != 0})
	}
	if len(b) > 0 {
		// A frame holds its count of messages and nothing after: bytes
		// left over mean a peer that frames otherwise, or a broken one.
		return nil, buf, fmt.Errorf("%w: %d bytes after %d messages", errFrame, len(b), count)
	}
	return envs, buf, nil
}
