package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

type subscriptionJSON struct {
	Username    string     `json:"username"`
	State       string     `json:"state"`
	Paid        bool       `json:"paid"`
	Plan        string     `json:"plan"`
	NextPlan    string     `json:"next_plan,omitempty"`
	PeriodStart time.Time  `json:"period_start"`
	PeriodEnd   time.Time  `json:"period_end"`
	AnchorDay   int        `json:"anchor_day"`
	GraceUntil  *time.Time `json:"grace_until,omitempty"`
	AutoRenew   bool       `json:"auto_renew"`
	// NextRenewal is when the next charge is due, RenewalPlan and RenewalAmount what it
	// will be.
	NextRenewal   time.Time `json:"next_renewal"`
	RenewalPlan   string    `json:"renewal_plan"`
	RenewalAmount string    `json:"renewal_amount"`
	Balance       string    `json:"balance"`
	Currency      string    `json:"currency"`
}

func toSubscriptionJSON(st *billing.SubscriptionStatus) subscriptionJSON {
	out := subscriptionJSON{Username: st.Username, State: string(st.State), Paid: st.Paid, Plan: st.PlanName,
		NextPlan: st.NextPlanName, PeriodStart: st.PeriodStart.UTC(), PeriodEnd: st.PeriodEnd.UTC(), AnchorDay: st.AnchorDay,
		AutoRenew: st.AutoRenew, NextRenewal: st.NextRenewal.UTC(), RenewalPlan: st.RenewalPlan,
		RenewalAmount: billing.FormatCents(st.RenewalCents), Balance: billing.FormatCents(st.BalanceCents), Currency: st.Currency}
	if !st.GraceUntil.IsZero() {
		g := st.GraceUntil.UTC()
		out.GraceUntil = &g
	}
	return out
}

// printSubscription writes a subscription for people.
func printSubscription(w io.Writer, loc *time.Location, st *billing.SubscriptionStatus) {
	at := func(t time.Time) string { return t.In(loc).Format(time.DateTime + " MST") }
	paid := "paid"
	if !st.Paid {
		paid = "not paid"
	}
	fmt.Fprintf(w, "subscription of %q: %s, plan %q\n", st.Username, st.State, st.PlanName)
	fmt.Fprintf(w, "period:        %s to %s (%s)\n", at(st.PeriodStart), at(st.PeriodEnd), paid)
	if !st.GraceUntil.IsZero() {
		fmt.Fprintf(w, "grace until:   %s\n", at(st.GraceUntil))
	}
	if st.NextPlanName != "" {
		fmt.Fprintf(w, "next plan:     %q from the next renewal\n", st.NextPlanName)
	}
	auto := "from the wallet"
	if !st.AutoRenew {
		auto = "auto-renew off: only a payment or `subscription renew` renews"
	}
	fmt.Fprintf(w, "next renewal:  %s, %s for %q (%s)\n", at(st.NextRenewal), billing.FormatMoney(st.RenewalCents, st.Currency), st.RenewalPlan, auto)
	fmt.Fprintf(w, "balance:       %s\n", billing.FormatMoney(st.BalanceCents, st.Currency))
}

func cmdSubscriptionShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscription show")
	user := fs.String("username", "", "the subscriber's username")
	reason := fs.String("reason", "", "why you read it (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if err := staffRead(ctx, e, d, *user, *reason, "subscription"); err != nil {
		return err
	}
	st, err := d.money(nil).Subscription(ctx, *user)
	if err != nil {
		return err
	}
	return e.print(toSubscriptionJSON(st), func(w io.Writer) { printSubscription(w, e.cfg.Location, st) })
}

// cmdSubscriptionRenew renews an owed period now from the wallet, even with auto-renew
// off, and restores an isolated subscriber.
func cmdSubscriptionRenew(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscription renew")
	user := fs.String("username", "", "the subscriber's username")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	money, err := d.cliMoney(ctx)
	if err != nil {
		return err
	}
	actor := auditActor()
	outs, err := money.Renew(ctx, *user, actor)
	if outs == nil {
		return err
	}
	if aerr := auditSubscription(ctx, e, d, actor, "subscription.renew", *user, map[string]any{"renewals": len(outs)}); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return err
	}
	list := toOutcomesJSON(outs)
	return e.print(list, func(w io.Writer) { printOutcomes(w, e.cfg.Currency, e.cfg.Location, list) })
}

// cmdSubscriptionSet moves the current period (a subscriber brought over with his
// renewal date, or a correction); nothing is charged.
func cmdSubscriptionSet(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscription set")
	user := fs.String("username", "", "the subscriber's username")
	start := fs.String("period-start", "", "the current period starts at this time (RFC 3339); it ends one plan period later")
	paid := fs.Bool("paid", false, "mark the period paid (true) or owed (false); nothing is charged")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username", "period-start"); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return radius.Errorf(radius.EINVALID, "period-start: %q is not an RFC 3339 time like 2027-01-31T10:00:00Z", *start)
	}
	var paidSet *bool
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "paid" {
			paidSet = paid
		}
	})
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	money := d.money(nil)
	actor := auditActor()
	if _, err := money.SetPeriod(ctx, *user, t, paidSet); err != nil {
		return err
	}
	detail := map[string]any{"period_start": t.UTC().Format(time.RFC3339)}
	if paidSet != nil {
		detail["paid"] = *paidSet
	}
	if err := auditSubscription(ctx, e, d, actor, "subscription.set", *user, detail); err != nil {
		return err
	}
	st, err := money.Subscription(ctx, *user)
	if err != nil {
		return err
	}
	return e.print(toSubscriptionJSON(st), func(w io.Writer) { printSubscription(w, e.cfg.Location, st) })
}

// auditSubscription records an admin's change of a subscription in the audit log.
func auditSubscription(ctx context.Context, e *env, d *deps, actor, action, username string, detail map[string]any) error {
	s, err := d.billing.Store.FindSubscriberByUsername(ctx, username)
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	return audit.Audit(ctx, auth.AuditEntry{Actor: actor, Action: action, Target: fmt.Sprintf("subscriber:%d", s.ID), Detail: detail})
}
