package portal

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// /api/v1 money resources: a subscriber's wallet (balance, its entries page by page,
// and credits: money received, with an idempotency key so a retried request credits
// once), and the invoices and receipts (list, get). Amounts are decimal strings in the
// currency's main unit ("20.00"), signed on ledger entries (+credit, -debit). The
// reads of one subscriber's money take ?reason= when he restricted processing
// (apiStaffRead); the list of every subscriber's documents withholds such a
// subscriber's username and customer name.

// MoneyAPI is the subscribers' money engine (billing.SubscriberService).
type MoneyAPI interface {
	// WalletOf returns the wallet of username and its latest entries. ENOTFOUND.
	WalletOf(ctx context.Context, username string, limit int) (*billing.Wallet, []billing.LedgerEntry, error)
	// Credit adds money to a wallet and settles what is due. EINVALID, ENOTFOUND,
	// ECONFLICT (a key used for another amount).
	Credit(ctx context.Context, req billing.CreditRequest) (*billing.CreditResult, error)
	// Invoice returns a document with its lines. EINVALID, ENOTFOUND.
	Invoice(ctx context.Context, number string) (*billing.Invoice, error)
}

// MoneyPages reads the money resources page by page (billing/postgres.Store).
type MoneyPages interface {
	// FindLedgerPage returns up to limit entries of o's wallet older than entry
	// beforeID (0: the newest), newest first.
	FindLedgerPage(ctx context.Context, o billing.Owner, beforeID int64, limit int) ([]billing.LedgerEntry, error)
	// FindInvoicePage returns up to f.Limit documents older than beforeID (0: the
	// newest), newest first, without lines.
	FindInvoicePage(ctx context.Context, f billing.InvoiceFilter, beforeID int64) ([]billing.Invoice, error)
}

type walletJSON struct {
	SubscriberID int64     `json:"subscriber_id"`
	Username     string    `json:"username"`
	Currency     string    `json:"currency"`
	Balance      string    `json:"balance" doc:"in the currency's main unit, e.g. \"20.00\""`
	UpdatedAt    time.Time `json:"updated_at"`
}

type ledgerEntryJSON struct {
	ID             int64     `json:"id"`
	At             time.Time `json:"at"`
	Kind           string    `json:"kind" doc:"topup, payment, renewal, refund, adjustment or purchase"`
	Amount         string    `json:"amount" doc:"signed: +credit, -debit"`
	BalanceAfter   string    `json:"balance_after"`
	Note           string    `json:"note"`
	Ref            string    `json:"ref"`
	Actor          string    `json:"actor"`
	IdempotencyKey string    `json:"idempotency_key"`
}

func toLedgerEntryJSON(e *billing.LedgerEntry) ledgerEntryJSON {
	return ledgerEntryJSON{ID: e.ID, At: e.At.UTC(), Kind: string(e.Kind), Amount: billing.FormatCents(e.AmountCents),
		BalanceAfter: billing.FormatCents(e.BalanceAfterCents), Note: e.Note, Ref: e.Ref, Actor: e.Actor, IdempotencyKey: e.IdempotencyKey}
}

// walletCreditInput is the body of a credit. The idempotency key may come in the
// Idempotency-Key header instead.
type walletCreditInput struct {
	Amount         string `json:"amount" doc:"received, e.g. \"20.00\""`
	Note           string `json:"note" doc:"where the money came from, e.g. cash"`
	IdempotencyKey string `json:"idempotency_key,omitempty" doc:"required here or in the Idempotency-Key header: a retry with the same key credits once"`
}

