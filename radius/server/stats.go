package server

import (
	"sync/atomic"

	tg "tollgate/radius"
)

const maxReasons = 32

// Stats counts what the engine did with every datagram. Counters only grow; metrics.go
// exposes them to Prometheus.
type Stats struct {
	Received         atomic.Uint64 // datagrams read
	UnknownNAS       atomic.Uint64 // dropped: source is no configured NAS
	Malformed        atomic.Uint64 // dropped: bad length or attributes
	BadAuthenticator atomic.Uint64 // dropped: Message-Authenticator or authenticator wrong
	MissingMA        atomic.Uint64 // dropped: Message-Authenticator required but absent
	UnknownCode      atomic.Uint64 // dropped: a code this port does not serve
	Duplicates       atomic.Uint64 // retransmits answered from the reply cache or dropped in flight
	Shed             atomic.Uint64 // dropped: all workers busy and the queue full
	Internal         atomic.Uint64 // not answered: a store failed or a handler panicked
	StatusServer     atomic.Uint64 // Status-Server answered
	Accepts          atomic.Uint64
	AcctRecorded     atomic.Uint64 // Accounting-Requests made durable and answered
	Rejects          atomic.Uint64
	ThrottleErrors   atomic.Uint64 // the voucher login throttle could not be read or written
	reasons          [maxReasons]atomic.Uint64
}

// Reason returns how many decisions had reason r.
func (s *Stats) Reason(r tg.Reason) uint64 { return s.reasons[r%maxReasons].Load() }
