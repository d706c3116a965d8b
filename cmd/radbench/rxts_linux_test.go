//go:build linux && (amd64 || arm64)

package main

import (
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"time"
)

// tsCmsg frames an SCM_TIMESTAMPNS control message the way the kernel does,
// using syscall.CmsgLen/CmsgSpace for the header length and the padding.
func tsCmsg(sec, nsec int64) []byte {
	b := make([]byte, syscall.CmsgSpace(timespecLen))
	binary.LittleEndian.PutUint64(b[0:8], uint64(syscall.CmsgLen(timespecLen)))
	binary.LittleEndian.PutUint32(b[8:12], uint32(syscall.SOL_SOCKET))
	binary.LittleEndian.PutUint32(b[12:16], uint32(syscall.SCM_TIMESTAMPNS))
	binary.LittleEndian.PutUint64(b[syscall.CmsgLen(0):], uint64(sec))
	binary.LittleEndian.PutUint64(b[syscall.CmsgLen(0)+8:], uint64(nsec))
	return b
}

func TestParseRxTimestamp(t *testing.T) {
	if syscall.SizeofCmsghdr != cmsgHdrLen || syscall.CmsgLen(0) != cmsgHdrLen ||
		syscall.CmsgSpace(timespecLen) != cmsgHdrLen+timespecLen || syscall.CmsgSpace(timespecLen) > rxOOBLen {
		t.Fatalf("cmsg layout: SizeofCmsghdr=%d CmsgLen(0)=%d CmsgSpace(16)=%d", syscall.SizeofCmsghdr, syscall.CmsgLen(0), syscall.CmsgSpace(timespecLen))
	}
	const sec, nsec = 1_700_000_000, 123_456_789
	const want = int64(sec)*1e9 + nsec

	// Entirely by hand: cmsghdr{len=32, level=1, type=35}, timespec.
	hand := []byte{
		32, 0, 0, 0, 0, 0, 0, 0, // len (uint64)
		1, 0, 0, 0, // SOL_SOCKET
		35, 0, 0, 0, // SCM_TIMESTAMPNS
		0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0, // sec 1700000000
		0x15, 0xcd, 0x5b, 0x07, 0, 0, 0, 0, // nsec 123456789
	}
	if syscall.SOL_SOCKET != 1 || syscall.SCM_TIMESTAMPNS != 35 {
		t.Fatalf("unexpected constants SOL_SOCKET=%d SCM_TIMESTAMPNS=%d", syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS)
	}
	framed := tsCmsg(sec, nsec)
	if string(hand) != string(framed) {
		t.Fatalf("hand-built and CmsgSpace-framed messages differ:\n% x\n% x", hand, framed)
	}

	// After an SCM_RIGHTS message with one fd (len 20, padded to 24) the
	// timestamp starts at CmsgSpace(4).
	rights := syscall.UnixRights(5)
	if len(rights) != syscall.CmsgSpace(4) {
		t.Fatalf("UnixRights length %d", len(rights))
	}
	after := append(append([]byte(nil), rights...), framed...)

	for name, tc := range map[string]struct {
		oob  []byte
		ok   bool
		want int64
	}{
		"hand":             {hand, true, want},
		"framed":           {framed, true, want},
		"after-rights":     {after, true, want},
		"in-bigger-buffer": {append(append([]byte(nil), framed...), make([]byte, 32)...)[:len(framed)], true, want},
		"empty":            {nil, false, 0},
		"rights-only":      {rights, false, 0},
		"short-header":     {hand[:12], false, 0},
		"truncated-data":   {hand[:24], false, 0},
		"len-too-small": {func() []byte {
			b := append([]byte(nil), hand...)
			b[0] = 8
			return b
		}(), false, 0},
		"short-payload": {func() []byte {
			b := append([]byte(nil), hand...)
			b[0] = 24 // cmsg carries only 8 data bytes
			return b
		}(), false, 0},
		"other-type": {func() []byte {
			b := append([]byte(nil), hand...)
			b[12] = byte(syscall.SO_TIMESTAMP)
			return b
		}(), false, 0},
	} {
		got, ok := parseRxTimestamp(tc.oob)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: got %d, %t; want %d, %t", name, got, ok, tc.want, tc.ok)
		}
		if !tc.ok {
			continue
		}
		// Cross-check with the standard library's parser.
		msgs, err := syscall.ParseSocketControlMessage(tc.oob)
		if err != nil {
			t.Fatalf("%s: ParseSocketControlMessage: %v", name, err)
		}
		found := false
		for _, m := range msgs {
			if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS {
				found = true
				ts := syscall.Timespec{
					Sec:  int64(binary.LittleEndian.Uint64(m.Data[0:8])),
					Nsec: int64(binary.LittleEndian.Uint64(m.Data[8:16])),
				}
				if ts.Nano() != got {
					t.Errorf("%s: stdlib parse %d, ours %d", name, ts.Nano(), got)
				}
			}
		}
		if !found {
			t.Errorf("%s: stdlib found no SCM_TIMESTAMPNS", name)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseRxTimestamp(after) }); n != 0 {
		t.Errorf("parseRxTimestamp allocates %v times", n)
	}
}

// TestRxTimestampSocket enables SO_TIMESTAMPNS on a real socket and checks
// that the kernel timestamp lies between the send and the read.
func TestRxTimestampSocket(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := enableRxTimestamp(c); err != nil {
		t.Fatal(err)
	}
	// c keeps timestamping wanted; arrival stamping may be switched on
	// asynchronously, which awaitRxTimestamping waits for.
	if err := awaitRxTimestamping(time.Second); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixNano()
	if _, err := srv.WriteToUDP([]byte("hello"), c.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 64)
	oob := make([]byte, rxOOBLen)
	c.SetReadDeadline(time.Now().Add(time.Second))
	n, oobn, flags, _, err := c.ReadMsgUDPAddrPort(buf, oob)
	after := time.Now().UnixNano()
	if err != nil || string(buf[:n]) != "hello" || flags&syscall.MSG_CTRUNC != 0 {
		t.Fatalf("read %q flags %#x: %v", buf[:n], flags, err)
	}
	rx, ok := parseRxTimestamp(oob[:oobn])
	if !ok {
		t.Fatalf("no timestamp in % x", oob[:oobn])
	}
	if rx < before || rx > after-int64(15*time.Millisecond) {
		t.Errorf("rx %d not in [%d, %d - 15ms]", rx, before, after)
	}
}
