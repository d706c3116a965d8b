package radius

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// RouterStore keeps the routers' API settings and heartbeats (Postgres).
type RouterStore interface {
	// FindRouterTargets returns every NAS with an API, by name, passwords sealed.
	FindRouterTargets(ctx context.Context) ([]RouterTarget, error)
	// FindRouterTarget returns the NAS named name with its API, password sealed.
	// ENOTFOUND for no such NAS, or one without an API.
	FindRouterTarget(ctx context.Context, name string) (*RouterTarget, error)
	// FindRouterTargetByID is FindRouterTarget by the NAS's id.
	FindRouterTargetByID(ctx context.Context, nasID int64) (*RouterTarget, error)
	// RecordRouterPoll applies poll h to its router's state (RouterState.Apply with
	// downAfter) in one transaction, recording a transition once, and returns the new
	// state and the transition. ENOTFOUND for a NAS that no longer exists.
	RecordRouterPoll(ctx context.Context, h RouterHealth, downAfter int) (RouterState, RouterTransition, error)
}

// RouterEvent is one time a router went down or came back.
type RouterEvent struct {
	NASName string
	At      time.Time
	State   RouterTransition
	Error   string // the poll's error that took it down
}

// RouterHealthReader reads the routers' heartbeats: each NAS's RouterOS health for the
// dashboard and listings.
type RouterHealthReader interface {
	// FindRouterStates returns the state of every router polled so far, by NAS name.
	FindRouterStates(ctx context.Context) ([]RouterState, error)
	// FindRouterEvents returns the newest transitions first, of the NAS named name or
	// ("") of every NAS: at most limit (default 100, at most 10000).
	FindRouterEvents(ctx context.Context, name string, limit int) ([]RouterEvent, error)
}

// SessionCloser closes sessions on tollgate's own judgement (Postgres).
type SessionCloser interface {
	// CloseSessions closes those of sessions that are still open and were not updated
	// since they were read (their LastUpdate), stopping each at its last update with
	// cause, and returns the ones it closed.
	CloseSessions(ctx context.Context, sessions []Session, cause string) ([]Session, error)
}

// Routers polls the routers' APIs, records their heartbeats, alerts admins when one
// goes down or comes back, reconciles their active lists with the open sessions, and
// removes sessions through the API. It is safe for concurrent use.
type Routers struct {
	Store    RouterStore
	Sessions interface {
		FindSessions(ctx context.Context, f SessionFilter) ([]Session, error)
	}
	Closer SessionCloser
	Live   LiveSessions
	Opener Opener
	Dialer RouterDialer
	Alerts AdminAlerts
	// DownAfter is how many polls in a row a router may miss before it is down
	// (default DefaultRouterDownAfter).
	DownAfter int
	// Backlog, when set, returns how many acknowledged accounting records wait for
	// Postgres; reconciliation closes nothing while it is above zero, as the records
	// may be the very Starts and Interim-Updates it would judge by.
	Backlog func() int64
	// Parallel bounds the routers polled at once by PollAll (default 8).
	Parallel int
	Now      func() time.Time
	Log      *slog.Logger

	down atomic.Int64
}

func (r *Routers) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Routers) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Down returns how many routers were down after the last PollAll.
func (r *Routers) Down() int64 { return r.down.Load() }

// router opens t's API password and returns its API.
func (r *Routers) router(t *RouterTarget) (Router, error) {
	plain, err := r.Opener.Open(t.API.Password, SealNASAPIPassword.AD(t.NASID))
	if err != nil {
		return nil, &Error{Code: EINVALID, Message: fmt.Sprintf("api: the API password of NAS %q cannot be opened (is TOLLGATE_SECRET_KEY the key it was sealed with? set it again with tollgate nas set --api-password-file)", t.NASName), Err: err}
	}
	open := *t
	open.API.Password = plain
	return r.Dialer.Router(open), nil
}

// maxErrorText bounds the error kept with a heartbeat.
const maxErrorText = 500

