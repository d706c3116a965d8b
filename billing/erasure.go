package billing

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tollgate/radius"
)

// Erasure carries out the erasure of a subscriber: the right to be forgotten, within
// what the law makes the operator keep. In order:
//
//  1. the account is disabled and its cached account dropped, so no login succeeds,
//     and its open sessions are disconnected;
//  2. the old email address is told, before it is dropped: the erasure_done notice is
//     queued and sent at once, and the erasure waits (it stays due) until it is sent;
//  3. in one transaction: name, email, phone, MACs, the PPPoE password (replaced by a
//     random one), the portal account and its links, consents and their history,
//     pending address changes and policy acceptances are removed; the username is
//     replaced by a pseudonym ("erased-…") wherever a record must be kept: invoices and
//     receipts, the ledger, sessions and the auth and CoA logs (within retention),
//     billing events, messages and their log (whose addresses and texts are dropped),
//     the outgoing webhooks' messages, the requests and the audit log; and the erasure
//     is recorded (pseudonym and time);
//  4. Redis is purged: cached accounts, usage, live sessions and portal sessions.
//
// Amounts are never touched: invoices keep their totals, and the ledger its entries
// and balance.

// ErasureSubject is what an erasure removes or pseudonymises for one subscriber.
type ErasureSubject struct {
	SubscriberID int64
	Username     string
	Name         string
	Email        string
	Phone        string
	// MACs are the devices bound to the subscriber or seen in its sessions and auth log.
	MACs []string
	// Addresses are the other addresses and numbers known: address changes asked for,
	// and where past messages went.
	Addresses []string
	// PortalUserID is the subscriber's portal account (0: none).
	PortalUserID int64
	// Sessions are the subscriber's accounting sessions (their live index in Redis).
	Sessions []radius.SessionKey
	// Erased says the subscriber was erased already (its username is a pseudonym).
	Erased bool
}

// Identifiers returns every string an erasure must not leave behind: the username (as
// typed in any case), name (whole, and each word of 4 letters or more), email, phone
// (with and without its +), MACs and the other addresses, each once.
func (s *ErasureSubject) Identifiers() []string {
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= 2 && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	add(s.Username)
	add(s.Name)
	for _, w := range strings.Fields(s.Name) {
		if len([]rune(w)) >= 4 {
			add(w)
		}
	}
	add(s.Email)
	add(s.Phone)
	add(strings.TrimPrefix(s.Phone, "+"))
	for _, m := range s.MACs {
		add(m)
		add(strings.ReplaceAll(m, ":", "-"))
	}
	for _, a := range s.Addresses {
		add(a)
		if strings.HasPrefix(a, "+") {
			add(strings.TrimPrefix(a, "+"))
		}
	}
	return out
}

// Distinctive returns the identifiers that name the subscriber alone wherever they
// appear: the username, email, phone, MACs and the other addresses (not the name,
// which another person may share). An erasure looks for these in records that are not
// the subscriber's own.
func (s *ErasureSubject) Distinctive() []string {
	t := *s
	t.Name = ""
	return t.Identifiers()
}

// PseudonymPrefix starts every pseudonym.
const PseudonymPrefix = "erased-"

// NewPseudonym returns a fresh pseudonym: PseudonymPrefix and 16 random base32 letters.
func NewPseudonym() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	return PseudonymPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// ErasureStore is what billing keeps about a subscriber (Postgres), on the caller's
// transaction.
type ErasureStore interface {
	RightsStore
	NoticeStore
	// FindErasureSubject returns what billing and the portal hold that erasing
	// subscriber id touches (no MACs or sessions from the logs: LogEraser's). ENOTFOUND.
	FindErasureSubject(ctx context.Context, id int64) (*ErasureSubject, error)
	// DisableSubscriber disables subscriber id. ENOTFOUND.
	DisableSubscriber(ctx context.Context, id int64) error
	// SetRequestNotice records noticeID as erasure request id's notice.
	SetRequestNotice(ctx context.Context, id, noticeID int64) error
	// EraseSubscriber removes and pseudonymises what billing and the portal keep about
	// s (the erasure's step 3) and records the erasure of pseudonym at at; sealed is the
	// random PPPoE password's sealed form. It marks the transaction as an erasure, which
	// the append-only tables require.
	EraseSubscriber(ctx context.Context, s *ErasureSubject, pseudonym string, sealed []byte, at time.Time) error
}

// LogEraser is what the RADIUS logs keep about a user (radius/postgres), on the
// caller's transaction.
type LogEraser interface {
	// FindUserTraces returns the MACs and sessions of username in the sessions and the
	// auth log.
	FindUserTraces(ctx context.Context, username string) (macs []string, sessions []radius.SessionKey, err error)
	// PseudonymiseLogs replaces username by pseudonym in the sessions, the auth log
	// and the CoA log, blanks the MACs of those rows and of any row with one of macs,
	// scrubs identifiers from their free text, and closes the user's open sessions at
	// at (so that a late accounting record does not write the name back).
	PseudonymiseLogs(ctx context.Context, username, pseudonym string, macs, identifiers []string, at time.Time) error
}

