package portal

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// The admin's reseller pages and the reseller's own: wallet, ledger, batches, sales and
// the buy form. Forms that move money carry an idempotency key made when the form
// renders, so a double submit moves it once.

func (p *Portal) adminResellers(c *fiber.Ctx) error {
	return p.resellersPage(c, fiber.StatusOK, nil, "")
}

func (p *Portal) resellersPage(c *fiber.Ctx, status int, f map[string]string, msg string) error {
	list, err := p.deps.Vouchers.Resellers.ListResellers(c.UserContext())
	if err != nil {
		return err
	}
	if status == fiber.StatusOK {
		if err := p.audit(c, "reseller.list", "", map[string]any{"count": len(list)}); err != nil {
			return err
		}
	}
	v := &pageView{view: p.view(c, "Resellers"), Resellers: list, Form: f, Key: auth.NewToken()}
	v.Error = msg
	return p.renderPage(c, status, "admin-resellers", v)
}

// adminResellerCreate adds a reseller: name, email, credit_limit.
func (p *Portal) adminResellerCreate(c *fiber.Ctx) error {
	f := formFields(c, "name", "email", "credit_limit")
	in := billing.NewReseller{Name: f["name"], Email: f["email"]}
	var err error
	if f["credit_limit"] != "" {
		in.CreditLimitCents, err = billing.ParseCents(f["credit_limit"])
	}
	var r *billing.Reseller
	if err == nil {
		r, err = p.deps.Vouchers.Resellers.CreateReseller(c.UserContext(), in)
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		return p.resellersPage(c, httpStatus(err, true), f, radius.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	if err := p.audit(c, "reseller.create", "reseller:"+r.Name, map[string]any{"credit_limit_cents": r.CreditLimitCents}); err != nil {
		return err
	}
	return c.Redirect("/admin/resellers", fiber.StatusSeeOther)
}

// adminResellerCredit tops up a wallet: reseller, amount, note and key, the hidden
// idempotency key of the form; a second submit of one form changes nothing.
func (p *Portal) adminResellerCredit(c *fiber.Ctx) error {
	f := formFields(c, "reseller", "amount", "note", "key")
	amount, err := billing.ParseCents(f["amount"])
	var e billing.LedgerEntry
	if err == nil {
		e, err = p.deps.Vouchers.Resellers.Credit(c.UserContext(), f["reseller"], amount, f["note"], f["key"], session(c).Email)
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT || code == radius.ENOTFOUND {
		return p.resellersPage(c, httpStatus(err, true), nil, radius.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	if err := p.audit(c, "reseller.credit", "reseller:"+f["reseller"], map[string]any{"amount_cents": amount, "note": f["note"], "entry": e.ID, "replayed": e.Replayed}); err != nil {
		return err
	}
	return c.Redirect("/admin/resellers", fiber.StatusSeeOther)
}

// signedInReseller is the signed-in reseller's portal user as read for this request:
// ResellerName (through its foreign key) is the billing reseller every page of theirs is
// scoped to.
func (p *Portal) signedInReseller(c *fiber.Ctx) (*auth.User, error) {
	u := sessionUser(c)
	if u == nil || u.ResellerID == 0 || u.ResellerName == "" {
		return nil, errRole
	}
	return u, nil
}

// resellerHome is the reseller's page: balance, ledger, batches, sales and the buy
// form, all of the signed-in reseller only.
func (p *Portal) resellerHome(c *fiber.Ctx) error {
	return p.resellerPage(c, fiber.StatusOK, nil, "", "")
}

func (p *Portal) resellerPage(c *fiber.Ctx, status int, f map[string]string, msg, notice string) error {
	u, err := p.signedInReseller(c)
	if err != nil {
		return err
	}
	v := &pageView{view: p.view(c, "Reseller"), Form: f, Key: auth.NewToken()}
	v.User, v.Error, v.Notice = u, msg, notice
	v.Printable = p.deps.Prints != nil
	d := p.deps.Vouchers
	if d == nil {
		return p.renderPage(c, status, "reseller", v)
	}
	ctx := c.UserContext()
	name := u.ResellerName
	v.Wallet, err = d.Resellers.Balance(ctx, name)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		// No wallet yet: an admin has not added this reseller to billing.
		return p.renderPage(c, status, "reseller", v)
	}
	if err != nil {
		return err
	}
	if v.Ledger, err = d.Resellers.Ledger(ctx, name, 20); err != nil {
		return err
	}
	if v.Batches, err = d.Reports.FindBatches(ctx, name, 20); err != nil {
		return err
	}
	if v.Sales, err = d.Reports.SalesReport(ctx, name, 31); err != nil {
		return err
	}
	plans, err := d.Plans.ListPlans(ctx)
	if err != nil {
		return err
	}
	for _, pl := range plans {
		if pl.Kind == radius.KindHotspot && pl.ResellerPriceCents > 0 {
			v.Plans = append(v.Plans, pl)
		}
	}
	return p.renderPage(c, status, "reseller", v)
}

// resellerBuy buys count vouchers of plan from the wallet. A purchase the wallet cannot
// cover, or bad input, comes back as the page with its message; a repeated key shows
// the first batch. Each purchase is audited with its batch, plan, count and amount
// (never its codes); a repeated key is audited as replayed.
func (p *Portal) resellerBuy(c *fiber.Ctx) error {
	f := formFields(c, "plan", "count", "key")
	u, err := p.signedInReseller(c)
	if err != nil {
		return err
	}
	count, err := strconv.Atoi(f["count"])
	if err != nil {
		return p.resellerPage(c, fiber.StatusUnprocessableEntity, f, "count: a number", "")
	}
	buy, err := p.deps.Vouchers.Purchases.Purchase(c.UserContext(), u.ResellerName, f["plan"], count, f["key"])
	switch radius.ErrorCode(err) {
	case "":
	case radius.EQUOTA, radius.EINVALID, radius.ECONFLICT, radius.EUNAUTHORIZED, radius.ENOTFOUND:
		msg := radius.ErrorMessage(err)
		if radius.ErrorCode(err) == radius.EQUOTA {
			msg = "Your balance does not cover this purchase; nothing was bought. " + msg
		}
		return p.resellerPage(c, httpStatus(err, true), f, msg, "")
	default:
		return err
	}
	err = p.audit(c, "reseller.purchase", "batch:"+strconv.FormatInt(buy.BatchID, 10), map[string]any{
		"reseller": u.ResellerName, "plan": f["plan"], "count": buy.Count,
		"amount_cents": -buy.Entry.AmountCents, "entry": buy.Entry.ID, "replayed": buy.Replayed,
	})
	if err != nil {
		return err
	}
	notice := "Bought batch " + strconv.FormatInt(buy.BatchID, 10) + ": " + strconv.Itoa(buy.Count) + " vouchers."
	if buy.Replayed {
		notice = "This purchase was already made: batch " + strconv.FormatInt(buy.BatchID, 10) + ". Nothing was bought again."
	}
	return p.resellerPage(c, fiber.StatusOK, nil, "", strings.TrimSpace(notice))
}
