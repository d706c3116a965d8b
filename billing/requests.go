package billing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"tollgate/radius"
)

// Data-subject requests (issue 9, second part): what a subscriber asks of the operator
// under the privacy center's rights that a person answers, and when the answer is due.
// An erasure is scheduled ErasureGrace ahead and cancellable until then; a review of an
// automated decision (grace, isolation, a reject for a limit) waits for staff to decide
// with a note, and the subscriber is told the outcome; an export asked for by email is
// recorded when staff answer it. Every request is due RequestDue after it was made.
// Restrictions take effect at once and are listed beside the requests (Restriction).

// The events of the privacy center's rights.
const (
	// EventEmailConfirm: the subscriber gave a new email address; the message goes to
	// that address, not the current one (Data: "link", one-time, and "expires").
	EventEmailConfirm EventKind = "email_confirm"
	// EventReviewDecided: staff decided a review the subscriber asked for (Data:
	// "decision", what was reviewed, "outcome", upheld or changed, and "note").
	EventReviewDecided EventKind = "review_decided"
	// EventErasureDone: the subscriber's data was erased (Data: "at"). It goes to the
	// old address before the address is dropped.
	EventErasureDone EventKind = "erasure_done"
)

// RequestDue is how long staff have to answer a request: one month (30 days).
const RequestDue = 30 * 24 * time.Hour

// DefaultErasureGrace is TOLLGATE_ERASURE_GRACE's default: the time between asking for
// an erasure and its execution, during which it can be cancelled.
const DefaultErasureGrace = 7 * 24 * time.Hour

// RequestKind is what a request asks for.
type RequestKind string

// The kinds of request.
const (
	RequestExport  RequestKind = "export"
	RequestErasure RequestKind = "erasure"
	RequestReview  RequestKind = "review"
)

// RequestState is where a request stands.
type RequestState string

// The states: open until answered (done) or withdrawn (cancelled).
const (
	RequestOpen      RequestState = "open"
	RequestDone      RequestState = "done"
	RequestCancelled RequestState = "cancelled"
)

// The outcomes of a closed request.
const (
	OutcomeUpheld   = "upheld"   // a review kept the automated decision
	OutcomeChanged  = "changed"  // a review changed it (staff acted on the account)
	OutcomeErased   = "erased"   // an erasure was carried out
	OutcomeExported = "exported" // an export was sent
)

