package radius

import (
	"context"
	"net/netip"
	"time"
)

// AcctStatus is Acct-Status-Type (RFC 2866 §5.1).
type AcctStatus uint8

// Accounting status types tollgate acts on.
const (
	AcctStart         AcctStatus = 1
	AcctStop          AcctStatus = 2
	AcctInterim       AcctStatus = 3
	AcctAccountingOn  AcctStatus = 7
	AcctAccountingOff AcctStatus = 8
)

// String returns the status's short name.
func (s AcctStatus) String() string {
	switch s {
	case AcctStart:
		return "start"
	case AcctStop:
		return "stop"
	case AcctInterim:
		return "interim"
	case AcctAccountingOn:
		return "accounting-on"
	case AcctAccountingOff:
		return "accounting-off"
	}
	return "other"
}

// Terminate causes written by tollgate itself, beside the RFC 2866 ones the NAS sends.
const (
	// CauseStale closes a session that missed its interim updates (the reaper). It is
	// the one cause that is not final: the router may only have been cut off from
	// tollgate, so a later Interim-Update of the session reopens it and a Stop completes it.
	CauseStale = "Stale-Session"
	// CauseNASRestart closes a NAS's sessions on Accounting-On/Off.
	CauseNASRestart = "NAS-Reboot"
)

// AcctRecord is one Accounting-Request in domain terms. Counters are session totals
// (64-bit, Gigawords folded in); EventTime is when the NAS saw the event
// (Event-Timestamp, or arrival minus Acct-Delay-Time).
type AcctRecord struct {
	NASID           int64
	SessionID       string // Acct-Session-Id, unique per NAS only
	Status          AcctStatus
	Username        string
	EventTime       time.Time
	SessionTime     uint32 // seconds
	InputOctets     uint64 // from the client (upload)
	OutputOctets    uint64 // to the client (download)
	InputPackets    uint32
	OutputPackets   uint32
	FramedIP        netip.Addr
	MAC             string // Calling-Station-Id, normalized when it is a MAC
	CalledStationID string
	NASPortID       string
	Class           string
	TerminateCause  string // RFC 2866 §5.10 name, e.g. "User-Request"
	Interim         uint32 // the interval the session was given, seconds (0 = unknown)
	// NASAddr is the address the packet came from: the router itself, which for a NAS
	// entry that is an address range is not the NAS's address. Disconnect and CoA go there.
	NASAddr netip.Addr
}

// Key returns the session key: Acct-Session-Id repeats across routers.
func (r *AcctRecord) Key() SessionKey { return SessionKey{NASID: r.NASID, SessionID: r.SessionID} }

// SessionKey identifies a session: (NAS, Acct-Session-Id).
type SessionKey struct {
	NASID     int64
	SessionID string
}

// Session is an accounting session as stored.
type Session struct {
	NASID          int64
	NASName        string
	SessionID      string
	Username       string
	MAC            string
	FramedIP       netip.Addr
	StartedAt      time.Time
	StoppedAt      time.Time // zero while open
	LastUpdate     time.Time
	SessionTime    uint32
	InputOctets    uint64
	OutputOctets   uint64
	TerminateCause string
	Interim        uint32
	NASAddr        netip.Addr // where the session's accounting last came from (invalid: unknown)
}

// Live returns the session as the live index and Disconnector take it.
func (s *Session) Live() LiveSession {
	return LiveSession{Key: SessionKey{NASID: s.NASID, SessionID: s.SessionID}, Username: s.Username,
		FramedIP: s.FramedIP, MAC: s.MAC, NASAddr: s.NASAddr}
}

// Open reports whether the session has not stopped.
func (s *Session) Open() bool { return s.StoppedAt.IsZero() }

// Accounter durably records accounting. Record returns only once the record is durable
// (committed to Postgres or fsynced to the spool): the Accounting-Response waits on it.
type Accounter interface {
	Record(ctx context.Context, r *AcctRecord) error
}

// StaleAfter is how long a session may go without an update before the reaper closes it:
// two interim intervals plus a grace, and a default interval when the NAS gave none.
func StaleAfter(interim uint32, grace time.Duration) time.Duration {
	if interim == 0 {
		interim = 300
	}
	return 2*time.Duration(interim)*time.Second + grace
}

