package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"tollgate/billing"
	"tollgate/billing/payments"
	"tollgate/billing/payments/paystack"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// payments is the payments service over this process's pool, crediting through money:
// Paystack when its secret key is set, the generic provider when its webhook secret
// is. Paystack sends the payer back to the subscriber's portal when TOLLGATE_PUBLIC_URL
// is set.
func (d *deps) payments(money *billing.SubscriberService) *payments.Service {
	cfg := d.cfg
	gws := map[payments.Provider]payments.Gateway{}
	pc := payments.Config{Currency: cfg.Currency, TTL: cfg.TopUpTTL, WebhookSecrets: cfg.WebhookSecrets}
	if cfg.PaystackSecretKey != "" {
		cb := ""
		if cfg.PublicURL != "" {
			cb = cfg.PublicURL + "/my"
		}
		gws[payments.Paystack] = &paystack.Client{BaseURL: cfg.PaystackBaseURL, SecretKey: cfg.PaystackSecretKey, CallbackURL: cb}
		pc.PaystackSecret = []byte(cfg.PaystackSecretKey)
	}
	return &payments.Service{Store: billingpg.NewStore(d.pool), InTx: billingpg.PaymentsInTx(d.pool), Money: money,
		Gateways: gws, Config: pc, Now: time.Now, Log: d.log}
}

// portalPayments is the payments service of the portal role, its workers started: a
// restored subscriber's sessions are disconnected through an enforcer that loads the
// NAS table as it goes (the portal may run without the radius role).
func portalPayments(d *deps) *payments.Service {
	enf := d.enforcer(func(int64) (radius.NAS, bool) { return radius.NAS{}, false })
	enf.Disconnect = &lazyDisconnector{d: d, table: d.nasTableOrNone}
	pay := d.payments(d.money(enf))
	pay.Start()
	return pay
}

