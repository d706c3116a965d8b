package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// invoiceJSON is an invoice or receipt; amounts are decimal strings in the currency's
// main unit.
type invoiceJSON struct {
	Number      string            `json:"number"`
	Kind        string            `json:"kind"`
	IssuedAt    time.Time         `json:"issued_at"`
	Username    string            `json:"username"`
	Customer    string            `json:"customer"`
	Plan        string            `json:"plan,omitempty"`
	Currency    string            `json:"currency"`
	Net         string            `json:"net"`
	Tax         string            `json:"tax"`
	Total       string            `json:"total"`
	TaxName     string            `json:"tax_name"`
	TaxRate     string            `json:"tax_rate"` // percent, "16" or "7.5"
	PeriodStart *time.Time        `json:"period_start,omitempty"`
	PeriodEnd   *time.Time        `json:"period_end,omitempty"`
	Lines       []invoiceLineJSON `json:"lines,omitempty"`
	// Restricted: the subscriber restricted processing, so a list withholds Username
	// and Customer unless it is his (--subscriber) read with --reason.
	Restricted bool `json:"restricted,omitempty"`
}

type invoiceLineJSON struct {
	Line        int    `json:"line"`
	Description string `json:"description"`
	Quantity    int    `json:"quantity"`
	Unit        string `json:"unit"`
	Net         string `json:"net"`
	Tax         string `json:"tax"`
	Total       string `json:"total"`
}

func toInvoiceJSON(inv *billing.Invoice) invoiceJSON {
	out := invoiceJSON{Number: inv.Number, Kind: string(inv.Kind), IssuedAt: inv.IssuedAt.UTC(), Username: inv.Username,
		Customer: inv.CustomerName, Plan: inv.PlanName, Currency: inv.Currency, Net: billing.FormatCents(inv.NetCents),
		Tax: billing.FormatCents(inv.TaxCents), Total: billing.FormatCents(inv.TotalCents), TaxName: inv.TaxName,
		TaxRate: billing.FormatTaxRate(inv.TaxRateBP)}
	if !inv.PeriodStart.IsZero() {
		s, e := inv.PeriodStart.UTC(), inv.PeriodEnd.UTC()
		out.PeriodStart, out.PeriodEnd = &s, &e
	}
	for _, l := range inv.Lines {
		out.Lines = append(out.Lines, invoiceLineJSON{Line: l.Line, Description: l.Description, Quantity: l.Quantity,
			Unit: billing.FormatCents(l.UnitCents), Net: billing.FormatCents(l.NetCents), Tax: billing.FormatCents(l.TaxCents),
			Total: billing.FormatCents(l.TotalCents)})
	}
	return out
}

func cmdInvoiceList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("invoice list")
	user := fs.String("subscriber", "", "only this subscriber's documents")
	kind := fs.String("kind", "", "invoice or receipt (default: both)")
	limit := fs.Int("limit", billing.DefaultInvoiceLimit, fmt.Sprintf("newest documents to show (1 to %d)", billing.MaxInvoiceLimit))
	reason := fs.String("reason", "", "with --subscriber: why you read it (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 {
		return radius.Errorf(radius.EINVALID, "limit: must be 1 to %d", billing.MaxInvoiceLimit)
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if *user != "" {
		if err := staffRead(ctx, e, d, *user, *reason, "invoices"); err != nil {
			return err
		}
	}
	list, err := d.money(nil).Invoices(ctx, *user, billing.InvoiceKind(*kind), *limit)
	if err != nil {
		return err
	}
	// A restricted subscriber's documents show his username and customer name only in
	// his own list read under a reason (staffRead above demands it of him); any other
	// list withholds them, as the API's list does (issue 9).
	whole := *user != "" && strings.TrimSpace(*reason) != ""
	out := make([]invoiceJSON, 0, len(list))
	withheld := 0
	for i := range list {
		j := toInvoiceJSON(&list[i])
		if j.Restricted = list[i].Restricted; j.Restricted && !whole {
			j.Username, j.Customer = "", ""
			withheld++
		}
		out = append(out, j)
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NUMBER\tKIND\tISSUED\tUSERNAME\tNET\tTAX\tTOTAL")
		for i, inv := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", inv.Number, inv.Kind, inv.IssuedAt.In(e.cfg.Location).Format(time.DateTime),
				out[i].Username, billing.FormatCents(inv.NetCents), billing.FormatCents(inv.TaxCents), billing.FormatMoney(inv.TotalCents, inv.Currency))
		}
		tw.Flush()
		if withheld > 0 {
			fmt.Fprintf(w, "%d document(s) of subscribers who restricted processing: their username and customer are withheld; list one with --subscriber U --reason TEXT to show them\n", withheld)
		}
	})
}

func cmdInvoiceShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("invoice show")
	reason := fs.String("reason", "", "why you read it (required when the subscriber restricted processing)")
	number, err := e.parseWithArg(fs, args, "NUMBER")
	if err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	inv, err := d.money(nil).Invoice(ctx, number)
	if err != nil {
		return err
	}
	if err := staffRead(ctx, e, d, inv.Username, *reason, "invoice "+inv.Number); err != nil {
		return err
	}
	return e.print(toInvoiceJSON(inv), func(w io.Writer) {
		title := "INVOICE"
		if inv.Kind == billing.KindReceipt {
			title = "RECEIPT"
		}
		fmt.Fprintf(w, "%s %s\nissued:   %s\ncustomer: %s", title, inv.Number, inv.IssuedAt.In(e.cfg.Location).Format(time.DateTime+" MST"), inv.Username)
		if inv.CustomerName != "" {
			fmt.Fprintf(w, " (%s)", inv.CustomerName)
		}
		fmt.Fprintln(w)
		if !inv.PeriodStart.IsZero() {
			fmt.Fprintf(w, "period:   %s to %s\n", inv.PeriodStart.In(e.cfg.Location).Format(time.DateOnly), inv.PeriodEnd.In(e.cfg.Location).Format(time.DateOnly))
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "#\tDESCRIPTION\tQTY\tNET\t%s\tTOTAL (%s)\t\n", inv.TaxName, inv.Currency)
		for _, l := range inv.Lines {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t\n", l.Line, l.Description, l.Quantity, billing.FormatCents(l.NetCents),
				billing.FormatCents(l.TaxCents), billing.FormatCents(l.TotalCents))
		}
		tw.Flush()
		fmt.Fprintf(w, "net %s, %s %s%% %s, total %s\n", billing.FormatCents(inv.NetCents), inv.TaxName, billing.FormatTaxRate(inv.TaxRateBP),
			billing.FormatCents(inv.TaxCents), billing.FormatMoney(inv.TotalCents, inv.Currency))
	})
}
