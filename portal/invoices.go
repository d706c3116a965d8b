package portal

import (
	"bytes"
	"embed"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// The printable documents of the admin portal: an invoice or a receipt
// (/admin/invoices/:number) and a subscriber's statement of account
// (/admin/subscribers/:id/statement?from=&to=), each an A4 page of its own without
// the portal's navigation (static/document.css has its print rules). A document shows
// what it stored when it was issued (customer, plan, tax name and rate, currency), so
// it reads the same after any of them changed. Every view is audited with the
// subscriber as target, and a restricted subscriber's needs the reason first.

//go:embed templates/print/invoice.html templates/print/statement.html
var documentFS embed.FS

// parseDocuments parses the documents with the portal's template functions into
// p.prints ("invoice", "statement").
func (p *Portal) parseDocuments() {
	p.prints = pages{}
	for _, name := range []string{"invoice", "statement"} {
		p.prints[name] = template.Must(template.New(name+".html").Funcs(p.format().funcs()).
			ParseFS(documentFS, "templates/print/"+name+".html"))
	}
}

// documentView is the data of a printed document.
type documentView struct {
	Title    string
	Operator string
	Back     string
	Invoice  *billing.Invoice
	// Statement and its last day (To is the day after, exclusive).
	Statement *billing.Statement
	LastDay   time.Time
	// Printed is when the page was made.
	Printed time.Time
}

// EntryKind names a ledger entry's kind on a statement.
func (v *documentView) EntryKind(k billing.EntryKind) string { return entryKind(k) }

// entryKind names a ledger entry's kind for people: "Top-up", "Renewal".
func entryKind(k billing.EntryKind) string {
	switch k {
	case billing.EntryTopup:
		return "Top-up"
	case billing.EntryPayment:
		return "Payment"
	case billing.EntryRenewal:
		return "Renewal"
	case billing.EntryRefund:
		return "Refund"
	case billing.EntryAdjustment:
		return "Adjustment"
	case billing.EntryPurchase:
		return "Purchase"
	}
	return string(k)
}

// Received is what a statement's entries added, and Spent what they took (positive).
func (v *documentView) Received() int64 { return v.sum(1) }

// Spent is what a statement's entries took, as a positive amount.
func (v *documentView) Spent() int64 { return -v.sum(-1) }

func (v *documentView) sum(sign int64) int64 {
	var n int64
	for _, e := range v.Statement.Entries {
		if e.AmountCents*sign > 0 {
			n += e.AmountCents
		}
	}
	return n
}

// adminInvoice is the printable invoice or receipt :number.
func (p *Portal) adminInvoice(c *fiber.Ctx) error {
	number := strings.ToUpper(strings.Clone(c.Params("number")))
	inv, err := p.deps.Subscribers.Money.Invoice(c.UserContext(), number)
	if radius.ErrorCode(err) == radius.EINVALID {
		return radius.Errorf(radius.ENOTFOUND, "no invoice or receipt numbered %q", number)
	}
	if err != nil {
		return err
	}
	read, err := p.staffRead(c, inv.SubscriberID, "/admin/invoices/"+inv.Number)
	if err != nil || read == nil {
		return err
	}
	title := "Invoice"
	if inv.Kind == billing.KindReceipt {
		title = "Receipt"
	}
	if err := p.audit(c, "invoice.view", targetOf(inv.SubscriberID), read.detail(map[string]any{"number": inv.Number, "kind": string(inv.Kind)})); err != nil {
		return err
	}
	v := &documentView{Title: title + " " + inv.Number, Operator: p.cfg.OperatorName, Back: subscriberURL(inv.SubscriberID),
		Invoice: inv, Printed: p.deps.Auth.Now()}
	return p.renderDocument(c, "invoice", v)
}

// statementRange reads ?from= and ?to= (days, YYYY-MM-DD, in the operator's time zone;
// to is included) into [from, to+1 day): by default this month up to today. EINVALID
// naming the field.
func (p *Portal) statementRange(c *fiber.Ctx) (from, end time.Time, err error) {
	f := p.format()
	now := p.deps.Auth.Now().In(f.loc)
	from = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, f.loc)
	last := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, f.loc)
	if s := c.Query("from"); s != "" {
		if from, err = f.parseDate(s); err != nil {
			return from, end, radius.Errorf(radius.EINVALID, "from: %q is not a day like 2026-03-01", strings.Clone(s))
		}
	}
	if s := c.Query("to"); s != "" {
		if last, err = f.parseDate(s); err != nil {
			return from, end, radius.Errorf(radius.EINVALID, "to: %q is not a day like 2026-03-31", strings.Clone(s))
		}
	}
	if last.Before(from) {
		return from, end, radius.Errorf(radius.EINVALID, "to: must not be before from")
	}
	if last.Sub(from) > 366*24*time.Hour*10 {
		return from, end, radius.Errorf(radius.EINVALID, "to: a statement covers at most ten years")
	}
	return from, last.AddDate(0, 0, 1), nil
}

// adminStatement is the printable statement of account of subscriber :id over
// ?from= to ?to=: the opening balance, every entry with the balance after it, and the
// closing balance.
func (p *Portal) adminStatement(c *fiber.Ctx) error {
	s, err := p.subscriberParam(c)
	if err != nil {
		return err
	}
	from, end, err := p.statementRange(c)
	if err != nil {
		return err
	}
	read, err := p.staffRead(c, s.ID, subscriberURL(s.ID)+"/statement?"+string(c.Request().URI().QueryString()))
	if err != nil || read == nil {
		return err
	}
	st, err := p.deps.Subscribers.Money.StatementOf(c.UserContext(), s.Username, from, end)
	if err != nil {
		return err
	}
	f := p.format()
	detail := read.detail(map[string]any{"from": f.dateInput(from), "to": f.dateInput(end.AddDate(0, 0, -1)), "entries": len(st.Entries)})
	if err := p.audit(c, "subscriber.statement", targetOf(s.ID), detail); err != nil {
		return err
	}
	v := &documentView{Title: "Statement of account", Operator: p.cfg.OperatorName, Back: subscriberURL(s.ID),
		Statement: st, LastDay: end.AddDate(0, 0, -1), Printed: p.deps.Auth.Now()}
	return p.renderDocument(c, "statement", v)
}

// renderDocument executes the document name with v and sends it, never cached.
func (p *Portal) renderDocument(c *fiber.Ctx, name string, v *documentView) error {
	var buf bytes.Buffer
	if err := p.prints[name].Execute(&buf, v); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(fiber.StatusOK).Send(buf.Bytes())
}

// Neg is -c, for the statement's money-out column.
func (v *documentView) Neg(c int64) int64 { return -c }
