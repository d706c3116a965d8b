package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// walletEntryJSON is a ledger entry as wallet show prints it: amounts as decimal strings
// in the currency's main unit, signed (+credit, -debit).
type walletEntryJSON struct {
	ID             int64     `json:"id"`
	At             time.Time `json:"at"`
	Kind           string    `json:"kind"`
	Amount         string    `json:"amount"`
	BalanceAfter   string    `json:"balance_after"`
	Note           string    `json:"note"`
	Ref            string    `json:"ref"`
	Actor          string    `json:"actor"`
	IdempotencyKey string    `json:"idempotency_key"`
	Replayed       bool      `json:"replayed,omitempty"`
}

func toWalletEntryJSON(e *billing.LedgerEntry) walletEntryJSON {
	return walletEntryJSON{ID: e.ID, At: e.At.UTC(), Kind: string(e.Kind), Amount: billing.FormatCents(e.AmountCents),
		BalanceAfter: billing.FormatCents(e.BalanceAfterCents), Note: e.Note, Ref: e.Ref, Actor: e.Actor,
		IdempotencyKey: e.IdempotencyKey, Replayed: e.Replayed}
}

type walletJSON struct {
	Subscriber string            `json:"subscriber"`
	Currency   string            `json:"currency"`
	Balance    string            `json:"balance"`
	Entries    []walletEntryJSON `json:"entries"`
}

func cmdWalletShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("wallet show")
	user := fs.String("subscriber", "", "the subscriber's username")
	limit := fs.Int("limit", billing.DefaultLedgerLimit, fmt.Sprintf("newest entries to show (1 to %d)", billing.MaxLedgerLimit))
	reason := fs.String("reason", "", "why you read it (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "subscriber"); err != nil {
		return err
	}
	if *limit < 1 || *limit > billing.MaxLedgerLimit {
		return radius.Errorf(radius.EINVALID, "limit: must be 1 to %d", billing.MaxLedgerLimit)
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if err := staffRead(ctx, e, d, *user, *reason, "wallet"); err != nil {
		return err
	}
	w, list, err := d.money(nil).WalletOf(ctx, *user, *limit)
	if err != nil {
		return err
	}
	cur := e.cfg.Currency
	out := walletJSON{Subscriber: *user, Currency: cur, Balance: billing.FormatCents(w.BalanceCents), Entries: []walletEntryJSON{}}
	for i := range list {
		out.Entries = append(out.Entries, toWalletEntryJSON(&list[i]))
	}
	return e.print(out, func(wr io.Writer) {
		fmt.Fprintf(wr, "wallet of %q: balance %s\n", *user, billing.FormatMoney(w.BalanceCents, cur))
		if len(list) == 0 {
			return
		}
		tw := tabwriter.NewWriter(wr, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ID\tAT\tKIND\tAMOUNT (%s)\tBALANCE\tREF\tACTOR\tNOTE\n", cur)
		for _, l := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.At.UTC().Format(time.RFC3339), l.Kind,
				billing.FormatCents(l.AmountCents), billing.FormatCents(l.BalanceAfterCents), l.Ref, l.Actor, l.Note)
		}
		tw.Flush()
	})
}

type walletCreditJSON struct {
	walletEntryJSON
	Subscriber string        `json:"subscriber"`
	Currency   string        `json:"currency"`
	Balance    string        `json:"balance"`
	Receipt    string        `json:"receipt,omitempty"`
	Settled    []outcomeJSON `json:"settled"`
}

func cmdWalletCredit(ctx context.Context, e *env, args []string) error {
	fs := e.flags("wallet credit")
	user := fs.String("subscriber", "", "the subscriber's username")
	amount := fs.String("amount", "", "amount received, e.g. 20.00")
	note := fs.String("note", "", `where the money came from, e.g. "cash"`)
	key := fs.String("idempotency-key", "", "repeat a credit safely with the same key (default: a new random key, printed)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "subscriber", "amount", "note"); err != nil {
		return err
	}
	cents, err := parseResellerAmount("amount", *amount)
	if err != nil {
		return err
	}
	if *key == "" {
		*key = newResellerKey()
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
	res, err := money.Credit(ctx, billing.CreditRequest{Username: *user, AmountCents: cents, Kind: billing.EntryTopup,
		Note: *note, IdempotencyKey: *key, Actor: actor})
	if res == nil {
		return err
	}
	// Committed: the audit log says who moved the money, whatever came after.
	_, _, audit := portalStores(d, e.cfg)
	detail := map[string]any{"amount": billing.FormatCents(cents), "currency": e.cfg.Currency, "note": *note,
		"idempotency_key": *key, "entry": res.Entry.ID, "replayed": res.Entry.Replayed}
	if res.Receipt != nil {
		detail["receipt"] = res.Receipt.Number
	}
	if aerr := audit.Audit(ctx, auth.AuditEntry{Actor: actor, Action: "wallet.credit",
		Target: fmt.Sprintf("subscriber:%d", res.Entry.SubscriberID), Detail: detail}); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return err
	}
	cur := e.cfg.Currency
	out := walletCreditJSON{walletEntryJSON: toWalletEntryJSON(&res.Entry), Subscriber: *user, Currency: cur,
		Balance: billing.FormatCents(res.BalanceCents), Settled: toOutcomesJSON(res.Settled)}
	if res.Receipt != nil {
		out.Receipt = res.Receipt.Number
	}
	return e.print(out, func(w io.Writer) {
		verb := "credited"
		if res.Entry.Replayed {
			verb = "already credited (nothing changed):"
		}
		fmt.Fprintf(w, "%s %s to %q, receipt %s, balance %s\nidempotency key: %s\n", verb,
			billing.FormatMoney(cents, cur), *user, out.Receipt, billing.FormatMoney(res.BalanceCents, cur), res.Entry.IdempotencyKey)
		printOutcomes(w, cur, e.cfg.Location, out.Settled)
	})
}
