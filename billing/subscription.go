package billing

import (
	"context"
	"time"

	"tollgate/radius"
)

// Subscription is a subscriber's PPPoE subscription to a priced plan: the period being
// served, or owed when it is not Paid. A new subscription's first period starts at its
// creation, unpaid: the next billing pass charges it from the wallet, or moves it to
// grace and then isolation like any unpaid renewal. Invariant: a subscription in grace
// or isolated is never Paid.
type Subscription struct {
	ID           int64
	SubscriberID int64
	Username     string // read model
	PlanID       int64  // the plan of the current period (the subscriber's plan)
	PlanName     string // read model
	// NextPlanID is a plan change scheduled for the next renewal; 0 for none.
	NextPlanID   int64
	NextPlanName string // read model
	State        radius.SubscriptionState
	Paid         bool
	// AnchorDay is the day of the month calendar-month periods keep (Period.End).
	AnchorDay   int
	PeriodStart time.Time
	PeriodEnd   time.Time
	// GraceUntil is when an unpaid subscription is isolated; zero when paid.
	GraceUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// NextRenewal returns when the subscription is next charged: the end of a paid period,
// or the start of the unpaid one (due now, or when it begins).
func (s *Subscription) NextRenewal() time.Time {
	if s.Paid {
		return s.PeriodEnd
	}
	return s.PeriodStart
}

// NewSubscription returns the subscription of a subscriber who starts on plan p at now:
// its first period, unpaid, anchored on now's day in loc.
func NewSubscription(p *Plan, now time.Time, loc *time.Location) *Subscription {
	anchor := AnchorDay(now, loc)
	return &Subscription{
		PlanID: p.ID, PlanName: p.Name, State: radius.SubscriptionActive, AnchorDay: anchor,
		PeriodStart: now, PeriodEnd: p.PeriodOrDefault().End(now, anchor, loc),
	}
}

// Billable is one subscription with everything its next step depends on, read under
// the subscription's and the wallet's row locks (SubscriptionStore.LockBillable).
type Billable struct {
	Sub        Subscription
	Subscriber Subscriber
	Plan       Plan  // the current plan
	NextPlan   *Plan // the scheduled plan, nil for none
	Wallet     Wallet
}

// ChargePlan is the plan the next period is charged for: the scheduled one, else the
// current one.
func (b *Billable) ChargePlan() *Plan {
	if b.NextPlan != nil {
		return b.NextPlan
	}
	return &b.Plan
}

// Action is what the next step of a subscription does.
type Action string

// Actions of Step.
const (
	ActNone    Action = ""
	ActRenew   Action = "renew"   // charge a period and serve it (restore an isolated subscriber)
	ActGrace   Action = "grace"   // unpaid: service goes on until GraceUntil
	ActIsolate Action = "isolate" // unpaid after the grace: isolation
	ActRemind  Action = "remind"  // the renewal is Days away and will not be paid by itself
)

// Step is the next thing to do to a subscription (NextStep).
type Step struct {
	Action Action
	// Start and End are the period the step is about: the one it pays (renew), the one
	// owed (grace, isolate), or the one ending (remind).
	Start, End time.Time
	AnchorDay  int
	// Plan is the plan the period is charged for.
	Plan *Plan
	// Restore is set on the renewal of an isolated subscription: service comes back.
	Restore bool
	// GraceUntil is when an unpaid period leads to isolation (grace, isolate).
	GraceUntil time.Time
	// Days is a reminder's number of days (remind).
	Days int
}

// Rules are the operator's settings the steps follow.
type Rules struct {
	// Location is where calendar months and invoice years are counted (nil: UTC).
	Location *time.Location
	// RemindDays are the days before a renewal on which a reminder is due (sorted from
	// the largest, see ParseRemindDays); nil sends none.
	RemindDays []int
}

// NextStep decides what to do to subscription b at now. It is pure: everything is in b
// and the arguments. force is set for a payment or an explicit renewal, which renew
// what is due even when the subscriber turned auto-renew off.
//
//   - A paid period that has not ended needs nothing, or a reminder when the renewal is
//     near (DueReminder) and will not be paid by itself (auto-renew off, or a balance
//     below the price).
//   - A paid period that ended makes the next one owed, from its end; an unpaid period is
//     owed from its start once it began.
//   - An owed period is renewed when the wallet covers the charge plan's price (and
//     auto-renew is on, or force): debit, period, invoice.
//   - Otherwise it goes to grace until start + the plan's grace, then isolated.
//   - An isolated subscription is only restored: when paid, its new period starts at the
//     payment (the days spent isolated are not charged), anchored on that day.
//
// Suspended or disabled subscribers, cancelled subscriptions and plans no longer billed
// (made free since) are left alone.
func NextStep(b *Billable, now time.Time, force bool, r Rules) Step {
	s := &b.Sub
	if s.State == radius.SubscriptionCancelled || b.Subscriber.Status != radius.StatusActive {
		return Step{}
	}
	plan := b.ChargePlan()
	if !plan.Billed() {
		return Step{} // the plan was made free (or not PPPoE) since: nothing to charge
	}
	covered := b.Wallet.AvailableCents() >= plan.PriceCents
	pays := covered && (b.Subscriber.AutoRenew || force)
	start := s.PeriodStart
	switch {
	case s.Paid && now.Before(s.PeriodEnd):
		if d, ok := DueReminder(r.RemindDays, s.PeriodEnd.Sub(now)); ok && !(covered && b.Subscriber.AutoRenew) {
			return Step{Action: ActRemind, Start: s.PeriodStart, End: s.PeriodEnd, AnchorDay: s.AnchorDay, Plan: plan, Days: d}
		}
		return Step{}
	case s.Paid:
		start = s.PeriodEnd
	case s.State == radius.SubscriptionIsolated:
		if !pays {
			return Step{}
		}
		anchor := s.AnchorDay
		if start.Before(now) {
			start, anchor = now, AnchorDay(now, r.Location)
		}
		return Step{Action: ActRenew, Start: start, End: plan.PeriodOrDefault().End(start, anchor, r.Location),
			AnchorDay: anchor, Plan: plan, Restore: true}
	case now.Before(start):
		return Step{} // the first period has not begun
	}
	st := Step{Start: start, End: plan.PeriodOrDefault().End(start, s.AnchorDay, r.Location), AnchorDay: s.AnchorDay, Plan: plan}
	switch until := start.Add(plan.Grace); {
	case pays:
		st.Action = ActRenew
	case !now.Before(until):
		st.Action, st.GraceUntil = ActIsolate, until
	case s.State == radius.SubscriptionGrace:
		return Step{} // already in grace for this period
	default:
		st.Action, st.GraceUntil = ActGrace, until
	}
	return st
}

// Renewal is one period of a subscription paid, once (the store's unique constraint on
// (subscription, period start)).
type Renewal struct {
	ID             int64
	SubscriptionID int64
	PeriodStart    time.Time
	PeriodEnd      time.Time
	PlanID         int64
	AmountCents    int64
	LedgerEntryID  int64
	InvoiceID      int64
	At             time.Time
}

// SubscriptionStore persists subscriptions and their renewals (Postgres). Its writes
// run on the caller's transaction when the store was built on one; LockBillable must.
type SubscriptionStore interface {
	// LockBillable returns subscription id with its subscriber, plans and wallet, and
	// locks the subscription's and the wallet's rows until the transaction ends, so a
	// racing pass or payment waits and then sees what this one did. ENOTFOUND.
	LockBillable(ctx context.Context, id int64) (*Billable, error)
	// LockBillableBySubscriber is LockBillable by the subscriber's ID. ENOTFOUND when
	// the subscriber has no subscription.
	LockBillableBySubscriber(ctx context.Context, subscriberID int64) (*Billable, error)
	// SaveSubscription writes the plan, next plan, state, paid flag, anchor, period and
	// grace of s, and moves the subscriber to s.PlanID. ENOTFOUND.
	SaveSubscription(ctx context.Context, s *Subscription) error
	// RecordRenewal inserts r and sets its ID and At. ECONFLICT when the period was
	// renewed before.
	RecordRenewal(ctx context.Context, r *Renewal) error
	// FindBillableIDs returns the subscriptions a pass at now must look at: those not
	// cancelled that are unpaid or whose period ends before until, soonest first.
	FindBillableIDs(ctx context.Context, until time.Time) ([]int64, error)
	// FindRenewals returns the renewals of subscription id, oldest first.
	FindRenewals(ctx context.Context, id int64) ([]Renewal, error)
}