// ErasureTx runs fn in one transaction with both stores bound to it.
type ErasureTx func(ctx context.Context, fn func(ErasureStore, LogEraser) error) error

// Forgetter removes what the caches and session stores hold about an erased
// subscriber (Redis): cached accounts, usage, live sessions, portal sessions.
type Forgetter interface {
	Forget(ctx context.Context, s *ErasureSubject) error
}

// Erasure carries out erasures. Rights records and closes their requests; Changes
// drops the cached account when it is disabled; Disconnect, Forget and Notices may be
// nil (nothing is disconnected, nothing purged, no notice sent).
type Erasure struct {
	Rights     *Rights
	InTx       ErasureTx
	Changes    Changes
	Disconnect Disconnector
	Forget     Forgetter
	Notices    *Notices
	Sealer     Sealer
	Now        func() time.Time
}

func (e *Erasure) now() time.Time {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

// EraseOptions change how one erasure goes.
type EraseOptions struct {
	// NoNotice erases without the erasure_done email (an admin who knows the address
	// is dead); otherwise the erasure waits until the email is sent.
	NoNotice bool
}

// Erased is what one erasure did.
type Erased struct {
	RequestID    int64     `json:"request"`
	SubscriberID int64     `json:"subscriber_id"`
	Pseudonym    string    `json:"pseudonym"`
	At           time.Time `json:"at"`
	// Notified: the erasure_done email was sent to the old address; NoNotice says why
	// not ("" when it was).
	Notified bool   `json:"notified"`
	NoNotice string `json:"no_notice,omitempty"`
	// Disconnected counts the sessions ended.
	Disconnected int `json:"disconnected"`
	// Warnings are what failed around the erasure that is done nonetheless: a
	// disconnect, the purge of Redis (whose entries expire by themselves).
	Warnings []string `json:"warnings,omitempty"`
}

// ErasureRun is what RunDue did.
type ErasureRun struct {
	At     time.Time `json:"at"`
	Erased []Erased  `json:"erased"`
	// Postponed are the erasures that stay due (their notice could not be sent, or
	// they failed), with why.
	Postponed []string `json:"postponed"`
}

// RunDue carries out every erasure due at now. One failure does not stop the others:
// it is reported, and the erasure stays due for the next run.
func (e *Erasure) RunDue(ctx context.Context, now time.Time) (*ErasureRun, error) {
	due, err := e.Rights.Store.FindDueErasures(ctx, now)
	if err != nil {
		return nil, err
	}
	run := &ErasureRun{At: now, Erased: []Erased{}, Postponed: []string{}}
	for i := range due {
		if err := ctx.Err(); err != nil {
			return run, err
		}
		out, err := e.carryOut(ctx, &due[i], EraseOptions{})
		if err != nil {
			run.Postponed = append(run.Postponed, fmt.Sprintf("request %d (subscriber %d): %v", due[i].ID, due[i].SubscriberID, err))
			continue
		}
		run.Erased = append(run.Erased, *out)
	}
	return run, nil
}

// EraseNow erases subscriber id at once on a request staff received (by, with
// reason), through the same steps as a scheduled erasure: a pending erasure of the
// subscriber is carried out now, otherwise one is recorded and carried out. ENOTFOUND,
// EINVALID; any error of the steps leaves the request open and due.
func (e *Erasure) EraseNow(ctx context.Context, id int64, source Source, by, reason string, opts EraseOptions) (*Erased, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, invalid("reason: say on what request the data is erased")
	}
	req, err := e.Rights.PendingErasure(ctx, id)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		req, err = e.Rights.RequestErasure(ctx, id, source, by, reason, true)
	}
	if err != nil {
		return nil, err
	}
	return e.carryOut(ctx, req, opts)
}

// EraseRequest carries out open erasure request id now (an admin's "erase now").
// ENOTFOUND, ECONFLICT when it is no open erasure.
func (e *Erasure) EraseRequest(ctx context.Context, id int64, opts EraseOptions) (*Erased, error) {
	req, err := e.Rights.Store.FindRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if req.Kind != RequestErasure || req.State != RequestOpen {
		return nil, radius.Errorf(radius.ECONFLICT, "request %d is a %s request, %s: only an open erasure is carried out", id, req.Kind, req.State)
	}
	return e.carryOut(ctx, req, opts)
}

// subject reads the erasure subject of subscriber id from both stores.
func (e *Erasure) subject(ctx context.Context, id int64) (*ErasureSubject, error) {
	var s *ErasureSubject
	err := e.InTx(ctx, func(st ErasureStore, logs LogEraser) error {
		var err error
		if s, err = st.FindErasureSubject(ctx, id); err != nil || s.Erased {
			return err
		}
		macs, sessions, err := logs.FindUserTraces(ctx, s.Username)
		if err != nil {
			return err
		}
		for _, m := range macs {
			if m != "" && !slices.Contains(s.MACs, m) {
				s.MACs = append(s.MACs, m)
			}
		}
		s.Sessions = sessions
		return nil
	})
	return s, err
}

