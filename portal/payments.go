package portal

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/billing/payments"
	"tollgate/radius"
)

// The admin's review queue of payments tollgate did not credit by itself (an unknown
// reference, an amount or currency that does not match its top-up, a payment after
// the top-up expired, an account that names no subscriber): /admin/payments/reviews
// lists them with the event as received, and each open one is resolved once, by
// crediting the amount received to a subscriber or dismissing it with a note. Showing
// the queue is audited (the raw events hold the payers' personal data), and so is each
// resolution.
//
// A review that names a subscriber who restricted processing shows without its event
// and account until the admin gives a reason for that subscriber (the reason form of
// admin_subscribers_reason.go, which comes back here); each review read under a
// reason is audited with it (payment.review.view).

// registerPayments adds the review pages when the portal has payments.
func (p *Portal) registerPayments() {
	if p.deps.Payments == nil {
		return
	}
	p.handle("GET", "/admin/payments/reviews", accessAdmin, p.adminPaymentReviews)
	p.handle("POST", "/admin/payments/reviews/:id/resolve", accessAdmin, p.adminPaymentResolve)
}

// reviewsView is the data of the review page.
type reviewsView struct {
	*view
	// State is the filter: open (the default), credited, dismissed or all.
	State   string
	Reviews []reviewRow
	Form    map[string]string // the failed form's fields, with Form["id"] its review
}

// reviewRow is one review as the page shows it.
type reviewRow struct {
	payments.Review
	Amount   string
	Received string
	Resolved string
	// Withheld: the event and account are blanked until a reason is given; ReadFor
	// is the reason the admin gave, when a grant opened the review.
	Withheld bool
	ReadFor  string
}

// Reasons as an admin reads them.
var reasonWords = map[payments.Reason]string{
	payments.ReasonUnknownReference: "unknown reference",
	payments.ReasonAmountMismatch:   "amount does not match the top-up",
	payments.ReasonCurrencyMismatch: "currency does not match",
	payments.ReasonExpired:          "paid after the top-up expired",
	payments.ReasonNotPending:       "top-up already paid or failed",
	payments.ReasonProviderMismatch: "top-up started at another provider",
	payments.ReasonUnknownAccount:   "account names no subscriber",
}

// Words returns why a review is in the queue, in words.
func (r reviewRow) Words() string {
	if w, ok := reasonWords[r.Reason]; ok {
		return w
	}
	return string(r.Reason)
}

// RawText is the event as received.
func (r reviewRow) RawText() string { return string(r.Raw) }

func (p *Portal) adminPaymentReviews(c *fiber.Ctx) error {
	notice := ""
	if id, err := strconv.ParseInt(c.Query("resolved"), 10, 64); err == nil && id > 0 {
		notice = "Review " + strconv.FormatInt(id, 10) + " resolved."
	}
	return p.paymentReviewsPage(c, fiber.StatusOK, strings.Clone(c.Query("state")), nil, "", notice)
}

func (p *Portal) paymentReviewsPage(c *fiber.Ctx, status int, state string, form map[string]string, msg, notice string) error {
	if state == "" {
		state = string(payments.ReviewOpen)
	}
	filter := payments.ReviewState(state)
	if state == "all" {
		filter = ""
	}
	list, err := p.deps.Payments.Reviews(c.UserContext(), filter, payments.MaxReviewLimit)
	if err != nil {
		return err
	}
	v := &reviewsView{view: p.view(c, "Payments to review"), State: state, Form: form}
	v.Error, v.Notice = msg, notice
	for _, r := range list {
		row := reviewRow{Review: r, Amount: billing.FormatMoney(r.Payment.AmountCents, r.Payment.Currency),
			Received: r.Payment.ReceivedAt.UTC().Format(time.DateTime + " UTC")}
		if !r.ResolvedAt.IsZero() {
			row.Resolved = r.ResolvedAt.UTC().Format(time.DateTime + " UTC")
		}
		if r.RestrictedID != 0 {
			if reason, ok := p.readGrant(c, r.RestrictedID); ok {
				row.ReadFor = reason
			} else {
				row.Withheld, row.Raw, row.Payment.Account = true, nil, ""
			}
		}
		v.Reviews = append(v.Reviews, row)
	}
	if status == fiber.StatusOK {
		if err := p.audit(c, "payment.reviews", "", map[string]any{"state": state, "count": len(list)}); err != nil {
			return err
		}
	}
	for _, r := range v.Reviews {
		if r.ReadFor != "" {
			d := map[string]any{"review": r.ID, "restricted": true, "reason": r.ReadFor}
			if err := p.audit(c, "payment.review.view", "subscriber:"+strconv.FormatInt(r.RestrictedID, 10), d); err != nil {
				return err
			}
		}
	}
	return p.renderData(c, status, "admin-payments", v)
}

// adminPaymentResolve resolves review :id: action "credit" with a subscriber (and an
// optional note), or "dismiss" with a note. A second resolution is refused (409) with
// the page; so is bad input (422).
func (p *Portal) adminPaymentResolve(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return radius.Errorf(radius.ENOTFOUND, "review: no payment review %q", c.Params("id"))
	}
	f := formFields(c, "action", "subscriber", "note")
	f["id"] = strconv.FormatInt(id, 10)
	r := payments.Resolution{Note: f["note"], Actor: session(c).Email}
	switch f["action"] {
	case "credit":
		if f["subscriber"] == "" {
			return p.paymentReviewsPage(c, fiber.StatusUnprocessableEntity, "", f, "subscriber: name the subscriber to credit", "")
		}
		r.Credit = f["subscriber"]
	case "dismiss":
	default:
		return p.paymentReviewsPage(c, fiber.StatusUnprocessableEntity, "", f, "action: credit or dismiss", "")
	}
	res, err := p.deps.Payments.Resolve(c.UserContext(), id, r)
	switch code := radius.ErrorCode(err); code {
	case "":
	case radius.EINVALID, radius.ECONFLICT, radius.ENOTFOUND, radius.EQUOTA:
		return p.paymentReviewsPage(c, httpStatus(err, true), "", f, radius.ErrorMessage(err), "")
	default:
		return err
	}
	detail := map[string]any{"state": string(res.Review.State), "note": r.Note, "amount_cents": res.Review.Payment.AmountCents,
		"currency": res.Review.Payment.Currency, "provider": string(res.Review.Payment.Provider)}
	if res.Credit != nil {
		detail["subscriber"], detail["entry"] = r.Credit, res.Credit.Entry.ID
		if res.Credit.Receipt != nil {
			detail["receipt"] = res.Credit.Receipt.Number
		}
	}
	if err := p.audit(c, "payment.resolve", "payment_review:"+f["id"], detail); err != nil {
		return err
	}
	return c.Redirect("/admin/payments/reviews?state=all&resolved="+f["id"], fiber.StatusSeeOther)
}
