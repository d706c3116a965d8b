package portal

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/radius"
)

// The subscriber's money: /my shows the plan, the subscription's state and period end,
// and the balance; /my/renew renews now from the wallet; /my/invoices lists the
// subscriber's invoices and receipts, each with a printable page; /my/topup starts a
// payment provider's checkout, or shows the operator's paybill instructions. Every
// route acts for the session's subscriber: a document of another subscriber is 404,
// as is a number that names none.

// MyMoney is billing.SubscriberService as the subscriber's pages use it.
type MyMoney interface {
	// Subscription returns username's subscription with its next renewal and the
	// balance. ENOTFOUND when there is none.
	Subscription(ctx context.Context, username string) (*billing.SubscriptionStatus, error)
	// WalletOf returns username's wallet and its latest entries. ENOTFOUND.
	WalletOf(ctx context.Context, username string, limit int) (*billing.Wallet, []billing.LedgerEntry, error)
	// Renew renews an owed period now from the wallet. EQUOTA, ECONFLICT, ENOTFOUND.
	Renew(ctx context.Context, username, actor string) ([]*billing.Outcome, error)
	// Invoices lists username's documents, newest first. EINVALID, ENOTFOUND.
	Invoices(ctx context.Context, username string, kind billing.InvoiceKind, limit int) ([]billing.Invoice, error)
	// Invoice returns the document numbered number with its lines. EINVALID, ENOTFOUND.
	Invoice(ctx context.Context, number string) (*billing.Invoice, error)
}

// TopUpStarter starts a payment provider's checkout (the payments service of issue 6,
// wired in cmd/tollgate).
type TopUpStarter interface {
	// StartTopUp starts a checkout of amountCents into username's wallet and returns
	// the address to send the payer to. EINVALID naming amount.
	StartTopUp(ctx context.Context, username string, amountCents int64) (checkoutURL string, err error)
}

// registerMyMoney adds the money routes when My.Money is set.
func (p *Portal) registerMyMoney() {
	if p.deps.My.Money == nil {
		return
	}
	p.handle("GET", "/my/renew", accessSubscriber, p.gated(p.myRenewPage))
	p.handle("POST", "/my/renew", accessSubscriber, p.gated(p.myRenewSubmit))
	p.handle("GET", "/my/invoices", accessSubscriber, p.gated(p.myInvoicesPage))
	p.handle("GET", "/my/invoices/:number", accessSubscriber, p.gated(p.myInvoicePage))
	p.handle("GET", "/my/topup", accessSubscriber, p.gated(p.myTopUpPage))
	p.handle("POST", "/my/topup", accessSubscriber, p.gated(p.myTopUpSubmit))
	p.myAPI("POST", "/api/v1/my/renew", p.gated(p.apiMyRenew), apiDoc{Summary: "Renew an owed period now from the wallet (also with auto-renew off); 402 when the balance does not cover it, 409 when nothing is owed.", Resp: renewJSON{}})
	p.myAPI("GET", "/api/v1/my/invoices", p.gated(p.apiMyInvoices), apiDoc{Summary: "The subscriber's invoices and receipts, newest first (at most 200).", Resp: []myInvoiceJSON{}})
	p.myAPI("GET", "/api/v1/my/invoices/:number", p.gated(p.apiMyInvoice), apiDoc{Summary: "One of the subscriber's documents with its lines; another subscriber's number is 404.", Resp: myInvoiceJSON{},
		Params: []apiParam{{Name: "number", Type: "string", Desc: "INV-2026-000001 or RCT-2026-000001"}}})
	p.myAPI("GET", "/api/v1/my/topup", p.gated(p.apiMyTopUpInfo), apiDoc{Summary: "How to top up: a provider's checkout (provider set) or the operator's paybill instructions.", Resp: topUpInfoJSON{}})
	p.myAPI("POST", "/api/v1/my/topup", p.gated(p.apiMyTopUp), apiDoc{Summary: "Start a checkout of amount (a decimal in the currency); send the payer to checkout_url. 409 when no provider is configured (pay by the paybill instructions).", Body: topUpBody{}, Resp: topUpJSON{}})
}

