package billing

import (
	"testing"
	"time"

	"tollgate/radius"
)

// at parses an RFC 3339 time.
func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// TestNextStep is the table of a subscription's life: renewals from the wallet,
// reminders, grace, isolation and restore, plan changes, and who is left alone.
func TestNextStep(t *testing.T) {
	home := Plan{ID: 1, Name: "Home", Kind: radius.KindPPPoE, PriceCents: 2000, Period: PeriodMonth, Grace: 2 * 24 * time.Hour}
	fast := Plan{ID: 2, Name: "Fast", Kind: radius.KindPPPoE, PriceCents: 3500, Period: "30d"}
	jan31 := at(t, "2027-01-31T10:00:00Z")
	feb28 := at(t, "2027-02-28T10:00:00Z")
	mar31 := at(t, "2027-03-31T10:00:00Z")
	rules := Rules{RemindDays: []int{7, 3, 1}}
	// paid is a subscription paid for [31 Jan, 28 Feb) with 50.00 in the wallet.
	paid := func() Billable {
		return Billable{
			Sub: Subscription{ID: 9, PlanID: 1, State: radius.SubscriptionActive, Paid: true, AnchorDay: 31,
				PeriodStart: jan31, PeriodEnd: feb28},
			Subscriber: Subscriber{ID: 4, Username: "alice", Status: radius.StatusActive, AutoRenew: true},
			Plan:       home,
			Wallet:     Wallet{SubscriberID: 4, BalanceCents: 5000},
		}
	}
	// owed is a new subscription whose first period [31 Jan, 28 Feb) is not paid.
	owed := func() Billable {
		b := paid()
		b.Sub.Paid = false
		return b
	}
	tests := []struct {
		name  string
		b     func() Billable
		now   time.Time
		force bool
		want  Step
	}{
		{"paid, mid-period: nothing", paid, at(t, "2027-02-10T00:00:00Z"), false, Step{}},
		{"paid, period ends: renew the next month from the anchor", paid, feb28, false,
			Step{Action: ActRenew, Start: feb28, End: mar31, AnchorDay: 31, Plan: &home}},
		{"paid, long after the end: the missed period first", paid, at(t, "2027-04-15T00:00:00Z"), false,
			Step{Action: ActRenew, Start: feb28, End: mar31, AnchorDay: 31, Plan: &home}},
		{"new subscription: its first period", owed, jan31, false,
			Step{Action: ActRenew, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home}},
		{"new subscription not begun yet: nothing", owed, jan31.Add(-time.Minute), false, Step{}},
		{"balance short: grace", func() Billable { b := owed(); b.Wallet.BalanceCents = 1999; return b }, jan31, false,
			Step{Action: ActGrace, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, GraceUntil: jan31.Add(48 * time.Hour)}},
		{"paid period ended, balance short: grace for the next one", func() Billable { b := paid(); b.Wallet.BalanceCents = 0; return b },
			feb28.Add(time.Hour), false,
			Step{Action: ActGrace, Start: feb28, End: mar31, AnchorDay: 31, Plan: &home, GraceUntil: feb28.Add(48 * time.Hour)}},
		{"in grace, still short: nothing", func() Billable {
			b := owed()
			b.Sub.State, b.Sub.GraceUntil, b.Wallet.BalanceCents = radius.SubscriptionGrace, jan31.Add(48*time.Hour), 0
			return b
		}, jan31.Add(24 * time.Hour), false, Step{}},
		{"in grace, paid up meanwhile: renew", func() Billable {
			b := owed()
			b.Sub.State, b.Sub.GraceUntil = radius.SubscriptionGrace, jan31.Add(48*time.Hour)
			return b
		}, jan31.Add(24 * time.Hour), false, Step{Action: ActRenew, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home}},
		{"grace over: isolate", func() Billable {
			b := owed()
			b.Sub.State, b.Sub.GraceUntil, b.Wallet.BalanceCents = radius.SubscriptionGrace, jan31.Add(48*time.Hour), 0
			return b
		}, jan31.Add(48 * time.Hour), false,
			Step{Action: ActIsolate, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, GraceUntil: jan31.Add(48 * time.Hour)}},
		{"no grace: isolate at once", func() Billable {
			b := owed()
			b.Plan.Grace, b.Wallet.BalanceCents = 0, 0
			p := b.Plan
			b.NextPlan = &p
			return b
		}, jan31, false, Step{Action: ActIsolate, Start: jan31, End: feb28, AnchorDay: 31, Plan: func() *Plan { p := home; p.Grace = 0; return &p }(), GraceUntil: jan31}},
		{"pass missed the grace: isolate directly", func() Billable { b := owed(); b.Wallet.BalanceCents = 0; return b },
			jan31.Add(72 * time.Hour), false,
			Step{Action: ActIsolate, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, GraceUntil: jan31.Add(48 * time.Hour)}},
		{"isolated, still short: nothing", func() Billable {
			b := owed()
			b.Sub.State, b.Wallet.BalanceCents = radius.SubscriptionIsolated, 0
			return b
		}, at(t, "2027-03-10T08:00:00Z"), false, Step{}},
		{"isolated, paid: restored from now, anchored on today", func() Billable {
			b := owed()
			b.Sub.State = radius.SubscriptionIsolated
			return b
		}, at(t, "2027-03-10T08:00:00Z"), false,
			Step{Action: ActRenew, Start: at(t, "2027-03-10T08:00:00Z"), End: at(t, "2027-04-10T08:00:00Z"), AnchorDay: 10, Plan: &home, Restore: true}},
		{"isolated before its period began (a clock behind): restored from the owed start", func() Billable {
			b := owed()
			b.Sub.State = radius.SubscriptionIsolated
			return b
		}, jan31.Add(-time.Hour), false, Step{Action: ActRenew, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, Restore: true}},
		{"auto-renew off: grace though the wallet covers", func() Billable { b := owed(); b.Subscriber.AutoRenew = false; return b }, jan31, false,
			Step{Action: ActGrace, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, GraceUntil: jan31.Add(48 * time.Hour)}},
		{"auto-renew off, a payment: renew", func() Billable { b := owed(); b.Subscriber.AutoRenew = false; return b }, jan31, true,
			Step{Action: ActRenew, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home}},
		{"auto-renew off, isolated, a payment: restore", func() Billable {
			b := owed()
			b.Subscriber.AutoRenew, b.Sub.State = false, radius.SubscriptionIsolated
			return b
		}, feb28, true, Step{Action: ActRenew, Start: feb28, End: at(t, "2027-03-28T10:00:00Z"), AnchorDay: 28, Plan: &home, Restore: true}},
		{"scheduled plan: the next period is the new plan's, at its price and period", func() Billable {
			b := paid()
			b.Sub.NextPlanID, b.NextPlan = 2, &fast
			return b
		}, feb28, false, Step{Action: ActRenew, Start: feb28, End: feb28.Add(30 * 24 * time.Hour), AnchorDay: 31, Plan: &fast}},
		{"scheduled plan dearer than the balance: grace with the new plan's (zero) grace, so isolate", func() Billable {
			b := paid()
			b.Sub.NextPlanID, b.NextPlan, b.Wallet.BalanceCents = 2, &fast, 3000
			return b
		}, feb28, false, Step{Action: ActIsolate, Start: feb28, End: feb28.Add(30 * 24 * time.Hour), AnchorDay: 31, Plan: &fast, GraceUntil: feb28}},
		{"reminder 7 days before, balance short", func() Billable { b := paid(); b.Wallet.BalanceCents = 1000; return b },
			feb28.Add(-7 * 24 * time.Hour), false,
			Step{Action: ActRemind, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, Days: 7}},
		{"reminder catch-up: only the 1-day one", func() Billable { b := paid(); b.Wallet.BalanceCents = 1000; return b },
			feb28.Add(-12 * time.Hour), false,
			Step{Action: ActRemind, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, Days: 1}},
		{"no reminder when the balance covers", paid, feb28.Add(-12 * time.Hour), false, Step{}},
		{"reminder when auto-renew is off though it covers", func() Billable { b := paid(); b.Subscriber.AutoRenew = false; return b },
			feb28.Add(-3 * 24 * time.Hour), false,
			Step{Action: ActRemind, Start: jan31, End: feb28, AnchorDay: 31, Plan: &home, Days: 3}},
		{"no reminder 8 days before", func() Billable { b := paid(); b.Wallet.BalanceCents = 0; return b },
			feb28.Add(-8 * 24 * time.Hour), false, Step{}},
		{"suspended subscriber: left alone", func() Billable { b := owed(); b.Subscriber.Status = radius.StatusSuspended; return b }, jan31, true, Step{}},
		{"cancelled: left alone", func() Billable { b := owed(); b.Sub.State = radius.SubscriptionCancelled; return b }, jan31, true, Step{}},
		{"plan made free since: left alone", func() Billable { b := owed(); b.Plan.PriceCents = 0; return b }, jan31, true, Step{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b()
			got := NextStep(&b, tt.now, tt.force, rules)
			if got.Action != tt.want.Action || !got.Start.Equal(tt.want.Start) || !got.End.Equal(tt.want.End) ||
				got.AnchorDay != tt.want.AnchorDay || got.Restore != tt.want.Restore || !got.GraceUntil.Equal(tt.want.GraceUntil) ||
				got.Days != tt.want.Days || (got.Plan == nil) != (tt.want.Plan == nil) ||
				got.Plan != nil && (got.Plan.ID != tt.want.Plan.ID || got.Plan.PriceCents != tt.want.Plan.PriceCents) {
				t.Fatalf("NextStep =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestNextStepAMonthOfRenewals steps a subscription started on 31 January through a
// year: each renewal starts where the last ended, on the anchor day or the month's end.
func TestNextStepAMonthOfRenewals(t *testing.T) {
	home := Plan{ID: 1, Name: "Home", Kind: radius.KindPPPoE, PriceCents: 2000, Period: PeriodMonth}
	start := at(t, "2027-01-31T10:00:00Z")
	b := Billable{
		Sub:        *NewSubscription(&home, start, time.UTC),
		Subscriber: Subscriber{Status: radius.StatusActive, AutoRenew: true},
		Plan:       home,
		Wallet:     Wallet{BalanceCents: 100000},
	}
	var ends []string
	now := start
	for range 5 {
		st := NextStep(&b, now, false, Rules{})
		if st.Action != ActRenew {
			t.Fatalf("at %v: %+v", now, st)
		}
		b.Sub.Paid, b.Sub.PeriodStart, b.Sub.PeriodEnd = true, st.Start, st.End
		b.Wallet.BalanceCents -= home.PriceCents
		ends = append(ends, st.End.Format(time.DateOnly))
		now = st.End
	}
	want := "2027-02-28 2027-03-31 2027-04-30 2027-05-31 2027-06-30"
	if got := ends; len(got) != 5 || got[0]+" "+got[1]+" "+got[2]+" "+got[3]+" "+got[4] != want {
		t.Fatalf("period ends %v, want %s", got, want)
	}
}
