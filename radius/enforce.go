package radius

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Disconnector ends a session on its NAS (Disconnect-Request) and records the outcome.
type Disconnector interface {
	Disconnect(ctx context.Context, s LiveSession, reason string) (CoAResult, error)
}

// UsageCache holds the usage the RADIUS path reads (Redis); it is refilled from the
// UsageStore when absent.
type UsageCache interface {
	// SetUsage stores u (read from the store) for username unless a value is already
	// there, or a record was applied to the live index without usage since the caller
	// read gen (AuthSnapshot.UsageGen, or what LiveSessions.Update returned): the store
	// read may then have missed that record, and the next fill reads it again.
	SetUsage(ctx context.Context, username string, u Usage, gen int64) error
}

// Enforcer keeps the live index and usage current from accounting, and cuts the sessions
// of accounts that ran out of validity, time or data, or were suspended.
type Enforcer struct {
	Accounts interface {
		FindByUsername(ctx context.Context, username string) (*Account, error)
	}
	Sessions   SessionStore
	Live       LiveSessions
	Usage      UsageStore
	UsageCache UsageCache
	Disconnect Disconnector
	// Grace is added to two interim intervals before a silent session counts as stale.
	Grace time.Duration
	// DisconnectTimeout bounds one disconnect with its retries. Default 10s.
	DisconnectTimeout time.Duration
	Now               func() time.Time
	Log               *slog.Logger

	// Cooldown is how long after a disconnect the same session is not cut again (the NAS
	// should have sent its Stop by then). Default 1m.
	Cooldown time.Duration
	// Backlog, when set, returns how many acknowledged accounting records wait for
	// Postgres (the accounting writer's spool); Reap does nothing while it is above zero.
	Backlog func() int64

	cutting              sync.Map // SessionKey → time.Time of the last disconnect started
	wg                   sync.WaitGroup
	reapsSkipped, reaped atomic.Uint64
}

func (e *Enforcer) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Enforcer) logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

// AfterAccounting applies a durable record to the live index, then checks the account's
// limits with the usage it now has. It never blocks on a disconnect.
func (e *Enforcer) AfterAccounting(ctx context.Context, r *AcctRecord, a *Account) {
	switch r.Status {
	case AcctAccountingOn, AcctAccountingOff:
		if _, err := e.Live.CloseNAS(ctx, r.NASID); err != nil {
			e.logger().LogAttrs(ctx, slog.LevelWarn, "live: close NAS sessions", slog.Int64("nas", r.NASID), slog.String("err", err.Error()))
		}
		return
	}
	u, gen, ok, err := e.Live.Update(ctx, r, StaleAfter(r.Interim, e.Grace))
	if err != nil {
		e.logger().LogAttrs(ctx, slog.LevelWarn, "live: update", slog.String("user", r.Username), slog.String("acct_session_id", r.SessionID), slog.String("err", err.Error()))
		return
	}
	if a == nil || r.Status == AcctStop {
		return
	}
	if !ok {
		if u, err = e.fillUsage(ctx, a, u, gen); err != nil {
			e.logger().LogAttrs(ctx, slog.LevelWarn, "usage: fill", slog.String("user", a.Username), slog.String("err", err.Error()))
			return
		}
	}
	if reason, cut := LimitReached(a, u, e.now()); cut {
		e.Cut(LiveSession{Key: r.Key(), Username: r.Username, FramedIP: r.FramedIP, MAC: r.MAC, NASAddr: r.NASAddr}, reason.String())
	}
}

// fillUsage reads usage since the account's validity began from the store and caches it.
func (e *Enforcer) fillUsage(ctx context.Context, a *Account, u Usage, gen int64) (Usage, error) {
	if a.UptimeLimit == 0 && a.DataLimit == 0 {
		return u, nil // nothing to enforce: no need to sum sessions
	}
	pu, err := e.Usage.FindUsage(ctx, a.Username, a.ValidFrom)
	if err != nil {
		return u, err
	}
	u.Uptime, u.Bytes = pu.Uptime, pu.Bytes
	if e.UsageCache != nil {
		_ = e.UsageCache.SetUsage(ctx, a.Username, u, gen)
	}
	return u, nil
}

// Cut disconnects one session in the background, at most once per Cooldown per session;
// the outcome is recorded by the Disconnector.
func (e *Enforcer) Cut(s LiveSession, reason string) {
	now := e.now()
	cooldown := e.Cooldown
	if cooldown <= 0 {
		cooldown = time.Minute
	}
	if last, ok := e.cutting.Load(s.Key); ok && now.Sub(last.(time.Time)) < cooldown {
		return
	}
	if prev, loaded := e.cutting.Swap(s.Key, now); loaded && now.Sub(prev.(time.Time)) < cooldown {
		return // another goroutine just started it
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		d := e.DisconnectTimeout
		if d <= 0 {
			d = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if _, err := e.Disconnect.Disconnect(ctx, s, reason); err != nil {
			e.logger().LogAttrs(ctx, slog.LevelWarn, "disconnect", slog.String("user", s.Username), slog.String("acct_session_id", s.SessionID()), slog.String("err", err.Error()))
		}
	}()
	// Forget old entries now and then so the map does not grow with every session ever cut.
	e.cutting.Range(func(k, v any) bool {
		if now.Sub(v.(time.Time)) > cooldown {
			e.cutting.Delete(k)
		}
		return true
	})
}

// Wait blocks until every background disconnect has finished (for shutdown and tests).
func (e *Enforcer) Wait() { e.wg.Wait() }

// SessionID returns the session's Acct-Session-Id.
func (s LiveSession) SessionID() string { return s.Key.SessionID }