// carryOut runs the steps of the erasure of req.
func (e *Erasure) carryOut(ctx context.Context, req *DataRequest, opts EraseOptions) (*Erased, error) {
	s, err := e.subject(ctx, req.SubscriberID)
	if err != nil {
		return nil, err
	}
	out := &Erased{RequestID: req.ID, SubscriberID: req.SubscriberID}
	if s.Erased {
		// Erased by another request: this one is answered by it.
		out.Pseudonym, out.At = s.Username, e.now()
		_, err := e.Rights.Store.CloseRequest(ctx, req.ID, RequestClose{State: RequestDone, Outcome: OutcomeErased, By: req.RequestedBy, At: out.At})
		return out, err
	}
	// 1. No login from now on, and no session left.
	if err := e.InTx(ctx, func(st ErasureStore, _ LogEraser) error { return st.DisableSubscriber(ctx, s.SubscriberID) }); err != nil {
		return nil, err
	}
	if e.Changes != nil {
		if err := e.Changes.AccountsChanged(ctx, s.Username); err != nil {
			out.Warnings = append(out.Warnings, "drop the cached account: "+err.Error())
		}
	}
	if e.Disconnect != nil {
		res, err := e.Disconnect.DisconnectUser(ctx, s.Username, "erased")
		out.Disconnected = len(res)
		if err != nil {
			out.Warnings = append(out.Warnings, "disconnect: "+err.Error())
		}
	}
	// 2. The old address is told before it is dropped.
	switch {
	case opts.NoNotice:
		out.NoNotice = "not asked for"
	case s.Email == "":
		out.NoNotice = "no email address"
	case !e.Notices.On():
		out.NoNotice = "this server sends no email"
	default:
		if err := e.notify(ctx, req, s); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, &radius.Error{Code: radius.ECONFLICT, Err: err,
				Message: "erasure: postponed until its notice to the old address is sent (it is retried at the next run): " + err.Error()}
		}
		out.Notified = true
	}
	// 3. Remove and pseudonymise, in one transaction.
	out.Pseudonym, out.At = NewPseudonym(), e.now()
	var pw [32]byte
	_, _ = rand.Read(pw[:])
	sealed := e.Sealer.Seal(pw[:], radius.SealSubscriberPassword.AD(s.SubscriberID))
	err = e.InTx(ctx, func(st ErasureStore, logs LogEraser) error {
		cur, err := st.LockRequest(ctx, req.ID)
		if err != nil {
			return err
		}
		if cur.State != RequestOpen {
			return radius.Errorf(radius.ECONFLICT, "erasure request %d is %s", req.ID, cur.State)
		}
		if _, err := st.CloseRequest(ctx, req.ID, RequestClose{State: RequestDone, Outcome: OutcomeErased, By: req.RequestedBy, At: out.At}); err != nil {
			return err
		}
		if err := st.EraseSubscriber(ctx, s, out.Pseudonym, sealed, out.At); err != nil {
			return err
		}
		return logs.PseudonymiseLogs(ctx, s.Username, out.Pseudonym, s.MACs, s.Identifiers(), out.At)
	})
	if err != nil {
		return nil, err
	}
	// 4. Redis.
	if e.Forget != nil {
		if err := e.Forget.Forget(ctx, s); err != nil {
			out.Warnings = append(out.Warnings, "purge Redis (its entries expire by themselves): "+err.Error())
		}
	}
	return out, nil
}

// notify queues the erasure_done notice of req to s's address (once) and sends it now.
func (e *Erasure) notify(ctx context.Context, req *DataRequest, s *ErasureSubject) error {
	noticeID := req.NoticeID
	if noticeID == 0 {
		err := e.InTx(ctx, func(st ErasureStore, _ LogEraser) error {
			cur, err := st.LockRequest(ctx, req.ID)
			if err != nil {
				return err
			}
			if cur.NoticeID != 0 {
				noticeID = cur.NoticeID
				return nil
			}
			at := FormatEventTime(e.now())
			ev := &Event{Kind: EventErasureDone, SubscriberID: s.SubscriberID, Key: string(EventErasureDone) + ":" + strconv.FormatInt(req.ID, 10),
				Data: map[string]string{"at": at}}
			n, err := e.Notices.Build(EventErasureDone, s.Email, MessageData{Name: s.Name, Username: s.Username, Data: ev.Data})
			if err != nil {
				return err
			}
			if err := st.RecordNotice(ctx, ev, n); err != nil {
				return err
			}
			noticeID = n.ID
			return st.SetRequestNotice(ctx, req.ID, n.ID)
		})
		if err != nil {
			return err
		}
	}
	return e.Notices.SendNow(ctx, noticeID)
}
