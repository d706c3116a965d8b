package radius

import (
	"context"
	"log/slog"
	"time"
)

// Reap closes the sessions that missed their interim updates (two intervals plus Grace):
// a router that crashed or lost its link never sends their Stop, and they would block
// the account's simultaneous-use budget. It returns how many it closed.
//
// A session is only judged on what Postgres holds, so Reap does nothing while Backlog
// reports accounting records that were acknowledged but wait in the spool: after an
// outage every session would look silent, though its updates are on their way. The
// backlog is this process's own; a replica whose spool still holds records cannot stop
// another replica's reaper (it cannot reach Postgres to say so). That is safe because a
// reaped session is not final: the replayed Interim-Update reopens it and a Stop
// completes it, counting usage once (CauseStale). Skipped runs are logged and counted
// (ReapsSkipped).
func (e *Enforcer) Reap(ctx context.Context) (int, error) {
	if e.Backlog != nil {
		if n := e.Backlog(); n > 0 {
			e.reapsSkipped.Add(1)
			e.logger().LogAttrs(ctx, slog.LevelWarn, "reaper: skipped, accounting records wait in the spool for Postgres",
				slog.Int64("backlog", n))
			return 0, nil
		}
	}
	closed, err := e.Sessions.CloseStaleSessions(ctx, e.now(), e.Grace)
	if err != nil || len(closed) == 0 {
		return 0, err
	}
	keys := make([]SessionKey, len(closed))
	users := make([]string, len(closed))
	for i, s := range closed {
		keys[i] = SessionKey{NASID: s.NASID, SessionID: s.SessionID}
		users[i] = s.Username
	}
	e.reaped.Add(uint64(len(closed)))
	return len(closed), e.Live.Remove(ctx, keys, users)
}

// ReapsSkipped returns how many reaper runs were skipped for an accounting backlog.
func (e *Enforcer) ReapsSkipped() uint64 { return e.reapsSkipped.Load() }

// Reaped returns how many sessions the reaper closed.
func (e *Enforcer) Reaped() uint64 { return e.reaped.Load() }

// Sweep checks every open session against its account and cuts those whose account was
// suspended, expired or used up since the last accounting update (validity runs out
// between interim updates). It returns how many disconnects it started.
func (e *Enforcer) Sweep(ctx context.Context) (int, error) {
	open, err := e.Sessions.FindSessions(ctx, SessionFilter{Online: true, Limit: 10000})
	if err != nil {
		return 0, err
	}
	now, n := e.now(), 0
	for i := range open {
		s := &open[i]
		a, err := e.Accounts.FindByUsername(ctx, s.Username)
		if ErrorCode(err) == ENOTFOUND {
			continue
		}
		if err != nil {
			return n, err
		}
		u, err := e.Usage.FindUsage(ctx, a.Username, a.ValidFrom)
		if err != nil {
			return n, err
		}
		if reason, cut := LimitReached(a, u, now); cut {
			e.Cut(s.Live(), reason.String())
			n++
		}
	}
	return n, nil
}

// DisconnectUser ends every open session of username now (suspension, disabling, an
// admin's request) and returns the outcomes.
func (e *Enforcer) DisconnectUser(ctx context.Context, username, reason string) ([]CoAResult, error) {
	open, err := e.Sessions.FindSessions(ctx, SessionFilter{Username: username, Online: true, Limit: 1000})
	if err != nil {
		return nil, err
	}
	var out []CoAResult
	for i := range open {
		r, err := e.Disconnect.Disconnect(ctx, open[i].Live(), reason)
		if err != nil && r.Result == "" {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// staleGraceDefault is the grace added to two interim intervals.
const staleGraceDefault = 60 * time.Second

// DefaultGrace returns the grace the reaper uses when none is configured.
func DefaultGrace() time.Duration { return staleGraceDefault }