// settledJSON is a renewal a credit paid at once.
type settledJSON struct {
	Plan        string    `json:"plan"`
	Amount      string    `json:"amount"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Invoice     string    `json:"invoice"`
	Restored    bool      `json:"restored" doc:"an isolated subscriber was restored (its sessions are disconnected to redial)"`
}

type walletCreditJSON struct {
	Entry    ledgerEntryJSON `json:"entry"`
	Replayed bool            `json:"replayed" doc:"the key was used before: nothing changed, this is the first credit"`
	Balance  string          `json:"balance"`
	Currency string          `json:"currency"`
	Receipt  string          `json:"receipt"`
	Settled  []settledJSON   `json:"settled"`
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

type invoiceJSON struct {
	ID           int64             `json:"id"`
	Number       string            `json:"number"`
	Kind         string            `json:"kind" doc:"invoice or receipt"`
	IssuedAt     time.Time         `json:"issued_at"`
	SubscriberID int64             `json:"subscriber_id"`
	Username     string            `json:"username"`
	Customer     string            `json:"customer"`
	Plan         string            `json:"plan"`
	Currency     string            `json:"currency"`
	Net          string            `json:"net"`
	Tax          string            `json:"tax"`
	Total        string            `json:"total"`
	TaxName      string            `json:"tax_name"`
	TaxRate      string            `json:"tax_rate" doc:"percent, e.g. \"16\" or \"7.5\""`
	PeriodStart  *time.Time        `json:"period_start"`
	PeriodEnd    *time.Time        `json:"period_end"`
	Lines        []invoiceLineJSON `json:"lines,omitempty" doc:"on a single document, not in lists"`
	Restricted   bool              `json:"restricted" doc:"the subscriber restricted processing: a list withholds username and customer unless it is his (?subscriber_id=) with ?reason="`
}

func toInvoiceJSON(inv *billing.Invoice) invoiceJSON {
	out := invoiceJSON{ID: inv.ID, Number: inv.Number, Kind: string(inv.Kind), IssuedAt: inv.IssuedAt.UTC(), SubscriberID: inv.SubscriberID,
		Username: inv.Username, Customer: inv.CustomerName, Plan: inv.PlanName, Currency: inv.Currency,
		Net: billing.FormatCents(inv.NetCents), Tax: billing.FormatCents(inv.TaxCents), Total: billing.FormatCents(inv.TotalCents),
		TaxName: inv.TaxName, TaxRate: billing.FormatTaxRate(inv.TaxRateBP),
		PeriodStart: timeOrNil(inv.PeriodStart), PeriodEnd: timeOrNil(inv.PeriodEnd)}
	for _, l := range inv.Lines {
		out.Lines = append(out.Lines, invoiceLineJSON{Line: l.Line, Description: l.Description, Quantity: l.Quantity,
			Unit: billing.FormatCents(l.UnitCents), Net: billing.FormatCents(l.NetCents), Tax: billing.FormatCents(l.TaxCents),
			Total: billing.FormatCents(l.TotalCents)})
	}
	return out
}

// newestFirst makes a page of at most limit rows of list (read newest first, one more
// than limit when there is another page), its cursor the id of the last row shown.
func newestFirst[T, J any](list []T, limit int, id func(*T) int64, conv func(*T) J) page[J] {
	out := page[J]{Data: []J{}}
	for i := range list {
		if len(out.Data) == limit {
			out.NextCursor = makeCursor(idCursor{ID: id(&list[i-1])})
			break
		}
		out.Data = append(out.Data, conv(&list[i]))
	}
	return out
}

func (p *Portal) registerAPIMoney() {
	a := p.deps.API
	if a.Money == nil || a.MoneyPages == nil || a.Subscribers == nil {
		return
	}
	p.api("GET", "/api/v1/subscribers/:id/wallet", p.apiWallet, apiDoc{Summary: "A subscriber's wallet: its balance.",
		Params: readParams(idParams()...), Resp: walletJSON{}})
	p.api("GET", "/api/v1/subscribers/:id/wallet/entries", p.apiWalletEntries, apiDoc{Summary: "A wallet's entries, newest first (append-only: their amounts add up to the balance).",
		Params: readParams(pageParams(apiParam{Name: "id", In: "path", Type: "integer"})...), Resp: page[ledgerEntryJSON]{}})
	p.api("POST", "/api/v1/subscribers/:id/wallet/credits", p.apiWalletCredit, apiDoc{Summary: "Credit money received (cash, a transfer) to a subscriber's wallet, with a receipt; what is due is renewed at once and an isolated subscriber restored. A retry with the same idempotency key credits once (200, replayed).",
		Params: append(idParams(), apiParam{Name: "Idempotency-Key", In: "header", Desc: "or idempotency_key in the body"}),
		Body:   walletCreditInput{}, Resp: walletCreditJSON{}, Status: fiber.StatusCreated})
	p.api("GET", "/api/v1/invoices", p.apiInvoices, apiDoc{Summary: "Invoices and receipts, newest first, without lines.", Params: readParams(pageParams(
		apiParam{Name: "subscriber_id", In: "query", Type: "integer"},
		apiParam{Name: "kind", In: "query", Desc: "invoice or receipt"},
	)...), Resp: page[invoiceJSON]{}})
	p.api("GET", "/api/v1/invoices/:number", p.apiInvoice, apiDoc{Summary: "One invoice or receipt with its lines.",
		Params: readParams(apiParam{Name: "number", In: "path", Desc: "e.g. INV-2026-000001"}), Resp: invoiceJSON{}})
}

func (p *Portal) apiWallet(c *fiber.Ctx) error {
	s, err := p.findSubscriber(c)
	if err != nil {
		return err
	}
	r, err := apiStaffRead(c, s.Restricted)
	if err != nil {
		return err
	}
	w, _, err := p.deps.API.Money.WalletOf(c.UserContext(), s.Username, 1)
	if err != nil {
		return err
	}
	if err := p.audit(c, "wallet.show", subscriberTarget(s), r.detail(nil)); err != nil {
		return err
	}
	return c.JSON(walletJSON{SubscriberID: s.ID, Username: s.Username, Currency: p.currency(), Balance: billing.FormatCents(w.BalanceCents),
		UpdatedAt: w.UpdatedAt.UTC()})
}

// currency is the operator's currency as the API names it.
func (p *Portal) currency() string {
	if p.cfg.Currency != "" {
		return p.cfg.Currency
	}
	return billing.DefaultCurrency
}

func (p *Portal) apiWalletEntries(c *fiber.Ctx) error {
	s, err := p.findSubscriber(c)
	if err != nil {
		return err
	}
	r, err := apiStaffRead(c, s.Restricted)
	if err != nil {
		return err
	}
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	var before idCursor
	if _, err := cursor(c, &before); err != nil {
		return err
	}
	list, err := p.deps.API.MoneyPages.FindLedgerPage(c.UserContext(), billing.SubscriberOwner(s.ID), before.ID, limit+1)
	if err != nil {
		return err
	}
	out := newestFirst(list, limit, func(e *billing.LedgerEntry) int64 { return e.ID }, toLedgerEntryJSON)
	if err := p.audit(c, "wallet.entries", subscriberTarget(s), r.detail(map[string]any{"count": len(out.Data)})); err != nil {
		return err
	}
	return c.JSON(out)
}

func (p *Portal) apiWalletCredit(c *fiber.Ctx) error {
	s, err := p.findSubscriber(c)
	if err != nil {
		return err
	}
	var in walletCreditInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	key := strings.TrimSpace(in.IdempotencyKey)
	if h := strings.TrimSpace(c.Get("Idempotency-Key")); h != "" {
		if key != "" && key != h {
			return radius.Errorf(radius.EINVALID, "idempotency_key: the body and the Idempotency-Key header differ")
		}
		key = strings.Clone(h)
	}
	if key == "" {
		return radius.Errorf(radius.EINVALID, "idempotency_key: required (in the body or the Idempotency-Key header), so a retry credits once")
	}
	cents, err := billing.ParseCents(strings.TrimSpace(in.Amount))
	if err != nil {
		return radius.Errorf(radius.EINVALID, "amount: %s", radius.ErrorMessage(err))
	}
	actor := ""
	if t := apiToken(c); t != nil {
		actor = t.Actor()
	} else if sess := session(c); sess != nil {
		actor = sess.Email
	}
	res, err := p.deps.API.Money.Credit(c.UserContext(), billing.CreditRequest{Username: s.Username, AmountCents: cents,
		Kind: billing.EntryTopup, Note: in.Note, IdempotencyKey: key, Actor: actor})
	if res == nil {
		return err
	}
	// Committed: audited whatever came after (a disconnect that failed).
	detail := map[string]any{"amount": billing.FormatCents(cents), "currency": p.currency(), "note": in.Note,
		"idempotency_key": key, "entry": res.Entry.ID, "replayed": res.Entry.Replayed}
	out := walletCreditJSON{Entry: toLedgerEntryJSON(&res.Entry), Replayed: res.Entry.Replayed, Balance: billing.FormatCents(res.BalanceCents),
		Currency: p.currency(), Settled: []settledJSON{}}
	if res.Receipt != nil {
		out.Receipt, detail["receipt"] = res.Receipt.Number, res.Receipt.Number
	}
	for _, o := range res.Settled {
		out.Settled = append(out.Settled, settledJSON{Plan: o.Plan, Amount: billing.FormatCents(o.AmountCents), PeriodStart: o.PeriodStart.UTC(),
			PeriodEnd: o.PeriodEnd.UTC(), Invoice: o.Invoice, Restored: o.Restore})
	}
	if aerr := p.audit(c, "wallet.credit", subscriberTarget(s), detail); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	status := fiber.StatusCreated
	if res.Entry.Replayed {
		status = fiber.StatusOK
	}
	return c.Status(status).JSON(out)
}

func (p *Portal) apiInvoices(c *fiber.Ctx) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	f := billing.InvoiceFilter{Kind: billing.InvoiceKind(strings.Clone(c.Query("kind"))), Limit: limit + 1}
	if f.Kind != "" && !f.Kind.Valid() {
		return radius.Errorf(radius.EINVALID, "kind: invoice or receipt")
	}
	if s := c.Query("subscriber_id"); s != "" {
		if f.SubscriberID, err = strconv.ParseInt(s, 10, 64); err != nil || f.SubscriberID <= 0 {
			return radius.Errorf(radius.EINVALID, "subscriber_id: a subscriber's id")
		}
	}
	var before idCursor
	if _, err := cursor(c, &before); err != nil {
		return err
	}
	r := &staffRead{}
	if f.SubscriberID != 0 {
		if r, err = p.apiSubscriberRead(c, f.SubscriberID); err != nil {
			return err
		}
	}
	list, err := p.deps.API.MoneyPages.FindInvoicePage(c.UserContext(), f, before.ID)
	if err != nil {
		return err
	}
	out := newestFirst(list, limit, func(inv *billing.Invoice) int64 { return inv.ID }, func(inv *billing.Invoice) invoiceJSON {
		j := toInvoiceJSON(inv)
		if j.Restricted = inv.Restricted; j.Restricted && !r.restricted {
			j.Username, j.Customer = "", ""
		}
		return j
	})
	target := ""
	if f.SubscriberID != 0 {
		target = "subscriber:" + strconv.FormatInt(f.SubscriberID, 10)
	}
	if err := p.audit(c, "invoice.list", target, r.detail(map[string]any{"count": len(out.Data), "kind": string(f.Kind)})); err != nil {
		return err
	}
	return c.JSON(out)
}

func (p *Portal) apiInvoice(c *fiber.Ctx) error {
	inv, err := p.deps.API.Money.Invoice(c.UserContext(), strings.Clone(c.Params("number")))
	if radius.ErrorCode(err) == radius.EINVALID {
		// A malformed number names no document.
		return radius.Errorf(radius.ENOTFOUND, "number: no invoice or receipt %q", c.Params("number"))
	}
	if err != nil {
		return err
	}
	r, err := p.apiSubscriberRead(c, inv.SubscriberID)
	if err != nil {
		return err
	}
	if err := p.audit(c, "invoice.show", "invoice:"+inv.Number, r.detail(map[string]any{"subscriber_id": inv.SubscriberID})); err != nil {
		return err
	}
	j := toInvoiceJSON(inv)
	j.Restricted = r.restricted // read under a reason: shown whole, and said so
	return c.JSON(j)
}

// apiSubscriberRead is apiStaffRead for a read that names subscriber id without
// loading him: a subscriber who is gone (or id 0) restricted nothing.
func (p *Portal) apiSubscriberRead(c *fiber.Ctx, id int64) (*staffRead, error) {
	restricted := false
	if id != 0 {
		s, err := p.deps.API.Subscribers.FindSubscriberByID(c.UserContext(), id)
		switch {
		case err == nil:
			restricted = s.Restricted
		case radius.ErrorCode(err) != radius.ENOTFOUND:
			return nil, err
		}
	}
	return apiStaffRead(c, restricted)
}