// Poll reads t's health now, records the heartbeat and alerts admins of a transition.
// A router that does not answer is a failed poll in the state, not an error: the error
// is the store's.
func (r *Routers) Poll(ctx context.Context, t *RouterTarget) (RouterState, error) {
	h := RouterHealth{}
	api, err := r.router(t)
	if err == nil {
		h, err = api.Health(ctx)
	}
	h.NASID, h.NASName, h.PolledAt = t.NASID, t.NASName, r.now()
	if err != nil {
		h = RouterHealth{NASID: t.NASID, NASName: t.NASName, PolledAt: h.PolledAt, Error: err.Error()}
		if len(h.Error) > maxErrorText {
			h.Error = h.Error[:maxErrorText]
		}
	}
	st, tr, err := r.Store.RecordRouterPoll(ctx, h, r.DownAfter)
	if err != nil {
		return st, err
	}
	if tr != "" {
		r.alert(ctx, t, st, tr)
	}
	return st, nil
}

// alert logs a transition and sends it to the admins. A failed alert is logged: the
// transition itself is recorded already.
func (r *Routers) alert(ctx context.Context, t *RouterTarget, st RouterState, tr RouterTransition) {
	var subject, body string
	at := st.Since.UTC().Format(time.RFC3339)
	if tr == RouterWentDown {
		subject = fmt.Sprintf("tollgate: router %s is down", t.NASName)
		body = fmt.Sprintf("The RouterOS API of %s (%s) missed %d polls in a row; down since %s.\nLast error: %s\n",
			t.NASName, t.API.Address, st.Failures, at, st.Error)
		r.logger().LogAttrs(ctx, slog.LevelWarn, "router down", slog.String("nas", t.NASName), slog.Int("failures", st.Failures), slog.String("err", st.Error))
	} else {
		subject = fmt.Sprintf("tollgate: router %s is up again", t.NASName)
		body = fmt.Sprintf("The RouterOS API of %s (%s) answers again since %s: RouterOS %s on %s, up %s.\n",
			t.NASName, t.API.Address, at, st.Health.Version, st.Health.BoardName, st.Health.Uptime)
		r.logger().LogAttrs(ctx, slog.LevelInfo, "router up", slog.String("nas", t.NASName), slog.String("version", st.Health.Version))
	}
	if r.Alerts == nil {
		return
	}
	if err := r.Alerts.SendAdminAlert(ctx, subject, body); err != nil {
		r.logger().LogAttrs(ctx, slog.LevelError, "router alert not sent", slog.String("nas", t.NASName), slog.String("transition", string(tr)), slog.String("err", err.Error()))
	}
}

// Reconciliation is what one comparison of a router's active lists with the open
// sessions found.
type Reconciliation struct {
	NASID   int64
	NASName string
	// Closed are the sessions closed with CauseLostCarrier.
	Closed []Session
	// Unknown are the router's entries no open session matches: logged in without
	// RADIUS (RADIUS false), or whose accounting never reached tollgate.
	Unknown []RouterSession
	// Skipped says why nothing was closed, if so.
	Skipped string
}

// Reconcile compares t's /ppp/active and /ip/hotspot/active with the open sessions of
// its NAS: those the router no longer has (and that are older than ReconcileMargin) are
// closed with CauseLostCarrier and taken out of the live index; the router's entries
// that no session matches are returned and logged. For a NAS that is an address range,
// only sessions whose accounting came from the API's host are compared. The sessions
// are read before the router's lists, so a session that starts in between is at worst
// reported unknown, never closed.
func (r *Routers) Reconcile(ctx context.Context, t *RouterTarget) (Reconciliation, error) {
	res := Reconciliation{NASID: t.NASID, NASName: t.NASName}
	open, err := r.Sessions.FindSessions(ctx, SessionFilter{NASName: t.NASName, Online: true, Limit: 10000})
	if err != nil {
		return res, err
	}
	if !t.Prefix.IsSingleIP() {
		host, ok := t.Host()
		mine := open[:0]
		for _, s := range open {
			if ok && s.NASAddr.Unmap() == host {
				mine = append(mine, s)
			}
		}
		open = mine
	}
	api, err := r.router(t)
	if err != nil {
		return res, err
	}
	active, err := api.ActiveSessions(ctx)
	if err != nil {
		return res, err
	}
	gone, unknown := Reconcile(open, active, r.now())
	res.Unknown = unknown
	r.logUnknown(ctx, t, unknown)
	if len(gone) == 0 {
		return res, nil
	}
	if r.Backlog != nil {
		if n := r.Backlog(); n > 0 {
			res.Skipped = fmt.Sprintf("%d accounting records wait in the spool for Postgres", n)
			r.logger().LogAttrs(ctx, slog.LevelWarn, "reconcile: nothing closed, accounting records wait in the spool", slog.String("nas", t.NASName), slog.Int64("backlog", n))
			return res, nil
		}
	}
	if res.Closed, err = r.Closer.CloseSessions(ctx, gone, CauseLostCarrier); err != nil || len(res.Closed) == 0 {
		return res, err
	}
	keys := make([]SessionKey, len(res.Closed))
	users := make([]string, len(res.Closed))
	for i, s := range res.Closed {
		keys[i], users[i] = SessionKey{NASID: s.NASID, SessionID: s.SessionID}, s.Username
		r.logger().LogAttrs(ctx, slog.LevelInfo, "reconcile: session gone from the router, closed", slog.String("nas", t.NASName),
			slog.String("user", s.Username), slog.String("acct_session_id", s.SessionID))
	}
	return res, r.Live.Remove(ctx, keys, users)
}

