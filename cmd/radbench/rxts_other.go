//go:build !(linux && (amd64 || arm64))

package main

import (
	"errors"
	"net"
	"time"
)

// Kernel receive timestamps are only implemented for 64-bit little-endian
// Linux; elsewhere radbench measures latency in the application (-latency
// kernel falls back to app).

const rxTimestampSupported = false

const rxOOBLen = 0

func enableRxTimestamp(*net.UDPConn) error {
	return errors.New("kernel receive timestamps are not supported on this platform")
}

func parseRxTimestamp([]byte) (int64, bool) { return 0, false }

func awaitRxTimestamping(time.Duration) error { return nil }