// DataRequest is one request of the queue.
type DataRequest struct {
	ID           int64       `json:"id"`
	Kind         RequestKind `json:"kind"`
	SubscriberID int64       `json:"subscriber_id"`
	// Username is the subscriber's now (a pseudonym once erased); read model.
	Username    string       `json:"username"`
	Source      Source       `json:"source"`
	RequestedBy string       `json:"requested_by"`
	CreatedAt   time.Time    `json:"created_at"`
	DueAt       time.Time    `json:"due_at"`
	RunAt       time.Time    `json:"run_at,omitzero"` // an erasure's execution
	State       RequestState `json:"state"`
	// Decision and DecisionRef name the automated decision a review objects to;
	// Message is the subscriber's reason.
	Decision    string `json:"decision,omitempty"`
	DecisionRef string `json:"decision_ref,omitempty"`
	Message     string `json:"message,omitempty"`
	// Outcome, Note, ClosedAt and ClosedBy are the answer.
	Outcome  string    `json:"outcome,omitempty"`
	Note     string    `json:"note,omitempty"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	ClosedBy string    `json:"closed_by,omitempty"`
	// NoticeID is an erasure's "your data is erased" message, once queued.
	NoticeID int64 `json:"-"`
	// Trail is the request's audit trail, oldest first, where a list reads it.
	Trail []TrailEntry `json:"trail,omitempty"`
}

// Overdue reports whether r is still open past its due date at now.
func (r *DataRequest) Overdue(now time.Time) bool {
	return r.State == RequestOpen && now.After(r.DueAt)
}

// TrailEntry is one audit log entry about a request.
type TrailEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
}

// RequestTarget names request id in the audit log.
func RequestTarget(id int64) string { return "privacy_request:" + strconv.FormatInt(id, 10) }

// Restriction is a subscriber whose processing is restricted, as the queue lists it:
// in force since Since, and its acknowledgement due a month later.
type Restriction struct {
	SubscriberID int64     `json:"subscriber_id"`
	Username     string    `json:"username"`
	Since        time.Time `json:"since"`
	DueAt        time.Time `json:"due_at"`
}

// Decision is an automated decision about a subscriber that a review may object to:
// the billing pass's grace or isolation, or the RADIUS path's rejects for a limit.
type Decision struct {
	// Ref names it in a review request: "event:<id>" for grace and isolation,
	// "reject:<reason>:<YYYY-MM-DD>" for the rejects of one reason on one day (UTC).
	Ref     string    `json:"ref"`
	Kind    string    `json:"kind"` // grace, isolated, or the reject's reason
	At      time.Time `json:"at"`   // the decision (the day's last reject)
	Summary string    `json:"summary"`
}

// LimitReasons are the rejects a subscriber may ask a person to review: those a limit
// or the money engine decided, not a wrong password.
var LimitReasons = []radius.Reason{radius.ReasonExpired, radius.ReasonTooManySessions, radius.ReasonUptimeExhausted,
	radius.ReasonDataExhausted, radius.ReasonUnpaid}

// DecisionWindow is how far back a review may reach.
const DecisionWindow = 90 * 24 * time.Hour

// RequestFilter selects requests; zero fields select all.
type RequestFilter struct {
	SubscriberID int64
	Kind         RequestKind
	// Open selects the open requests only; otherwise ClosedSince also keeps those
	// closed since then (zero: every closed one).
	Open        bool
	ClosedSince time.Time
	Limit       int // 1 to 1000, 0: 200
}

// RequestClose is the answer that closes a request.
type RequestClose struct {
	State   RequestState
	Outcome string
	Note    string
	By      string
	At      time.Time
}

// RightsStore keeps the requests and reads what they refer to (Postgres). Its methods
// run on the caller's transaction when the store was built on one.
type RightsStore interface {
	EventStore
	// CreateRequest stores r and sets r.ID. ECONFLICT when r is an erasure and the
	// subscriber has one open; ENOTFOUND for an unknown subscriber.
	CreateRequest(ctx context.Context, r *DataRequest) error
	// FindRequest returns request id with its subscriber's username. ENOTFOUND.
	FindRequest(ctx context.Context, id int64) (*DataRequest, error)
	// LockRequest is FindRequest with the row locked until the transaction ends.
	LockRequest(ctx context.Context, id int64) (*DataRequest, error)
	// FindRequests lists the requests f selects: open ones by due date first, then
	// closed ones, newest first.
	FindRequests(ctx context.Context, f RequestFilter) ([]DataRequest, error)
	// CloseRequest closes open request id with c. ENOTFOUND; ECONFLICT when it is
	// not open.
	CloseRequest(ctx context.Context, id int64, c RequestClose) (*DataRequest, error)
	// FindDueErasures lists the open erasures whose RunAt is not after now, oldest
	// first.
	FindDueErasures(ctx context.Context, now time.Time) ([]DataRequest, error)
	// FindDecisions lists the automated decisions about subscriber id since since,
	// newest first.
	FindDecisions(ctx context.Context, id int64, since time.Time) ([]Decision, error)
	// FindRestrictions lists the subscribers whose processing is restricted now, with
	// the time the restriction began.
	FindRestrictions(ctx context.Context) ([]Restriction, error)
	// FindRequestTrails returns the audit trail of each of ids (target
	// RequestTarget(id)), oldest first.
	FindRequestTrails(ctx context.Context, ids []int64) (map[int64][]TrailEntry, error)
}

// RightsTx runs fn in one transaction with a RightsStore bound to it.
type RightsTx func(ctx context.Context, fn func(RightsStore) error) error

// Rights records the requests and answers them. Grace is the erasure's delay
// (TOLLGATE_ERASURE_GRACE, whose default is DefaultErasureGrace): zero means none, the
// erasure is due at once and carried out at the next run; Now the clock.
type Rights struct {
	Store RightsStore
	InTx  RightsTx
	Grace time.Duration
	Now   func() time.Time
}

func (r *Rights) now() time.Time {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

// ErasureGrace returns the delay of an erasure.
func (r *Rights) ErasureGrace() time.Duration {
	return max(r.Grace, 0)
}

// checkBy validates who acts: the portal's or the command line's actor.
func checkBy(by string) (string, error) {
	by = strings.TrimSpace(by)
	if by == "" || len(by) > 300 {
		return "", invalid("actor: required, at most 300 bytes")
	}
	return by, nil
}

// cleanText trims a person's text and checks its length and characters (newlines and
// tabs are kept). EINVALID naming field.
func cleanText(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > max {
		return "", invalid("%s: at most %d bytes", field, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return "", invalid("%s: must not contain control characters", field)
		}
	}
	return s, nil
}

// newRequest fills the times and checks the source and actor of a request made now.
func (r *Rights) newRequest(kind RequestKind, id int64, source Source, by string) (*DataRequest, error) {
	if !source.Valid() {
		return nil, invalid("source: %q is not web, api, admin or cli", source)
	}
	by, err := checkBy(by)
	if err != nil {
		return nil, err
	}
	now := r.now()
	return &DataRequest{Kind: kind, SubscriberID: id, Source: source, RequestedBy: by, CreatedAt: now,
		DueAt: now.Add(RequestDue), State: RequestOpen}, nil
}

// RequestErasure schedules the erasure of subscriber id ErasureGrace from now (at once
// when now is set: an admin's erasure on request). ECONFLICT when one is open already,
// ENOTFOUND, EINVALID.
func (r *Rights) RequestErasure(ctx context.Context, id int64, source Source, by, note string, now bool) (*DataRequest, error) {
	req, err := r.newRequest(RequestErasure, id, source, by)
	if err != nil {
		return nil, err
	}
	if req.Note, err = cleanText("reason", note, 2000); err != nil {
		return nil, err
	}
	req.RunAt = req.CreatedAt.Add(r.ErasureGrace())
	if now {
		req.RunAt = req.CreatedAt
	}
	if err := r.Store.CreateRequest(ctx, req); err != nil {
		return nil, err
	}
	return req, nil
}

// PendingErasure returns the open erasure of subscriber id. ENOTFOUND when there is
// none.
func (r *Rights) PendingErasure(ctx context.Context, id int64) (*DataRequest, error) {
	list, err := r.Store.FindRequests(ctx, RequestFilter{SubscriberID: id, Kind: RequestErasure, Open: true, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, radius.Errorf(radius.ENOTFOUND, "erasure: none is scheduled")
	}
	return &list[0], nil
}

// CancelErasure cancels the open erasure of subscriber id. ENOTFOUND when there is
// none (or it was carried out meanwhile).
func (r *Rights) CancelErasure(ctx context.Context, id int64, by string) (*DataRequest, error) {
	by, err := checkBy(by)
	if err != nil {
		return nil, err
	}
	var out *DataRequest
	err = r.InTx(ctx, func(st RightsStore) error {
		list, err := st.FindRequests(ctx, RequestFilter{SubscriberID: id, Kind: RequestErasure, Open: true, Limit: 1})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return radius.Errorf(radius.ENOTFOUND, "erasure: none is scheduled")
		}
		if _, err := st.LockRequest(ctx, list[0].ID); err != nil {
			return err
		}
		out, err = st.CloseRequest(ctx, list[0].ID, RequestClose{State: RequestCancelled, Note: "cancelled by the subscriber", By: by, At: r.now()})
		if radius.ErrorCode(err) == radius.ECONFLICT {
			return radius.Errorf(radius.ENOTFOUND, "erasure: none is scheduled")
		}
		return err
	})
	return out, err
}

// Decisions lists the automated decisions about subscriber id that a review may refer
// to: those of the last DecisionWindow, newest first.
func (r *Rights) Decisions(ctx context.Context, id int64) ([]Decision, error) {
	return r.Store.FindDecisions(ctx, id, r.now().Add(-DecisionWindow))
}

// MaxReviewMessage bounds a review request's message.
const MaxReviewMessage = 2000

// RequestReview asks a person to review the automated decision ref (one of Decisions)
// about subscriber id, for the reason message. EINVALID naming decision or message,
// ENOTFOUND.
func (r *Rights) RequestReview(ctx context.Context, id int64, ref, message string, source Source, by string) (*DataRequest, error) {
	req, err := r.newRequest(RequestReview, id, source, by)
	if err != nil {
		return nil, err
	}
	if req.Message, err = cleanText("message", message, MaxReviewMessage); err != nil {
		return nil, err
	}
	if req.Message == "" {
		return nil, invalid("message: say why the decision should be looked at again")
	}
	ds, err := r.Decisions(ctx, id)
	if err != nil {
		return nil, err
	}
	ref = strings.TrimSpace(ref)
	for _, d := range ds {
		if d.Ref == ref {
			req.DecisionRef, req.Decision = d.Ref, d.Summary
			break
		}
	}
	if req.DecisionRef == "" {
		return nil, invalid("decision: %q is not an automated decision about you of the last %d days", ref, int(DecisionWindow/(24*time.Hour)))
	}
	open, err := r.Store.FindRequests(ctx, RequestFilter{SubscriberID: id, Kind: RequestReview, Open: true, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, o := range open {
		if o.DecisionRef == req.DecisionRef {
			return nil, radius.Errorf(radius.ECONFLICT, "decision: a review of it is open already (request %d)", o.ID)
		}
	}
	if err := r.Store.CreateRequest(ctx, req); err != nil {
		return nil, err
	}
	return req, nil
}

// DecideReview closes open review id with outcome (OutcomeUpheld or OutcomeChanged)
// and note, by staff member by, and records the review_decided event that tells the
// subscriber, in one transaction. EINVALID naming outcome or note, ENOTFOUND, ECONFLICT
// when the request is no open review.
func (r *Rights) DecideReview(ctx context.Context, id int64, outcome, note, by string) (*DataRequest, error) {
	if outcome != OutcomeUpheld && outcome != OutcomeChanged {
		return nil, invalid("outcome: %q is not %s or %s", outcome, OutcomeUpheld, OutcomeChanged)
	}
	note, err := cleanText("note", note, 2000)
	if err != nil {
		return nil, err
	}
	if note == "" {
		return nil, invalid("note: explain the decision to the subscriber")
	}
	if by, err = checkBy(by); err != nil {
		return nil, err
	}
	var out *DataRequest
	err = r.InTx(ctx, func(st RightsStore) error {
		req, err := st.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		if req.Kind != RequestReview || req.State != RequestOpen {
			return radius.Errorf(radius.ECONFLICT, "request %d is a %s request, %s: only an open review is decided", id, req.Kind, req.State)
		}
		if out, err = st.CloseRequest(ctx, id, RequestClose{State: RequestDone, Outcome: outcome, Note: note, By: by, At: r.now()}); err != nil {
			return err
		}
		_, err = st.RecordEvent(ctx, &Event{Kind: EventReviewDecided, SubscriberID: req.SubscriberID,
			Key:  fmt.Sprintf("%s:%d", EventReviewDecided, id),
			Data: map[string]string{"decision": req.Decision, "outcome": outcome, "note": note}})
		return err
	})
	return out, err
}

// RecordExport records an export staff answered at once (a request that arrived by
// email), done when recorded. EINVALID, ENOTFOUND.
func (r *Rights) RecordExport(ctx context.Context, id int64, source Source, by, note string) (*DataRequest, error) {
	req, err := r.newRequest(RequestExport, id, source, by)
	if err != nil {
		return nil, err
	}
	if note, err = cleanText("note", note, 2000); err != nil {
		return nil, err
	}
	err = r.InTx(ctx, func(st RightsStore) error {
		if err := st.CreateRequest(ctx, req); err != nil {
			return err
		}
		out, err := st.CloseRequest(ctx, req.ID, RequestClose{State: RequestDone, Outcome: OutcomeExported, Note: note, By: req.RequestedBy, At: req.CreatedAt})
		if err == nil {
			*req = *out
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// Queue is the admins' view of the requests: the open ones by due date, those closed
// in the last RequestDue, each with its audit trail, and the restrictions in force.
type Queue struct {
	Requests     []DataRequest `json:"requests"`
	Restrictions []Restriction `json:"restrictions"`
}

// Queue returns the queue at now.
func (r *Rights) Queue(ctx context.Context) (*Queue, error) {
	list, err := r.Store.FindRequests(ctx, RequestFilter{ClosedSince: r.now().Add(-RequestDue), Limit: 1000})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	trails, err := r.Store.FindRequestTrails(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].Trail = trails[list[i].ID]
	}
	q := &Queue{Requests: list}
	if q.Restrictions, err = r.Store.FindRestrictions(ctx); err != nil {
		return nil, err
	}
	return q, nil
}

// Reviews lists the reviews: the open ones (all: the closed ones too, newest first).
func (r *Rights) Reviews(ctx context.Context, all bool) ([]DataRequest, error) {
	return r.Store.FindRequests(ctx, RequestFilter{Kind: RequestReview, Open: !all, Limit: 1000})
}

// RequestsOf lists subscriber id's own requests.
func (r *Rights) RequestsOf(ctx context.Context, id int64) ([]DataRequest, error) {
	return r.Store.FindRequests(ctx, RequestFilter{SubscriberID: id, Limit: 1000})
}

// DecisionSummary says what an automated decision was, for the subscriber and staff.
func DecisionSummary(kind string, at time.Time, count int) string {
	day := at.UTC().Format(time.DateOnly)
	switch kind {
	case string(EventGrace):
		return "renewal unpaid: grace period from " + day
	case string(EventIsolated):
		return "isolated for non-payment on " + day
	}
	r, ok := radius.ParseReason(kind)
	what := kind
	if ok {
		what = strings.ToLower(r.Message())
	}
	if count > 1 {
		return fmt.Sprintf("connection refused (%s) %d times on %s", what, count, day)
	}
	return fmt.Sprintf("connection refused (%s) on %s", what, day)
}