// moneyView is what /my shows of the money, and what /my/renew and /my/topup start from.
type moneyView struct {
	HasSubscription bool
	Plan            string
	State           string // active, grace, isolated, cancelled
	Paid            bool
	PeriodEnd       string
	GraceUntil      string
	NextRenewal     string
	RenewalPlan     string
	RenewalPrice    string
	AutoRenew       bool
	Balance         string
	BalanceCents    int64
	// Owed: a period is due and unpaid; Covered: the balance pays it.
	Owed    bool
	Covered bool
	// ShortCents is what a top-up must bring to cover what is owed.
	ShortCents int64
	// Review names the automated decision behind the state, for its review button.
	Review *billing.Decision
	// Invoices are the newest documents.
	Invoices []invoiceRow
}

// invoiceRow is one document in a list.
type invoiceRow struct {
	Number string
	Kind   string
	Issued string
	Total  string
	Plan   string
}

// money reads what the money pages show of username at now. A subscriber without a
// subscription (no priced PPPoE plan) still has a wallet.
func (p *Portal) money(c *fiber.Ctx, username string, invoices int) (*moneyView, *billing.SubscriptionStatus, error) {
	ctx, m := c.UserContext(), p.deps.My
	loc, now := m.loc(), p.deps.Auth.Now()
	v := &moneyView{}
	st, err := m.Money.Subscription(ctx, username)
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		st = nil
		w, _, err := m.Money.WalletOf(ctx, username, 1)
		if err != nil {
			return nil, nil, err
		}
		v.BalanceCents = w.BalanceCents
	case err != nil:
		return nil, nil, err
	default:
		v.HasSubscription, v.Plan, v.State, v.Paid = true, st.PlanName, string(st.State), st.Paid
		v.PeriodEnd = st.PeriodEnd.In(loc).Format("2 Jan 2006")
		if !st.GraceUntil.IsZero() {
			v.GraceUntil = st.GraceUntil.In(loc).Format("2 Jan 2006 15:04")
		}
		v.NextRenewal = st.NextRenewal.In(loc).Format("2 Jan 2006")
		v.RenewalPlan, v.RenewalPrice, v.AutoRenew = st.RenewalPlan, p.formatMoney(st.RenewalCents), st.AutoRenew
		v.BalanceCents = st.BalanceCents
		v.Owed = st.State != radius.SubscriptionCancelled && (!st.Paid || !now.Before(st.PeriodEnd))
		v.Covered = v.BalanceCents >= st.RenewalCents
		if v.Owed && !v.Covered {
			v.ShortCents = st.RenewalCents - v.BalanceCents
		}
	}
	v.Balance = p.formatMoney(v.BalanceCents)
	if invoices > 0 {
		list, err := m.Money.Invoices(ctx, username, "", invoices)
		if err != nil {
			return nil, nil, err
		}
		v.Invoices = p.invoiceRows(list)
	}
	return v, st, nil
}

// formatMoney writes cents with the operator's currency.
func (p *Portal) formatMoney(cents int64) string {
	if p.deps.My.Currency == "" {
		return billing.FormatCents(cents)
	}
	return billing.FormatMoney(cents, p.deps.My.Currency)
}

func (p *Portal) invoiceRows(list []billing.Invoice) []invoiceRow {
	out := make([]invoiceRow, 0, len(list))
	for _, inv := range list {
		out = append(out, invoiceRow{Number: inv.Number, Kind: string(inv.Kind), Issued: inv.IssuedAt.In(p.deps.My.loc()).Format("2 Jan 2006"),
			Total: billing.FormatMoney(inv.TotalCents, inv.Currency), Plan: inv.PlanName})
	}
	return out
}

