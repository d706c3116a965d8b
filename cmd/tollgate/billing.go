package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"tollgate/billing"
	"tollgate/billing/payments"
	billingpg "tollgate/billing/postgres"
	"tollgate/radius"
)

// outcomeJSON is one step of a subscription as the money commands print it.
type outcomeJSON struct {
	Username     string     `json:"username"`
	Action       string     `json:"action"` // renew, grace, isolate, remind
	Restored     bool       `json:"restored,omitempty"`
	PlanChanged  bool       `json:"plan_changed,omitempty"`
	Plan         string     `json:"plan"`
	Amount       string     `json:"amount"`
	PeriodStart  time.Time  `json:"period_start"`
	PeriodEnd    time.Time  `json:"period_end"`
	GraceUntil   *time.Time `json:"grace_until,omitempty"`
	Invoice      string     `json:"invoice,omitempty"`
	Days         int        `json:"days,omitempty"`
	Disconnected []coaJSON  `json:"disconnected,omitempty"`
	Error        string     `json:"error,omitempty"`
}

func toOutcomeJSON(o *billing.Outcome) outcomeJSON {
	out := outcomeJSON{Username: o.Username, Action: string(o.Action), Restored: o.Restore, PlanChanged: o.PlanChanged,
		Plan: o.Plan, Amount: billing.FormatCents(o.AmountCents), PeriodStart: o.PeriodStart.UTC(), PeriodEnd: o.PeriodEnd.UTC(),
		Invoice: o.Invoice, Days: o.Days, Disconnected: toCoAJSON(o.Disconnected)}
	if !o.GraceUntil.IsZero() {
		g := o.GraceUntil.UTC()
		out.GraceUntil = &g
	}
	if o.Err != nil {
		out.Error = o.Err.Error()
	}
	return out
}

func toOutcomesJSON(list []*billing.Outcome) []outcomeJSON {
	out := make([]outcomeJSON, 0, len(list))
	for _, o := range list {
		out = append(out, toOutcomeJSON(o))
	}
	return out
}

// printOutcomes writes one line per step.
func printOutcomes(w io.Writer, currency string, loc *time.Location, list []outcomeJSON) {
	day := func(t time.Time) string { return t.In(loc).Format(time.DateOnly) }
	for _, o := range list {
		switch o.Action {
		case string(billing.ActRenew):
			verb := "renewed"
			if o.Restored {
				verb = "restored"
			}
			fmt.Fprintf(w, "  %-9s %s: %s %s to %s, %s %s, invoice %s\n", verb, o.Username, o.Plan, day(o.PeriodStart), day(o.PeriodEnd),
				o.Amount, currency, o.Invoice)
		case string(billing.ActGrace):
			fmt.Fprintf(w, "  %-9s %s: %s %s unpaid, service until %s\n", "grace", o.Username, o.Amount, currency, day(*o.GraceUntil))
		case string(billing.ActIsolate):
			fmt.Fprintf(w, "  %-9s %s: %s %s unpaid since %s\n", "isolated", o.Username, o.Amount, currency, day(o.PeriodStart))
		case string(billing.ActRemind):
			fmt.Fprintf(w, "  %-9s %s: %s %s due on %s, in %d days\n", "reminder", o.Username, o.Amount, currency, day(o.PeriodEnd), o.Days)
		}
		if len(o.Disconnected) > 0 {
			printCoA(w, o.Disconnected)
		}
		if o.Error != "" {
			fmt.Fprintf(w, "            error: %s\n", o.Error)
		}
	}
}

type passJSON struct {
	At        time.Time `json:"at"`
	Renewed   int       `json:"renewed"`
	Restored  int       `json:"restored"`
	Grace     int       `json:"grace"`
	Isolated  int       `json:"isolated"`
	Reminders int       `json:"reminders"`
	// ExpiredCheckouts are the online top-ups that expired unpaid.
	ExpiredCheckouts int           `json:"expired_checkouts"`
	Outcomes         []outcomeJSON `json:"outcomes"`
	Errors           []string      `json:"errors"`
}

func toPassJSON(r *billing.PassReport, p *payments.PassReport) passJSON {
	out := passJSON{At: r.At.UTC(), Renewed: r.Renewed, Restored: r.Restored, Grace: r.Grace, Isolated: r.Isolated,
		Reminders: r.Reminders, ExpiredCheckouts: p.Expired, Outcomes: []outcomeJSON{}, Errors: r.Errors}
	for i := range r.Outcomes {
		out.Outcomes = append(out.Outcomes, toOutcomeJSON(&r.Outcomes[i]))
	}
	if out.Errors == nil {
		out.Errors = []string{}
	}
	return out
}

// cmdBillingRun runs one billing pass as of --now (default: the clock). It waits for a
// pass that cron or another `billing run` is running, so two never overlap.
func cmdBillingRun(ctx context.Context, e *env, args []string) error {
	fs := e.flags("billing run")
	nowFlag := fs.String("now", "", "run the pass as of this time (RFC 3339, e.g. 2027-01-31T10:00:00Z); default: now")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return radius.Errorf(radius.EINVALID, "now: %q is not an RFC 3339 time like 2027-01-31T10:00:00Z", *nowFlag)
		}
		now = t
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	money, err := d.cliMoney(ctx)
	if err != nil {
		return err
	}
	var rep *billing.PassReport
	var prep *payments.PassReport
	err = billingpg.WithPassLock(ctx, d.pool, func(ctx context.Context) error {
		var err error
		rep, prep, err = billingPassRun(ctx, money, d.payments(money), now)
		return err
	})
	if err != nil {
		return err
	}
	out := toPassJSON(rep, prep)
	if err := e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "billing pass as of %s: %d renewed (%d restored), %d in grace, %d isolated, %d reminders\n",
			rep.At.In(e.cfg.Location).Format(time.RFC3339), rep.Renewed, rep.Restored, rep.Grace, rep.Isolated, rep.Reminders)
		fmt.Fprintf(w, "expired checkouts: %d (online top-ups not paid within TOLLGATE_TOPUP_TTL)\n", prep.Expired)
		printOutcomes(w, e.cfg.Currency, e.cfg.Location, out.Outcomes)
		for _, msg := range rep.Errors {
			fmt.Fprintf(w, "  error: %s\n", msg)
		}
	}); err != nil {
		return err
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("billing run: %d failed: %s", len(rep.Errors), strings.Join(rep.Errors, "; "))
	}
	return nil
}