// logUnknown logs the router's entries no session matches: at Warn those RADIUS
// authenticated (their accounting is missing), at Debug the router's local users.
func (r *Routers) logUnknown(ctx context.Context, t *RouterTarget, unknown []RouterSession) {
	var users []string
	for _, e := range unknown {
		if e.RADIUS {
			users = append(users, e.List+":"+e.User)
		} else {
			r.logger().LogAttrs(ctx, slog.LevelDebug, "reconcile: local user on the router", slog.String("nas", t.NASName), slog.String("user", e.User))
		}
	}
	if len(users) > 0 {
		r.logger().LogAttrs(ctx, slog.LevelWarn, "reconcile: sessions on the router that tollgate has no accounting for",
			slog.String("nas", t.NASName), slog.Int("count", len(users)), slog.Any("users", users[:min(len(users), 20)]))
	}
}

// PollAll polls every router with an API (Parallel at a time) and reconciles each that
// answered. It returns the stores' errors, joined; routers that do not answer are only
// failed polls.
func (r *Routers) PollAll(ctx context.Context) error {
	targets, err := r.Store.FindRouterTargets(ctx)
	if err != nil {
		return err
	}
	par := r.Parallel
	if par <= 0 {
		par = 8
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		down int64
	)
	sem := make(chan struct{}, par)
	for i := range targets {
		t := &targets[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, err := r.Poll(ctx, t)
			if err == nil && st.Error == "" {
				_, err = r.Reconcile(ctx, t)
			}
			mu.Lock()
			defer mu.Unlock()
			if st.Down {
				down++
			}
			if err != nil && ErrorCode(err) != ENOTFOUND {
				errs = append(errs, fmt.Errorf("router %s: %w", t.NASName, err))
			}
		}()
	}
	wg.Wait()
	r.down.Store(down)
	return errors.Join(errs...)
}

// Disconnect removes session s from its router's active list through the API and
// returns the outcome (Kind "disconnect", Result APIRemoved, APINotFound or APIError);
// the caller records it. ENOTFOUND, with no Result, when the NAS has no API.
func (r *Routers) Disconnect(ctx context.Context, s LiveSession, reason string) (CoAResult, error) {
	res := CoAResult{NASID: s.Key.NASID, SessionID: s.Key.SessionID, Username: s.Username, Kind: "disconnect", Reason: reason}
	t, err := r.Store.FindRouterTargetByID(ctx, s.Key.NASID)
	if err != nil {
		return res, err
	}
	api, err := r.router(t)
	if err != nil {
		res.Result = APIError
		return res, err
	}
	found, err := api.FindActiveSessions(ctx, s.Username, s.FramedIP)
	if err != nil {
		res.Result = APIError
		return res, err
	}
	picked, err := PickRouterSessions(found, s)
	if err != nil {
		res.Result = APIError
		return res, err
	}
	if len(picked) == 0 {
		res.Result = APINotFound
		return res, nil
	}
	for _, e := range picked {
		if err := api.RemoveActiveSession(ctx, e); err != nil {
			res.Result = APIError
			return res, err
		}
	}
	res.Result = APIRemoved
	return res, nil
}
