package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"tollgate/billing"
	"tollgate/billing/payments"
)

// topUpJSON is a top-up as the topup commands print it.
type topUpJSON struct {
	Reference        string     `json:"reference"`
	Subscriber       string     `json:"subscriber"`
	Provider         string     `json:"provider"`
	Amount           string     `json:"amount"`
	Currency         string     `json:"currency"`
	State            string     `json:"state"`
	AuthorizationURL string     `json:"authorization_url"`
	CreatedAt        time.Time  `json:"created_at"`
	ExpiresAt        time.Time  `json:"expires_at"`
	ClosedAt         *time.Time `json:"closed_at,omitempty"`
	Note             string     `json:"note,omitempty"`
	LedgerEntry      int64      `json:"ledger_entry,omitempty"`
}

func toTopUpJSON(t *payments.TopUp) topUpJSON {
	out := topUpJSON{Reference: t.Reference, Subscriber: t.Username, Provider: string(t.Provider), Amount: billing.FormatCents(t.AmountCents),
		Currency: t.Currency, State: string(t.State), AuthorizationURL: t.AuthorizationURL, CreatedAt: t.CreatedAt.UTC(),
		ExpiresAt: t.ExpiresAt.UTC(), Note: t.Note, LedgerEntry: t.LedgerEntryID}
	if !t.ClosedAt.IsZero() {
		c := t.ClosedAt.UTC()
		out.ClosedAt = &c
	}
	return out
}

// cmdTopUpCreate starts an online top-up: a pending top-up with its reference and, at
// Paystack, the checkout page to send the subscriber to.
func cmdTopUpCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("topup create")
	user := fs.String("subscriber", "", "the subscriber's username")
	amount := fs.String("amount", "", "amount to pay, e.g. 20.00")
	provider := fs.String("provider", "paystack", "paystack, or generic (a gateway that quotes the reference)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "subscriber", "amount", "provider"); err != nil {
		return err
	}
	cents, err := parseResellerAmount("amount", *amount)
	if err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	t, url, err := d.payments(d.money(nil)).StartTopUp(ctx, *user, cents, *provider)
	if err != nil {
		return err
	}
	return e.print(toTopUpJSON(t), func(w io.Writer) {
		fmt.Fprintf(w, "top-up %s: %s for %q at %s, pending until %s\n", t.Reference, billing.FormatMoney(t.AmountCents, t.Currency),
			t.Username, t.Provider, t.ExpiresAt.In(e.cfg.Location).Format(time.DateTime+" MST"))
		if url != "" {
			fmt.Fprintf(w, "authorization_url: %s\n", url)
		} else {
			fmt.Fprintf(w, "reference to quote: %s\n", t.Reference)
		}
	})
}

func cmdTopUpList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("topup list")
	user := fs.String("subscriber", "", "only this subscriber's")
	state := fs.String("state", "", "pending, paid, failed or expired (default: any)")
	limit := fs.Int("limit", payments.DefaultTopUpLimit, fmt.Sprintf("newest top-ups to show (1 to %d)", payments.MaxTopUpLimit))
	reason := fs.String("reason", "", "with --subscriber: why you read it (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if *user != "" {
		if err := staffRead(ctx, e, d, *user, *reason, "topups"); err != nil {
			return err
		}
	}
	list, err := d.payments(d.money(nil)).TopUps(ctx, *user, payments.State(*state), *limit)
	if err != nil {
		return err
	}
	out := make([]topUpJSON, 0, len(list))
	for i := range list {
		out = append(out, toTopUpJSON(&list[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REFERENCE\tSUBSCRIBER\tPROVIDER\tAMOUNT\tSTATE\tCREATED\tEXPIRES")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Reference, t.Username, t.Provider, billing.FormatMoney(t.AmountCents, t.Currency),
				t.State, t.CreatedAt.In(e.cfg.Location).Format(time.DateTime), t.ExpiresAt.In(e.cfg.Location).Format(time.DateTime))
		}
		tw.Flush()
	})
}

func cmdTopUpShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("topup show")
	reason := fs.String("reason", "", "why you read it (required when the subscriber restricted processing)")
	ref, err := e.parseWithArg(fs, args, "REFERENCE")
	if err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	t, err := d.payments(d.money(nil)).TopUp(ctx, ref)
	if err != nil {
		return err
	}
	if err := staffRead(ctx, e, d, t.Username, *reason, "topup "+t.Reference); err != nil {
		return err
	}
	out := toTopUpJSON(t)
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "top-up %s: %s for %q at %s, %s\n", t.Reference, billing.FormatMoney(t.AmountCents, t.Currency), t.Username, t.Provider, t.State)
		fmt.Fprintf(w, "created %s, expires %s\n", t.CreatedAt.In(e.cfg.Location).Format(time.DateTime), t.ExpiresAt.In(e.cfg.Location).Format(time.DateTime))
		if t.AuthorizationURL != "" {
			fmt.Fprintf(w, "authorization_url: %s\n", t.AuthorizationURL)
		}
		if t.Note != "" {
			fmt.Fprintf(w, "note: %s\n", t.Note)
		}
	})
}
