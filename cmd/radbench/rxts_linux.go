//go:build linux && (amd64 || arm64)

package main

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"time"
)

// Kernel receive timestamps (SO_TIMESTAMPNS) on 64-bit little-endian Linux,
// where a control message is cmsghdr{len uint64, level int32, type int32}
// followed by its data aligned to 8 bytes, and the SCM_TIMESTAMPNS payload
// is a timespec{sec int64, nsec int64} of CLOCK_REALTIME.

const rxTimestampSupported = true

const (
	cmsgHdrLen  = 16 // syscall.SizeofCmsghdr
	cmsgAlign   = 8  // sizeof(long)
	timespecLen = 16 // syscall.Timespec
)

// rxOOBLen is big enough for one SCM_TIMESTAMPNS message
// (syscall.CmsgSpace(16) = 32) with room to spare.
const rxOOBLen = 64

// enableRxTimestamp asks the kernel to attach the arrival time of every
// datagram received on conn as an SCM_TIMESTAMPNS control message.
func enableRxTimestamp(conn *net.UDPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// parseRxTimestamp returns the SCM_TIMESTAMPNS arrival time in oob (the
// control bytes filled in by recvmsg) as Unix nanoseconds. It walks the
// control messages by hand and never allocates; ok is false when there is no
// well-formed timestamp.
func parseRxTimestamp(oob []byte) (unixNano int64, ok bool) {
	for len(oob) >= cmsgHdrLen {
		l := binary.LittleEndian.Uint64(oob[0:8])
		level := int32(binary.LittleEndian.Uint32(oob[8:12]))
		typ := int32(binary.LittleEndian.Uint32(oob[12:16]))
		if l < cmsgHdrLen || l > uint64(len(oob)) {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS {
			if l < cmsgHdrLen+timespecLen {
				return 0, false
			}
			sec := int64(binary.LittleEndian.Uint64(oob[cmsgHdrLen : cmsgHdrLen+8]))
			nsec := int64(binary.LittleEndian.Uint64(oob[cmsgHdrLen+8 : cmsgHdrLen+16]))
			return sec*1e9 + nsec, true
		}
		next := (l + cmsgAlign - 1) &^ (cmsgAlign - 1)
		if next >= uint64(len(oob)) {
			break
		}
		oob = oob[next:]
	}
	return 0, false
}

// awaitRxTimestamping waits (up to maxWait) until the kernel stamps
// datagrams when they arrive. Enabling SO_TIMESTAMPNS on the first socket of
// the system switches arrival stamping on asynchronously (the
// netstamp_needed static key is flipped from a work queue); until then
// recvmsg stamps a datagram when it is READ, which would silently turn kernel
// latency back into app latency. The probe sends a datagram to itself,
// leaves it queued for a few milliseconds and checks that its timestamp
// predates the read. Call it after the workers' sockets have timestamping
// enabled (they keep it on).
func awaitRxTimestamping(maxWait time.Duration) error {
	const gap = 3 * time.Millisecond
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := enableRxTimestamp(conn); err != nil {
		return err
	}
	self := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	var buf [16]byte
	var oob [rxOOBLen]byte
	deadline := time.Now().Add(maxWait)
	for {
		sent := time.Now().UnixNano()
		if _, err := conn.WriteToUDPAddrPort([]byte("radbench-probe"), self); err != nil {
			return err
		}
		time.Sleep(gap)
		if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			return err
		}
		_, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf[:], oob[:])
		if err != nil {
			return err
		}
		read := time.Now().UnixNano()
		if rx, ok := parseRxTimestamp(oob[:oobn]); ok && rx >= sent && rx < read-int64(gap)/2 {
			return nil // stamped on arrival
		}
		if time.Now().After(deadline) {
			return errors.New("the kernel still stamps datagrams when they are read, not when they arrive")
		}
	}
}