// LimitReached reports whether an open session of a must be cut now: validity ended
// (a subscription's state replaces the validity window; an isolated one without an
// isolation plan is cut), the usage reached the uptime or data limit, or the voucher
// was revoked, expired or exhausted. It returns the reason.
func LimitReached(a *Account, u Usage, now time.Time) (Reason, bool) {
	switch {
	case a.Status == StatusSuspended:
		return ReasonSuspended, true
	case a.Status != StatusActive:
		return ReasonDisabled, true
	case a.VoucherState != "" && !a.VoucherState.Usable():
		r, _ := voucherStateReason(a, u)
		return r, true
	case a.Subscription == SubscriptionIsolated && a.IsolationPlanID == 0:
		// Unpaid with no isolation plan: no service at all, even if a Disconnect was lost.
		return ReasonUnpaid, true
	case !a.Subscribed() && !a.ValidUntil.IsZero() && !now.Before(a.ValidUntil):
		return ReasonExpired, true
	case a.UptimeLimit > 0 && u.Uptime >= a.UptimeLimit:
		return ReasonUptimeExhausted, true
	case a.DataLimit > 0 && u.Bytes >= a.DataLimit:
		return ReasonDataExhausted, true
	}
	return ReasonOK, false
}

// UsageStore reads usage from the source of truth (Postgres).
type UsageStore interface {
	// FindUsage returns the uptime and bytes (input+output) of username's sessions that
	// started at or after since (zero: all).
	FindUsage(ctx context.Context, username string, since time.Time) (Usage, error)
}

// LiveSession is a session in the live index (Redis).
type LiveSession struct {
	Key      SessionKey
	Username string
	FramedIP netip.Addr
	MAC      string
	// NASAddr is the router address the session's accounting came from (invalid: unknown).
	NASAddr netip.Addr
	// Deadline is when the session counts as stale unless another update comes.
	Deadline time.Time
}

// LiveSessions is the live session index and the usage counters (Redis), fed by accounting.
type LiveSessions interface {
	// Update applies a durable accounting record: it adds, refreshes or (on Stop) removes
	// the session, and adds the growth of its counters to the account's usage exactly once
	// however often the record is replayed. It returns the usage after the update, and
	// ok=false when no usage was cached (the caller reads it from the UsageStore, and
	// fills the cache with gen: UsageCache.SetUsage).
	Update(ctx context.Context, r *AcctRecord, staleAfter time.Duration) (u Usage, gen int64, ok bool, err error)
	// CloseNAS removes every live session of a NAS (Accounting-On/Off) and returns them.
	CloseNAS(ctx context.Context, nasID int64) ([]LiveSession, error)
	// Remove takes sessions the reaper closed out of the online index, keeping their
	// counters so that a later Interim-Update or Stop of the same session reopens or
	// completes it and adds only the growth since to the usage.
	Remove(ctx context.Context, keys []SessionKey, usernames []string) error
	// Online returns username's live sessions that are not stale at now.
	Online(ctx context.Context, username string, now time.Time) ([]LiveSession, error)
}

// SessionFilter selects sessions for listings. Zero fields do not filter.
type SessionFilter struct {
	Username  string
	NASName   string
	SessionID string
	Online    bool
	Limit     int
	// After continues a listing after this session (listings go newest start first).
	After *SessionPos
}

// SessionPos is a session's place in a listing: its start, NAS and Acct-Session-Id.
type SessionPos struct {
	StartedAt time.Time
	NASID     int64
	SessionID string
}

// SessionStats are totals over all sessions.
type SessionStats struct {
	Sessions     int64
	Open         int64
	Closed       int64
	InputOctets  int64
	OutputOctets int64
}

// CoAResult is the outcome of a Disconnect-Request or CoA-Request.
type CoAResult struct {
	NASID      int64
	SessionID  string
	Username   string
	Kind       string // "disconnect" or "coa"
	Result     string // "ack", "nak", "timeout", "error"
	ErrorCause int    // RFC 5176 Error-Cause from a NAK, 0 if none
	Reason     string // why tollgate sent it, e.g. "data_exhausted", "admin"
}

// SessionStore is the durable session table (Postgres).
type SessionStore interface {
	// FindSessions lists sessions newest first.
	FindSessions(ctx context.Context, f SessionFilter) ([]Session, error)
	// SessionStats returns totals over every session.
	SessionStats(ctx context.Context) (SessionStats, error)
	// CloseStaleSessions closes every open session whose last update is older than
	// StaleAfter(its interim, grace) at now, with CauseStale and the stop time set to its
	// last update, and returns them.
	CloseStaleSessions(ctx context.Context, now time.Time, grace time.Duration) ([]Session, error)
	// CloseNASSessions closes every open session of a NAS at `at` with cause.
	CloseNASSessions(ctx context.Context, nasID int64, at time.Time, cause string) ([]Session, error)
	// RecordCoA writes the outcome of a Disconnect or CoA.
	RecordCoA(ctx context.Context, r CoAResult) error
}