// mySubscriptionJSON is the subscription in GET /api/v1/my.
type mySubscriptionJSON struct {
	Plan         string     `json:"plan"`
	State        string     `json:"state" doc:"active, grace, isolated or cancelled"`
	Paid         bool       `json:"paid"`
	PeriodStart  time.Time  `json:"period_start"`
	PeriodEnd    time.Time  `json:"period_end"`
	GraceUntil   *time.Time `json:"grace_until"`
	NextRenewal  time.Time  `json:"next_renewal"`
	RenewalPlan  string     `json:"renewal_plan"`
	RenewalPrice string     `json:"renewal_price"`
	AutoRenew    bool       `json:"auto_renew"`
}

// renewJSON is the answer of POST /api/v1/my/renew.
type renewJSON struct {
	Renewed  []renewedJSON `json:"renewed"`
	Balance  string        `json:"balance"`
	Currency string        `json:"currency,omitempty"`
}

type renewedJSON struct {
	Plan        string    `json:"plan"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Amount      string    `json:"amount"`
	Invoice     string    `json:"invoice"`
	Restored    bool      `json:"restored"`
}

// myInvoiceJSON is a document as the subscriber's API shows it.
type myInvoiceJSON struct {
	Number      string            `json:"number"`
	Kind        string            `json:"kind"`
	IssuedAt    time.Time         `json:"issued_at"`
	Plan        string            `json:"plan,omitempty"`
	Currency    string            `json:"currency"`
	Net         string            `json:"net"`
	Tax         string            `json:"tax"`
	Total       string            `json:"total"`
	TaxName     string            `json:"tax_name"`
	TaxRate     string            `json:"tax_rate"`
	PeriodStart *time.Time        `json:"period_start,omitempty"`
	PeriodEnd   *time.Time        `json:"period_end,omitempty"`
	Lines       []myInvoiceLineJS `json:"lines,omitempty"`
}

type myInvoiceLineJS struct {
	Description string `json:"description"`
	Quantity    int    `json:"quantity"`
	Unit        string `json:"unit"`
	Total       string `json:"total"`
}

func toMyInvoiceJSON(inv *billing.Invoice) myInvoiceJSON {
	out := myInvoiceJSON{Number: inv.Number, Kind: string(inv.Kind), IssuedAt: inv.IssuedAt.UTC(), Plan: inv.PlanName,
		Currency: inv.Currency, Net: billing.FormatCents(inv.NetCents), Tax: billing.FormatCents(inv.TaxCents),
		Total: billing.FormatCents(inv.TotalCents), TaxName: inv.TaxName, TaxRate: billing.FormatTaxRate(inv.TaxRateBP),
		PeriodStart: timeOrNil(inv.PeriodStart), PeriodEnd: timeOrNil(inv.PeriodEnd)}
	for _, l := range inv.Lines {
		out.Lines = append(out.Lines, myInvoiceLineJS{Description: l.Description, Quantity: l.Quantity,
			Unit: billing.FormatCents(l.UnitCents), Total: billing.FormatCents(l.TotalCents)})
	}
	return out
}

// addMoneyJSON fills the money fields of GET /api/v1/my.
func (p *Portal) addMoneyJSON(c *fiber.Ctx, out *myJSON) error {
	if p.deps.My.Money == nil {
		return nil
	}
	v, st, err := p.money(c, out.Username, 0)
	if err != nil {
		return err
	}
	out.Balance, out.Currency = billing.FormatCents(v.BalanceCents), p.deps.My.Currency
	if st != nil {
		out.Subscription = &mySubscriptionJSON{Plan: st.PlanName, State: string(st.State), Paid: st.Paid,
			PeriodStart: st.PeriodStart.UTC(), PeriodEnd: st.PeriodEnd.UTC(), GraceUntil: timeOrNil(st.GraceUntil),
			NextRenewal: st.NextRenewal.UTC(), RenewalPlan: st.RenewalPlan, RenewalPrice: billing.FormatCents(st.RenewalCents),
			AutoRenew: st.AutoRenew}
	}
	return nil
}

// myMoneyPage is the data of /my/renew, /my/invoices, /my/invoices/N and /my/topup.
type myMoneyPage struct {
	*view
	Username string
	Money    *moneyView
	Renewed  []renewedRow
	// /my/invoices/N
	Invoice  *billing.Invoice
	Lines    []invoiceLineRow
	Totals   struct{ Net, Tax, Total, TaxRate string }
	Operator string
	// /my/topup
	Provider  bool
	Paybill   string
	Amount    string
	Suggested string
	// Checkout is the provider's page of a top-up just started, and CheckoutAmount
	// what it pays.
	Checkout       string
	CheckoutAmount string
}

type renewedRow struct {
	Plan, Until, Amount, Invoice string
	Restored                     bool
}

type invoiceLineRow struct {
	Description, Unit, Net, Tax, Total string
	Quantity                           int
}

// profileUsername is the session's subscriber's username.
func (p *Portal) profileUsername(c *fiber.Ctx) (string, error) {
	pr, err := p.deps.My.Privacy.Store.FindProfile(c.UserContext(), subscriberID(c))
	if err != nil {
		return "", err
	}
	return pr.Username, nil
}

func (p *Portal) moneyPage(c *fiber.Ctx, title string, invoices int) (*myMoneyPage, error) {
	username, err := p.profileUsername(c)
	if err != nil {
		return nil, err
	}
	mv, _, err := p.money(c, username, invoices)
	if err != nil {
		return nil, err
	}
	return &myMoneyPage{view: p.view(c, title), Username: username, Money: mv}, nil
}

func (p *Portal) myRenewPage(c *fiber.Ctx) error {
	v, err := p.moneyPage(c, "Renew", 0)
	if err != nil {
		return err
	}
	return p.renderData(c, fiber.StatusOK, "my-renew", v)
}

// renew renews the session's subscriber now and audits it.
func (p *Portal) renew(c *fiber.Ctx, username string) ([]*billing.Outcome, error) {
	outs, err := p.deps.My.Money.Renew(c.UserContext(), username, session(c).Email)
	if err != nil {
		return outs, err
	}
	invoices := make([]string, 0, len(outs))
	for _, o := range outs {
		invoices = append(invoices, o.Invoice)
	}
	return outs, p.audit(c, "subscription.renew", target(c), map[string]any{"renewals": len(outs), "invoices": invoices})
}

func (p *Portal) myRenewSubmit(c *fiber.Ctx) error {
	username, err := p.profileUsername(c)
	if err != nil {
		return err
	}
	outs, err := p.renew(c, username)
	v, verr := p.moneyPage(c, "Renew", 0)
	if verr != nil {
		return verr
	}
	if err != nil {
		status := httpStatus(err, true)
		if status >= 500 {
			return err
		}
		v.Status, v.Error = status, errorMessage(err, status)
		p.metrics.errors.WithLabelValues(errorCode(err, status)).Inc()
		return p.renderData(c, status, "my-renew", v)
	}
	loc := p.deps.My.loc()
	for _, o := range outs {
		v.Renewed = append(v.Renewed, renewedRow{Plan: o.Plan, Until: o.PeriodEnd.In(loc).Format("2 Jan 2006"),
			Amount: p.formatMoney(o.AmountCents), Invoice: o.Invoice, Restored: o.Restore})
	}
	v.Notice = "Renewed: your balance is now " + v.Money.Balance + "."
	return p.renderData(c, fiber.StatusOK, "my-renew", v)
}

func (p *Portal) apiMyRenew(c *fiber.Ctx) error {
	username, err := p.profileUsername(c)
	if err != nil {
		return err
	}
	outs, err := p.renew(c, username)
	if err != nil {
		return err
	}
	w, _, err := p.deps.My.Money.WalletOf(c.UserContext(), username, 1)
	if err != nil {
		return err
	}
	out := renewJSON{Renewed: []renewedJSON{}, Balance: billing.FormatCents(w.BalanceCents), Currency: p.deps.My.Currency}
	for _, o := range outs {
		out.Renewed = append(out.Renewed, renewedJSON{Plan: o.Plan, PeriodStart: o.PeriodStart.UTC(), PeriodEnd: o.PeriodEnd.UTC(),
			Amount: billing.FormatCents(o.AmountCents), Invoice: o.Invoice, Restored: o.Restore})
	}
	return c.JSON(out)
}

// maxMyInvoices is how many documents the subscriber's list shows.
const maxMyInvoices = 200

func (p *Portal) myInvoicesPage(c *fiber.Ctx) error {
	v, err := p.moneyPage(c, "Invoices and receipts", maxMyInvoices)
	if err != nil {
		return err
	}
	return p.renderData(c, fiber.StatusOK, "my-invoices", v)
}

// ownInvoice returns the document numbered as the request's :number when it is the
// session's subscriber's; any other number, malformed or another's, is ENOTFOUND.
func (p *Portal) ownInvoice(c *fiber.Ctx) (*billing.Invoice, error) {
	number := strings.Clone(c.Params("number"))
	if n, err := url.PathUnescape(number); err == nil {
		number = n
	}
	notFound := radius.Errorf(radius.ENOTFOUND, "number: you have no invoice or receipt %s", number)
	inv, err := p.deps.My.Money.Invoice(c.UserContext(), number)
	switch radius.ErrorCode(err) {
	case radius.EINVALID, radius.ENOTFOUND:
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if inv.SubscriberID != subscriberID(c) {
		return nil, notFound
	}
	return inv, nil
}

func (p *Portal) myInvoicePage(c *fiber.Ctx) error {
	inv, err := p.ownInvoice(c)
	if err != nil {
		return err
	}
	title := "Invoice " + inv.Number
	if inv.Kind == billing.KindReceipt {
		title = "Receipt " + inv.Number
	}
	v := &myMoneyPage{view: p.view(c, title), Invoice: inv, Operator: p.cfg.OperatorName}
	for _, l := range inv.Lines {
		v.Lines = append(v.Lines, invoiceLineRow{Description: l.Description, Quantity: l.Quantity,
			Unit: billing.FormatCents(l.UnitCents), Net: billing.FormatCents(l.NetCents), Tax: billing.FormatCents(l.TaxCents),
			Total: billing.FormatCents(l.TotalCents)})
	}
	v.Totals.Net, v.Totals.Tax = billing.FormatMoney(inv.NetCents, inv.Currency), billing.FormatMoney(inv.TaxCents, inv.Currency)
	v.Totals.Total, v.Totals.TaxRate = billing.FormatMoney(inv.TotalCents, inv.Currency), billing.FormatTaxRate(inv.TaxRateBP)
	v.Now = inv.IssuedAt.In(p.deps.My.loc())
	return p.renderData(c, fiber.StatusOK, "my-invoice", v)
}

func (p *Portal) apiMyInvoices(c *fiber.Ctx) error {
	username, err := p.profileUsername(c)
	if err != nil {
		return err
	}
	list, err := p.deps.My.Money.Invoices(c.UserContext(), username, "", maxMyInvoices)
	if err != nil {
		return err
	}
	out := make([]myInvoiceJSON, 0, len(list))
	for i := range list {
		out = append(out, toMyInvoiceJSON(&list[i]))
	}
	return c.JSON(out)
}

func (p *Portal) apiMyInvoice(c *fiber.Ctx) error {
	inv, err := p.ownInvoice(c)
	if err != nil {
		return err
	}
	return c.JSON(toMyInvoiceJSON(inv))
}

// Bodies of the top-up routes.
type (
	topUpInfoJSON struct {
		Provider bool   `json:"provider" doc:"a checkout can be started (POST)"`
		Paybill  string `json:"paybill,omitempty" doc:"the operator's instructions when there is no provider"`
		Username string `json:"account"`
		Currency string `json:"currency,omitempty"`
		Suggest  string `json:"suggested_amount,omitempty" doc:"what covers the renewal owed"`
	}
	topUpBody struct {
		Amount string `json:"amount" form:"amount"`
	}
	topUpJSON struct {
		CheckoutURL string `json:"checkout_url"`
	}
)

// errNoProvider refuses a checkout when no payment provider is configured.
var errNoProvider = radius.Errorf(radius.ECONFLICT, "top-up: no payment provider is configured here; pay by the instructions on the top-up page")

func (p *Portal) myTopUpPage(c *fiber.Ctx) error {
	v, err := p.topUpPage(c)
	if err != nil {
		return err
	}
	return p.renderData(c, fiber.StatusOK, "my-topup", v)
}

func (p *Portal) topUpPage(c *fiber.Ctx) (*myMoneyPage, error) {
	v, err := p.moneyPage(c, "Top up", 0)
	if err != nil {
		return nil, err
	}
	v.Provider, v.Paybill = p.deps.My.TopUp != nil, p.deps.My.Paybill
	if v.Money.ShortCents > 0 {
		v.Suggested = billing.FormatCents(v.Money.ShortCents)
	}
	v.Amount = v.Suggested
	return v, nil
}

// startTopUp starts a checkout of the amount typed and audits it.
func (p *Portal) startTopUp(c *fiber.Ctx, amount string) (string, error) {
	if p.deps.My.TopUp == nil {
		return "", errNoProvider
	}
	cents, err := billing.ParseCents(strings.TrimSpace(amount))
	if err != nil || cents <= 0 {
		return "", radius.Errorf(radius.EINVALID, "amount: %q is not an amount like 20.00", amount)
	}
	username, err := p.profileUsername(c)
	if err != nil {
		return "", err
	}
	u, err := p.deps.My.TopUp.StartTopUp(c.UserContext(), username, cents)
	if err != nil {
		return "", err
	}
	return u, p.audit(c, "topup.start", target(c), map[string]any{"amount_cents": cents})
}

// myTopUpSubmit starts a checkout and answers with the link to the provider's page:
// not a redirect, since the portal's Content-Security-Policy lets a form lead to the
// portal alone (form-action 'self'), and the payer sees where the link goes.
func (p *Portal) myTopUpSubmit(c *fiber.Ctx) error {
	amount := strings.Clone(c.FormValue("amount"))
	u, err := p.startTopUp(c, amount)
	if err != nil {
		v, verr := p.topUpPage(c)
		if verr != nil {
			return verr
		}
		v.Amount = amount
		status := httpStatus(err, true)
		if status >= 500 {
			return err
		}
		v.Status, v.Error = status, errorMessage(err, status)
		p.metrics.errors.WithLabelValues(errorCode(err, status)).Inc()
		return p.renderData(c, status, "my-topup", v)
	}
	v, err := p.topUpPage(c)
	if err != nil {
		return err
	}
	cents, _ := billing.ParseCents(strings.TrimSpace(amount)) // startTopUp checked it
	v.Checkout, v.CheckoutAmount = u, p.formatMoney(cents)
	return p.renderData(c, fiber.StatusOK, "my-topup", v)
}

func (p *Portal) apiMyTopUpInfo(c *fiber.Ctx) error {
	v, err := p.topUpPage(c)
	if err != nil {
		return err
	}
	out := topUpInfoJSON{Provider: v.Provider, Username: v.Username, Currency: p.deps.My.Currency, Suggest: v.Suggested}
	if !v.Provider {
		out.Paybill = v.Paybill
	}
	return c.JSON(out)
}

func (p *Portal) apiMyTopUp(c *fiber.Ctx) error {
	var in topUpBody
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	u, err := p.startTopUp(c, in.Amount)
	if err != nil {
		return err
	}
	return c.JSON(topUpJSON{CheckoutURL: u})
}