// billingPassRun is one billing pass as of now: the top-ups past their time expire,
// then the subscriptions are renewed, moved to grace or isolated (money.RunPass).
func billingPassRun(ctx context.Context, money *billing.SubscriberService, pay *payments.Service, now time.Time) (*billing.PassReport, *payments.PassReport, error) {
	prep, err := pay.RunPass(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	rep, err := money.RunPass(ctx, now)
	return rep, prep, err
}

// reviewJSON is a payment review as `payment reviews` prints it.
type reviewJSON struct {
	ID          int64      `json:"id"`
	State       string     `json:"state"`
	Reason      string     `json:"reason"`
	Provider    string     `json:"provider"`
	ProviderID  string     `json:"provider_id"`
	Reference   string     `json:"reference,omitempty"`
	Account     string     `json:"account,omitempty"`
	For         string     `json:"for,omitempty"` // the subscriber the payment points at
	Amount      string     `json:"amount"`
	Currency    string     `json:"currency"`
	ReceivedAt  time.Time  `json:"received_at"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy  string     `json:"resolved_by,omitempty"`
	CreditedTo  string     `json:"credited_to,omitempty"`
	Note        string     `json:"note,omitempty"`
	LedgerEntry int64      `json:"ledger_entry,omitempty"`
	// Event is the body as received (personal data); null once cleared, or withheld.
	Event *string `json:"event"`
	// Restricted: the review names a subscriber who restricted processing. Withheld:
	// so Event and Account are left out, for want of --reason.
	Restricted bool `json:"restricted,omitempty"`
	Withheld   bool `json:"withheld,omitempty"`
}

// withhold leaves out what a review shows of a restricted subscriber's payment: the
// event as received and the account it named.
func (r *reviewJSON) withhold() {
	r.Withheld, r.Event, r.Account = true, nil, ""
}

func toReviewJSON(r *payments.Review) reviewJSON {
	out := reviewJSON{ID: r.ID, State: string(r.State), Reason: string(r.Reason), Provider: string(r.Payment.Provider),
		ProviderID: r.Payment.ProviderID, Reference: r.Payment.Reference, Account: r.Payment.Account, For: r.PaymentUsername,
		Amount: billing.FormatCents(r.Payment.AmountCents), Currency: r.Payment.Currency, ReceivedAt: r.Payment.ReceivedAt.UTC(),
		ResolvedBy: r.ResolvedBy, CreditedTo: r.Username, Note: r.Note, LedgerEntry: r.LedgerEntryID, Restricted: r.RestrictedID != 0}
	if !r.ResolvedAt.IsZero() {
		t := r.ResolvedAt.UTC()
		out.ResolvedAt = &t
	}
	if r.Raw != nil {
		s := string(r.Raw)
		out.Event = &s
	}
	return out
}

func cmdPaymentReviews(ctx context.Context, e *env, args []string) error {
	fs := e.flags("payment reviews")
	state := fs.String("state", "open", "open, credited, dismissed or all")
	limit := fs.Int("limit", payments.DefaultReviewLimit, fmt.Sprintf("newest reviews to show (1 to %d)", payments.MaxReviewLimit))
	reason := fs.String("reason", "", "why you read the events of subscribers who restricted processing (without it, their reviews show without event and account)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	// The reason is checked as a restricted subscriber's read would check it, before
	// anything is read.
	why, err := billing.CheckStaffRead(&billing.Profile{}, *reason)
	if err != nil {
		return err
	}
	filter := payments.ReviewState(*state)
	if *state == "all" {
		filter = ""
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.payments(d.money(nil)).Reviews(ctx, filter, *limit)
	if err != nil {
		return err
	}
	// The events hold the payers' personal data: reading them is audited. A review
	// naming a subscriber who restricted processing shows its event and account only
	// under a reason, and each such read is audited as a read of him (issue 9).
	out := make([]reviewJSON, 0, len(list))
	withheld := 0
	for i := range list {
		r := toReviewJSON(&list[i])
		if r.Restricted && why == "" {
			r.withhold()
			withheld++
		}
		out = append(out, r)
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "payment.reviews",
		Detail: map[string]any{"state": *state, "count": len(list), "withheld": withheld}}); err != nil {
		return err
	}
	for i := range list {
		if id := list[i].RestrictedID; id != 0 && why != "" {
			if err := auditStaffRead(ctx, e, d, fmt.Sprintf("subscriber:%d", id), fmt.Sprintf("payment review %d", list[i].ID), why, true); err != nil {
				return err
			}
		}
	}
	return e.print(out, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintf(w, "no %s payment reviews\n", *state)
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVED\tPROVIDER\tTRANSACTION\tREFERENCE/ACCOUNT\tAMOUNT\tREASON\tSTATE")
		for _, r := range out {
			ref := r.Reference
			switch {
			case ref != "":
			case r.Withheld:
				ref = "account withheld"
			default:
				ref = "account " + r.Account
			}
			if r.For != "" {
				ref += " (" + r.For + ")"
			}
			st := r.State
			if r.CreditedTo != "" {
				st += " to " + r.CreditedTo
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s %s\t%s\t%s\n", r.ID, r.ReceivedAt.In(e.cfg.Location).Format(time.DateTime), r.Provider,
				r.ProviderID, ref, r.Amount, r.Currency, r.Reason, st)
		}
		tw.Flush()
		if withheld > 0 {
			fmt.Fprintf(w, "%d review(s) name a subscriber who restricted processing: their event and account are withheld; give --reason TEXT to show them\n", withheld)
		}
	})
}

type resolvedJSON struct {
	Review  reviewJSON    `json:"review"`
	Receipt string        `json:"receipt,omitempty"`
	Balance string        `json:"balance,omitempty"`
	Settled []outcomeJSON `json:"settled"`
}

func cmdPaymentResolve(ctx context.Context, e *env, args []string) error {
	fs := e.flags("payment resolve")
	id := fs.Int64("id", 0, "the review's id (payment reviews)")
	credit := fs.String("credit", "", "credit the amount received to this subscriber")
	dismiss := fs.Bool("dismiss", false, "dismiss the payment (say why with --note)")
	note := fs.String("note", "", "why: required to dismiss, e.g. \"refunded on Paystack\"")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	switch {
	case *id <= 0:
		return usagef("payment resolve: --id is required")
	case (*credit == "") == !*dismiss:
		return usagef("payment resolve: give either --credit USER or --dismiss")
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
	res, err := d.payments(money).Resolve(ctx, *id, payments.Resolution{Credit: *credit, Note: *note, Actor: actor})
	if err != nil {
		return err
	}
	detail := map[string]any{"state": string(res.Review.State), "note": *note, "amount_cents": res.Review.Payment.AmountCents,
		"currency": res.Review.Payment.Currency, "provider": string(res.Review.Payment.Provider)}
	out := resolvedJSON{Review: toReviewJSON(res.Review), Settled: []outcomeJSON{}}
	if out.Review.Restricted {
		out.Review.withhold() // a write is no read: it answers what the list shows
	}
	if res.Credit != nil {
		detail["subscriber"], detail["entry"] = *credit, res.Credit.Entry.ID
		out.Balance, out.Settled = billing.FormatCents(res.Credit.BalanceCents), toOutcomesJSON(res.Credit.Settled)
		if res.Credit.Receipt != nil {
			out.Receipt, detail["receipt"] = res.Credit.Receipt.Number, res.Credit.Receipt.Number
		}
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: actor, Action: "payment.resolve",
		Target: "payment_review:" + strconv.FormatInt(*id, 10), Detail: detail}); err != nil {
		return err
	}
	return e.print(out, func(w io.Writer) {
		if res.Credit == nil {
			fmt.Fprintf(w, "review %d dismissed: %s\n", *id, *note)
			return
		}
		fmt.Fprintf(w, "review %d: %s credited to %q, receipt %s, balance %s\n", *id,
			billing.FormatMoney(res.Review.Payment.AmountCents, res.Review.Payment.Currency), *credit, out.Receipt,
			billing.FormatMoney(res.Credit.BalanceCents, e.cfg.Currency))
		printOutcomes(w, e.cfg.Currency, e.cfg.Location, out.Settled)
	})
}
