package billing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// InvoiceKind says what a document is: an invoice for a renewal (a period of service
// sold), or a receipt for money received into a wallet (a payment or a top-up).
type InvoiceKind string

// Document kinds.
const (
	KindInvoice InvoiceKind = "invoice"
	KindReceipt InvoiceKind = "receipt"
)

// Valid reports whether k is a known kind.
func (k InvoiceKind) Valid() bool { return k == KindInvoice || k == KindReceipt }

// prefix is the number's prefix of k.
func (k InvoiceKind) prefix() string {
	if k == KindReceipt {
		return "RCT"
	}
	return "INV"
}

// InvoiceNumber writes the number of the seq-th document of kind k in year:
// "INV-2026-000001", "RCT-2026-000042". Numbers run without gaps per kind and year.
func InvoiceNumber(k InvoiceKind, year, seq int) string {
	return fmt.Sprintf("%s-%04d-%06d", k.prefix(), year, seq)
}

// ParseInvoiceNumber reads a number written by InvoiceNumber (any case). EINVALID.
func ParseInvoiceNumber(s string) (InvoiceKind, int, int, error) {
	bad := invalid("number: %q is not an invoice or receipt number like INV-2026-000001", s)
	parts := strings.Split(strings.ToUpper(strings.TrimSpace(s)), "-")
	if len(parts) != 3 || len(parts[1]) != 4 || len(parts[2]) < 6 {
		return "", 0, 0, bad
	}
	var k InvoiceKind
	switch parts[0] {
	case "INV":
		k = KindInvoice
	case "RCT":
		k = KindReceipt
	default:
		return "", 0, 0, bad
	}
	year, err1 := strconv.Atoi(parts[1])
	seq, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || seq < 1 || strings.ContainsAny(parts[1]+parts[2], "+-") {
		return "", 0, 0, bad
	}
	return k, year, seq, nil
}

// Invoice is an issued invoice or receipt, as stored: immutable, and a copy of what it
// says (customer, plan, tax rate), so that it reads the same after the subscriber, the
// plan or the tax rate changed. Amounts are tax-inclusive: Total = Net + Tax. A
// receipt acknowledges money into the wallet and carries no tax: the tax is on the
// invoice of the period the money pays for, so nothing is taxed twice.
type Invoice struct {
	ID           int64
	Number       string
	Kind         InvoiceKind
	Year         int
	Seq          int
	IssuedAt     time.Time
	SubscriberID int64
	Username     string // as it was (an erasure may pseudonymise it)
	CustomerName string // as it was
	PlanName     string // as it was ("" on a receipt)
	Currency     string
	NetCents     int64
	TaxCents     int64
	TotalCents   int64
	TaxRateBP    int // hundredths of a percent
	TaxName      string
	// LedgerEntryID is the wallet movement the document is about.
	LedgerEntryID int64
	// PeriodStart and PeriodEnd are the period an invoice sells; zero on a receipt.
	PeriodStart time.Time
	PeriodEnd   time.Time
	// Lines are the document's lines; list reads leave them nil.
	Lines []InvoiceLine
	// Restricted: the subscriber restricts processing now, so a staff list withholds
	// Username and CustomerName. Only the list reads (FindInvoices, FindInvoicePage) set it.
	Restricted bool
}

// InvoiceLine is one line of a document.
type InvoiceLine struct {
	Line        int
	Description string
	Quantity    int
	UnitCents   int64
	NetCents    int64
	TaxCents    int64
	TotalCents  int64
}

// TaxRules is how invoices are taxed and in which currency they are written.
type TaxRules struct {
	Currency  string
	TaxRateBP int    // hundredths of a percent; 0 for none
	TaxName   string // e.g. "VAT"; "" is "Tax"
}

// DefaultTaxName names the tax when TOLLGATE_TAX_NAME is not set.
const DefaultTaxName = "Tax"

// newDocument builds a one-line document of kind k for totalCents (tax-inclusive),
// taxed at r's rate for an invoice and untaxed for a receipt; Number, Seq and ID are set
// by the store that issues it.
func newDocument(k InvoiceKind, r TaxRules, year int, at time.Time, description string, totalCents int64) *Invoice {
	rate := r.TaxRateBP
	if k == KindReceipt {
		rate = 0
	}
	name := r.TaxName
	if name == "" {
		name = DefaultTaxName
	}
	net, tax := SplitTax(totalCents, rate)
	return &Invoice{
		Kind: k, Year: year, IssuedAt: at, Currency: r.Currency, NetCents: net, TaxCents: tax, TotalCents: totalCents,
		TaxRateBP: rate, TaxName: name,
		Lines: []InvoiceLine{{Line: 1, Description: description, Quantity: 1, UnitCents: totalCents,
			NetCents: net, TaxCents: tax, TotalCents: totalCents}},
	}
}

// InvoiceFilter selects documents for FindInvoices; zero fields select all.
type InvoiceFilter struct {
	SubscriberID int64
	Kind         InvoiceKind
	Limit        int // 0: DefaultInvoiceLimit
}

// Limits of invoice lists.
const (
	DefaultInvoiceLimit = 100
	MaxInvoiceLimit     = 10000
)

// InvoiceStore persists invoices and receipts (Postgres). IssueInvoice runs on the
// caller's transaction when the store was built on one, so the number is taken back
// when it rolls back.
type InvoiceStore interface {
	// IssueInvoice takes the next number of inv's kind and year, stores inv with its
	// lines and sets ID, Seq and Number. EINVALID.
	IssueInvoice(ctx context.Context, inv *Invoice) error
	// FindInvoiceByNumber returns the document numbered number with its lines.
	// ENOTFOUND.
	FindInvoiceByNumber(ctx context.Context, number string) (*Invoice, error)
	// FindInvoiceByEntry returns the document of ledger entry id with its lines.
	// ENOTFOUND.
	FindInvoiceByEntry(ctx context.Context, ledgerEntryID int64) (*Invoice, error)
	// FindInvoices returns documents, newest first, without their lines, with
	// Restricted set.
	FindInvoices(ctx context.Context, f InvoiceFilter) ([]Invoice, error)
}
