package routeros

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// Limits on what a router may send: a word and a sentence (one !re of a print is a few
// hundred bytes; the limits only stop a broken or hostile peer from exhausting memory).
const (
	maxWord     = 1 << 20
	maxSentence = 4 << 20
)

// wire is the connection go-routeros reads from. It drops every `!empty` sentence from
// the stream: RouterOS 7.18+ answers a print that finds nothing with `!empty` and then
// `!done`, and go-routeros v3.0.0 returns *UnknownReplyError for the `!empty`, leaving
// the `!done` to answer the next command (mikrotik-radius.md §6). Without it the client
// sees the `!done` alone: an empty reply, as older RouterOS sends.
type wire struct {
	net.Conn
	r       *bufio.Reader
	pending []byte // the rest of the sentence being handed out
	empties *atomic.Uint64
}

func newWire(c net.Conn, empties *atomic.Uint64) *wire {
	return &wire{Conn: c, r: bufio.NewReader(c), empties: empties}
}

// Read hands out whole sentences, skipping `!empty` ones. An error mid-sentence loses
// the part read: the caller drops the connection on any error.
func (w *wire) Read(p []byte) (int, error) {
	for len(w.pending) == 0 {
		s, first, err := w.readSentence()
		if err != nil {
			return 0, err
		}
		if first == "!empty" {
			w.empties.Add(1)
			continue
		}
		w.pending = s
	}
	n := copy(p, w.pending)
	w.pending = w.pending[n:]
	return n, nil
}

// readSentence reads one sentence as it came (length-prefixed words ending with an
// empty word) and returns its bytes and its first word.
func (w *wire) readSentence() (raw []byte, first string, err error) {
	for {
		start := len(raw)
		n, err := w.readLength(&raw)
		if err != nil {
			return nil, "", err
		}
		if n == 0 {
			return raw, first, nil
		}
		if n > maxWord || len(raw)+n > maxSentence {
			return nil, "", fmt.Errorf("routeros: a word of %d bytes: the router's reply is too large", n)
		}
		raw = append(raw, make([]byte, n)...)
		if _, err := io.ReadFull(w.r, raw[len(raw)-n:]); err != nil {
			return nil, "", err
		}
		if start == 0 {
			first = string(raw[len(raw)-n:])
		}
	}
}

// readLength reads a word's length prefix (RouterOS API encoding: 1 to 5 bytes),
// appending its bytes to raw.
func (w *wire) readLength(raw *[]byte) (int, error) {
	b, err := w.r.ReadByte()
	if err != nil {
		return 0, err
	}
	*raw = append(*raw, b)
	var extra int
	var n int
	switch {
	case b&0x80 == 0:
		return int(b), nil
	case b&0xC0 == 0x80:
		extra, n = 1, int(b&0x3F)
	case b&0xE0 == 0xC0:
		extra, n = 2, int(b&0x1F)
	case b&0xF0 == 0xE0:
		extra, n = 3, int(b&0x0F)
	case b == 0xF0:
		extra, n = 4, 0
	default:
		return 0, errors.New("routeros: a reserved control byte in the router's reply")
	}
	for range extra {
		if b, err = w.r.ReadByte(); err != nil {
			return 0, err
		}
		*raw = append(*raw, b)
		n = n<<8 | int(b)
	}
	return n, nil
}
