package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/radius"
)

// cliActor is the ledger's actor for money moved from the command line.
const cliActor = "cli"

type resellerJSON struct {
	ID               int64     `json:"id"`
	Name             string    `json:"name"`
	Email            string    `json:"email"`
	Status           string    `json:"status"`
	CreditLimitCents int64     `json:"credit_limit_cents"`
	BalanceCents     int64     `json:"balance_cents"`
	CreatedAt        time.Time `json:"created_at"`
}

func toResellerJSON(r *billing.Reseller) resellerJSON {
	return resellerJSON{ID: r.ID, Name: r.Name, Email: r.Email, Status: string(r.Status),
		CreditLimitCents: r.CreditLimitCents, BalanceCents: r.BalanceCents, CreatedAt: r.CreatedAt.UTC()}
}

type ledgerEntryJSON struct {
	ID                int64     `json:"id"`
	Reseller          string    `json:"reseller"`
	At                time.Time `json:"at"`
	Kind              string    `json:"kind"`
	AmountCents       int64     `json:"amount_cents"`
	BalanceAfterCents int64     `json:"balance_after_cents"`
	Note              string    `json:"note"`
	IdempotencyKey    string    `json:"idempotency_key"`
	Ref               string    `json:"ref"`
	Actor             string    `json:"actor"`
	Replayed          bool      `json:"replayed,omitempty"`
}

func toLedgerEntryJSON(reseller string, e *billing.LedgerEntry) ledgerEntryJSON {
	return ledgerEntryJSON{ID: e.ID, Reseller: reseller, At: e.At.UTC(), Kind: string(e.Kind), AmountCents: e.AmountCents,
		BalanceAfterCents: e.BalanceAfterCents, Note: e.Note, IdempotencyKey: e.IdempotencyKey, Ref: e.Ref,
		Actor: e.Actor, Replayed: e.Replayed}
}

// resellers is the reseller and wallet service over this process's pool.
func (d *deps) resellers() *billing.ResellerService {
	st := billingpg.NewStore(d.pool)
	return &billing.ResellerService{Store: st, Wallets: st}
}

// parseResellerAmount reads an amount flag such as "12.50" into cents; the error names the flag.
func parseResellerAmount(flag, s string) (int64, error) {
	c, err := billing.ParseCents(s)
	if err != nil {
		return 0, radius.Errorf(radius.EINVALID, "%s: %s", flag, radius.ErrorMessage(err))
	}
	return c, nil
}

// newResellerKey returns a random version-4 UUID from crypto/rand.
func newResellerKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func cmdResellerAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("reseller add")
	var in billing.NewReseller
	fs.StringVar(&in.Name, "name", "", "reseller name (letters, digits, spaces, . _ -)")
	fs.StringVar(&in.Email, "email", "", "contact e-mail address")
	limit := fs.String("credit-limit", "0", "how far the wallet may go below zero, e.g. 50.00")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	var err error
	if in.CreditLimitCents, err = parseResellerAmount("credit-limit", *limit); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	r, err := d.resellers().CreateReseller(ctx, in)
	if err != nil {
		return err
	}
	return e.print(toResellerJSON(r), func(w io.Writer) {
		fmt.Fprintf(w, "added reseller %q (id %d), credit limit %s\n", r.Name, r.ID, billing.FormatMoney(r.CreditLimitCents, e.cfg.Currency))
	})
}

func cmdResellerList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("reseller list")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.resellers().ListResellers(ctx)
	if err != nil {
		return err
	}
	out := make([]resellerJSON, 0, len(list))
	for i := range list {
		out = append(out, toResellerJSON(&list[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ID\tNAME\tSTATUS\tBALANCE (%s)\tCREDIT LIMIT\tEMAIL\n", e.cfg.Currency)
		for _, r := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Status,
				billing.FormatCents(r.BalanceCents), billing.FormatCents(r.CreditLimitCents), r.Email)
		}
		tw.Flush()
	})
}

func cmdResellerCredit(ctx context.Context, e *env, args []string) error {
	fs := e.flags("reseller credit")
	name := fs.String("name", "", "reseller name")
	amount := fs.String("amount", "", "amount received, e.g. 12.50")
	note := fs.String("note", "", `where the money came from, e.g. "cash"`)
	key := fs.String("idempotency-key", "", "repeat a credit safely with the same key (default: a new random key, printed)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name", "amount", "note"); err != nil {
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
	entry, err := d.resellers().Credit(ctx, *name, cents, *note, *key, cliActor)
	if err != nil {
		return err
	}
	return e.print(toLedgerEntryJSON(*name, &entry), func(w io.Writer) {
		verb := "credited"
		if entry.Replayed {
			verb = "already credited (nothing changed):"
		}
		fmt.Fprintf(w, "%s %s to %q, balance %s (entry %d)\nidempotency key: %s\n", verb,
			billing.FormatMoney(entry.AmountCents, e.cfg.Currency), *name, billing.FormatMoney(entry.BalanceAfterCents, e.cfg.Currency),
			entry.ID, entry.IdempotencyKey)
	})
}

func cmdResellerLedger(ctx context.Context, e *env, args []string) error {
	fs := e.flags("reseller ledger")
	name := fs.String("name", "", "reseller name")
	limit := fs.Int("limit", billing.DefaultLedgerLimit, fmt.Sprintf("newest entries to show (1 to %d)", billing.MaxLedgerLimit))
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	if *limit < 1 || *limit > billing.MaxLedgerLimit {
		// 0 would mean the default to the service; on the command line it is a mistake.
		return radius.Errorf(radius.EINVALID, "limit: must be 1 to %d", billing.MaxLedgerLimit)
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.resellers().Ledger(ctx, *name, *limit)
	if err != nil {
		return err
	}
	out := make([]ledgerEntryJSON, 0, len(list))
	for i := range list {
		out = append(out, toLedgerEntryJSON(*name, &list[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ID\tAT\tKIND\tAMOUNT (%s)\tBALANCE\tREF\tACTOR\tNOTE\n", e.cfg.Currency)
		for _, l := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.At.UTC().Format(time.RFC3339), l.Kind,
				billing.FormatCents(l.AmountCents), billing.FormatCents(l.BalanceAfterCents), l.Ref, l.Actor, l.Note)
		}
		tw.Flush()
	})
}
