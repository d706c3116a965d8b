package portal

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// The privacy center's rights beside consent and restriction (my.go): access and
// portability (the export), rectification (name and phone at once, a new email address
// once confirmed from a link sent to it), objection to automated decisions (a review by
// a person), and erasure (scheduled after a grace, cancellable until then). Each is a
// form on /my/privacy and a route under /api/v1/my; none waits on the acceptance of a
// policy, and every one is audited.

// MyProfiles changes a subscriber's profile (billing.Service).
type MyProfiles interface {
	// UpdateSubscriber changes the subscriber called username. ENOTFOUND, EINVALID.
	UpdateSubscriber(ctx context.Context, username string, upd billing.SubscriberUpdate) (*billing.Subscriber, error)
}

// registerRights adds the routes of the rights My has services for.
func (p *Portal) registerRights() {
	m := p.deps.My
	if m.Export != nil {
		p.handle("GET", "/my/privacy/export", accessSubscriber, p.myExport)
		p.myAPI("GET", "/api/v1/my/export", p.myExport, apiDoc{Summary: "Everything held about the subscriber, as one JSON document (a download): profile, consents and their history, subscription, wallet entries, invoices, sessions, auth log, messages, policy acceptances, requests, and the audit entries about the subscriber.", Resp: billing.Export{}})
	}
	if m.Profiles != nil {
		p.handle("POST", "/my/profile", accessSubscriber, p.myProfileSubmit)
		p.myAPI("PATCH", "/api/v1/my/profile", p.apiMyProfile, apiDoc{Summary: "Correct name and phone (at once) and email (used once confirmed from the link sent to the new address; the old one stays until then). A field left out keeps its value; \"\" removes a phone or email.", Body: profileBody{}, Resp: profileJSON{}})
	}
	if m.Emails != nil {
		p.handle("GET", "/account/email", accessPublic, p.emailConfirmPage)
		p.handle("POST", "/account/email", accessPublic, p.emailConfirmSubmit)
	}
	if m.Rights == nil {
		return
	}
	p.handle("POST", "/my/reviews", accessSubscriber, p.myReviewSubmit)
	p.myAPI("GET", "/api/v1/my/reviews", p.apiMyReviews, apiDoc{Summary: "The automated decisions of the last 90 days a review may refer to (grace, isolation, rejects for a limit), and the subscriber's reviews.", Resp: reviewsJSON{}})
	p.myAPI("POST", "/api/v1/my/reviews", p.apiMyReviewCreate, apiDoc{Summary: "Ask for a person to review an automated decision (its ref from GET) for the reason given; answered within 30 days, the outcome is sent by message.", Body: reviewBody{}, Resp: billing.DataRequest{}, Status: fiber.StatusCreated})
	p.handle("POST", "/my/erasure", accessSubscriber, p.myErasureSubmit)
	p.handle("POST", "/my/erasure/cancel", accessSubscriber, p.myErasureCancel)
	p.myAPI("GET", "/api/v1/my/erasure", p.apiMyErasure, apiDoc{Summary: "The scheduled erasure (scheduled false when none).", Resp: erasureJSON{}})
	p.myAPI("POST", "/api/v1/my/erasure", p.apiMyErasureCreate, apiDoc{Summary: "Erase the account and personal data after TOLLGATE_ERASURE_GRACE (7 days by default), cancellable until then; needs the portal password.", Body: erasureBody{}, Resp: erasureJSON{}, Status: fiber.StatusAccepted})
	p.myAPI("DELETE", "/api/v1/my/erasure", p.apiMyErasureCancel, apiDoc{Summary: "Cancel the scheduled erasure.", Resp: erasureJSON{}})
}

// rightsView is what /my/privacy (and /my, for the review button) show of the rights.
type rightsView struct {
	Decisions []billing.Decision
	Requests  []billing.DataRequest
	// Erasure is the scheduled erasure (nil: none), Grace the delay of a new one
	// ("7 days"; "" for none).
	Erasure *billing.DataRequest
	Grace   string
	// PendingEmail is an address waiting for its confirmation.
	PendingEmail string
	// What this portal offers.
	CanExport, CanEdit, CanChangeEmail, CanReview bool
	// /account/email: the address a link confirms.
	NewEmail string
}

// rightsView reads what the subscriber's rights pages show.
func (p *Portal) rightsView(c *fiber.Ctx, pr *billing.Profile) (*rightsView, error) {
	ctx, m := c.UserContext(), p.deps.My
	v := &rightsView{CanExport: m.Export != nil, CanEdit: m.Profiles != nil, CanChangeEmail: m.Emails != nil && m.Emails.Notices.On()}
	if m.Emails != nil {
		pe, err := m.Emails.Pending(ctx, pr.SubscriberID)
		switch {
		case err == nil:
			v.PendingEmail = pe.Email
		case radius.ErrorCode(err) != radius.ENOTFOUND:
			return nil, err
		}
	}
	if m.Rights == nil {
		return v, nil
	}
	v.CanReview = true
	if g := m.Rights.ErasureGrace(); g > 0 {
		v.Grace = humanDuration(g)
	}
	var err error
	if v.Decisions, err = m.Rights.Decisions(ctx, pr.SubscriberID); err != nil {
		return nil, err
	}
	if v.Requests, err = m.Rights.RequestsOf(ctx, pr.SubscriberID); err != nil {
		return nil, err
	}
	for i := range v.Requests {
		if r := &v.Requests[i]; r.Kind == billing.RequestErasure && r.State == billing.RequestOpen {
			v.Erasure = r
		}
	}
	return v, nil
}

// myExport answers /my/privacy/export and /api/v1/my/export: the document as a
// download, audited.
func (p *Portal) myExport(c *fiber.Ctx) error {
	doc, err := p.deps.My.Export.Export(c.UserContext(), subscriberID(c))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	source := billing.SourceWeb
	if isAPI(c) {
		source = billing.SourceAPI
	}
	if err := p.audit(c, "privacy.export", target(c), map[string]any{"source": string(source), "bytes": len(b)}); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="tollgate-export-`+doc.GeneratedAt.Format("2006-01-02")+`.json"`)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

// Bodies of the profile route.
type (
	profileBody struct {
		Name  *string `json:"name"`
		Phone *string `json:"phone"`
		Email *string `json:"email"`
	}
	profileJSON struct {
		Name  string `json:"name"`
		Phone string `json:"phone"` // masked
		Email string `json:"email"` // masked: the address in use
		// EmailPending is a new address waiting for its confirmation (masked).
		EmailPending string `json:"email_pending,omitempty"`
	}
)

// changeProfile applies in to the session's subscriber from source: name and phone at
// once, a new email once confirmed (a confirmation link goes to it), an empty email
// removes the address at once. It audits what changed (the fields, not the values)
// and returns the profile after the change and the address waiting for confirmation.
func (p *Portal) changeProfile(c *fiber.Ctx, in profileBody, source billing.Source) (*billing.Profile, string, error) {
	ctx, m := c.UserContext(), p.deps.My
	pr, err := m.Privacy.Store.FindProfile(ctx, subscriberID(c))
	if err != nil {
		return nil, "", err
	}
	upd := billing.SubscriberUpdate{}
	var fields []string
	if in.Name != nil && strings.TrimSpace(*in.Name) != pr.Name {
		upd.Name, fields = in.Name, append(fields, "name")
	}
	if in.Phone != nil {
		ph, err := billing.NormalizePhone(*in.Phone)
		if err != nil {
			return nil, "", err
		}
		if ph != pr.Phone {
			upd.Phone, fields = &ph, append(fields, "phone")
		}
	}
	var newEmail string
	if in.Email != nil {
		e, err := billing.NormalizeEmail(*in.Email)
		if err != nil {
			return nil, "", err
		}
		switch {
		case e == pr.Email:
		case e == "":
			upd.Email, fields = &e, append(fields, "email")
		case m.Emails == nil:
			return nil, "", radius.Errorf(radius.EINVALID, "email: a new address cannot be confirmed here; ask the operator to change it")
		default:
			newEmail = e
		}
	}
	if len(fields) > 0 {
		if _, err := m.Profiles.UpdateSubscriber(ctx, pr.Username, upd); err != nil {
			return nil, "", err
		}
		if err := p.audit(c, "profile.change", target(c), map[string]any{"source": string(source), "fields": fields}); err != nil {
			return nil, "", err
		}
	}
	pending := ""
	if newEmail != "" {
		if p.cfg.PublicURL == "" {
			return nil, "", radius.Errorf(radius.EINVALID, "email: this portal has no public address for the confirmation link (TOLLGATE_PUBLIC_URL); ask the operator")
		}
		ec, err := m.Emails.Request(ctx, pr.SubscriberID, newEmail, p.cfg.PublicURL)
		if err != nil {
			return nil, "", err
		}
		pending = ec.Email
		if err := p.audit(c, "email.change_request", target(c), map[string]any{"source": string(source), "expires": ec.ExpiresAt.UTC()}); err != nil {
			return nil, "", err
		}
	}
	if pr, err = m.Privacy.Store.FindProfile(ctx, pr.SubscriberID); err != nil {
		return nil, "", err
	}
	return pr, pending, nil
}

func (p *Portal) apiMyProfile(c *fiber.Ctx) error {
	var in profileBody
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	pr, pending, err := p.changeProfile(c, in, billing.SourceAPI)
	if err != nil {
		return err
	}
	out := profileJSON{Name: pr.Name, Phone: billing.MaskPhone(pr.Phone), Email: billing.MaskEmail(pr.Email), EmailPending: billing.MaskEmail(pending)}
	return c.JSON(out)
}

// myProfileSubmit takes the details form of /my/privacy: every field is sent.
func (p *Portal) myProfileSubmit(c *fiber.Ctx) error {
	name, phone, email := strings.Clone(c.FormValue("name")), strings.Clone(c.FormValue("phone")), strings.Clone(c.FormValue("email"))
	_, pending, err := p.changeProfile(c, profileBody{Name: &name, Phone: &phone, Email: &email}, billing.SourceWeb)
	if err != nil {
		return p.privacyError(c, err)
	}
	notice := "Your details are saved."
	if pending != "" {
		notice = "Your details are saved. We sent a link to " + pending + ": your new address is used once you open it; until then we write to your old one."
	}
	return p.renderPrivacy(c, fiber.StatusOK, notice)
}

// privacyError shows /my/privacy with the error of a form, or hands an internal error
// on.
func (p *Portal) privacyError(c *fiber.Ctx, err error) error {
	status := httpStatus(err, true)
	if status >= 500 {
		return err
	}
	setRetryAfter(c, err)
	p.metrics.errors.WithLabelValues(errorCode(err, status)).Inc()
	if rerr := p.renderPrivacyError(c, status, errorMessage(err, status)); rerr != nil {
		return rerr
	}
	return nil
}

// emailConfirmPage shows the address a link confirms, with the button that confirms it
// (a link opened by a mail scanner confirms nothing).
func (p *Portal) emailConfirmPage(c *fiber.Ctx) error {
	token := strings.Clone(c.Query("token"))
	v := &myView{view: p.view(c, "Confirm your email address"), Token: token, Rights: &rightsView{}}
	ec, err := p.deps.My.Emails.Check(c.UserContext(), token)
	if err != nil {
		status := httpStatus(err, false)
		if status >= 500 {
			return err
		}
		v.Error, v.Token = errorMessage(err, status), ""
		return p.renderMy(c, status, "email-confirm", v)
	}
	v.Rights.NewEmail = ec.Email
	return p.renderMy(c, fiber.StatusOK, "email-confirm", v)
}

func (p *Portal) emailConfirmSubmit(c *fiber.Ctx) error {
	token := strings.Clone(c.FormValue("token"))
	v := &myView{view: p.view(c, "Confirm your email address"), Rights: &rightsView{}}
	ec, err := p.deps.My.Emails.Confirm(c.UserContext(), token)
	if err != nil {
		status := httpStatus(err, false)
		if status >= 500 {
			return err
		}
		v.Error = errorMessage(err, status)
		return p.renderMy(c, status, "email-confirm", v)
	}
	pr, err := p.deps.My.Privacy.Store.FindProfile(c.UserContext(), ec.SubscriberID)
	if err != nil {
		return err
	}
	if err := p.auditAs(c, auth.SubscriberActor(pr.Username), "email.confirm", "subscriber:"+strconv.FormatInt(ec.SubscriberID, 10), nil); err != nil {
		return err
	}
	v.Rights.NewEmail = ec.Email
	v.Notice = "Your email address is now " + ec.Email + "."
	return p.renderMy(c, fiber.StatusOK, "email-confirm", v)
}

// Bodies of the review routes.
type (
	reviewBody struct {
		Decision string `json:"decision" doc:"a decision's ref from GET /api/v1/my/reviews"`
		Message  string `json:"message"`
	}
	reviewsJSON struct {
		Decisions []billing.Decision    `json:"decisions"`
		Reviews   []billing.DataRequest `json:"reviews"`
	}
)

// requestReview records a review request from source and audits it.
func (p *Portal) requestReview(c *fiber.Ctx, in reviewBody, source billing.Source) (*billing.DataRequest, error) {
	r, err := p.deps.My.Rights.RequestReview(c.UserContext(), subscriberID(c), in.Decision, in.Message, source, session(c).Email)
	if err != nil {
		return nil, err
	}
	return r, p.audit(c, "review.request", billing.RequestTarget(r.ID), map[string]any{"source": string(source), "decision": r.DecisionRef})
}

func (p *Portal) apiMyReviews(c *fiber.Ctx) error {
	ctx, rights := c.UserContext(), p.deps.My.Rights
	ds, err := rights.Decisions(ctx, subscriberID(c))
	if err != nil {
		return err
	}
	reqs, err := rights.RequestsOf(ctx, subscriberID(c))
	if err != nil {
		return err
	}
	out := reviewsJSON{Decisions: ds, Reviews: []billing.DataRequest{}}
	if out.Decisions == nil {
		out.Decisions = []billing.Decision{}
	}
	for _, r := range reqs {
		if r.Kind == billing.RequestReview {
			out.Reviews = append(out.Reviews, r)
		}
	}
	return c.JSON(out)
}

func (p *Portal) apiMyReviewCreate(c *fiber.Ctx) error {
	var in reviewBody
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	r, err := p.requestReview(c, in, billing.SourceAPI)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (p *Portal) myReviewSubmit(c *fiber.Ctx) error {
	r, err := p.requestReview(c, reviewBody{Decision: strings.Clone(c.FormValue("decision")), Message: strings.Clone(c.FormValue("message"))}, billing.SourceWeb)
	if err != nil {
		return p.privacyError(c, err)
	}
	return p.renderPrivacy(c, fiber.StatusOK, "A person will review "+r.Decision+" by "+r.DueAt.In(p.deps.My.loc()).Format("2 Jan 2006")+"; you will be told the outcome.")
}

// Bodies of the erasure routes.
type (
	erasureBody struct {
		Password string `json:"password" form:"password"`
	}
	erasureJSON struct {
		Scheduled bool       `json:"scheduled"`
		Request   int64      `json:"request,omitempty"`
		RunAt     *time.Time `json:"run_at,omitempty" doc:"when the erasure is carried out"`
		Changed   bool       `json:"changed"`
	}
)

// errWrongPassword refuses an erasure asked for with a wrong password.
var errWrongPassword = radius.Errorf(radius.EUNAUTHORIZED, "password: the password is wrong")

// requestErasure checks the subscriber's portal password and schedules the erasure,
// audited. The password check counts towards the sign-in limits like a sign-in.
func (p *Portal) requestErasure(c *fiber.Ctx, password string, source billing.Source) (*billing.DataRequest, error) {
	ctx := c.UserContext()
	pr, err := p.deps.My.Privacy.Store.FindProfile(ctx, subscriberID(c))
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, radius.Errorf(radius.EINVALID, "password: give your password to confirm")
	}
	u, err := p.deps.Auth.Login(ctx, pr.Username, password, p.clientIP(c))
	switch {
	case errors.Is(err, auth.ErrBadCredentials), err == nil && u.SubscriberID != pr.SubscriberID:
		if aerr := p.audit(c, "erasure.refused", target(c), map[string]any{"source": string(source), "reason": "password"}); aerr != nil {
			return nil, aerr
		}
		return nil, errWrongPassword
	case err != nil:
		return nil, err
	}
	r, err := p.deps.My.Rights.RequestErasure(ctx, pr.SubscriberID, source, session(c).Email, "", false)
	if err != nil {
		return nil, err
	}
	return r, p.audit(c, "erasure.request", billing.RequestTarget(r.ID), map[string]any{"source": string(source), "run_at": r.RunAt.UTC()})
}

// cancelErasure cancels the scheduled erasure, audited.
func (p *Portal) cancelErasure(c *fiber.Ctx, source billing.Source) (*billing.DataRequest, error) {
	r, err := p.deps.My.Rights.CancelErasure(c.UserContext(), subscriberID(c), session(c).Email)
	if err != nil {
		return nil, err
	}
	return r, p.audit(c, "erasure.cancel", billing.RequestTarget(r.ID), map[string]any{"source": string(source)})
}

func (p *Portal) apiMyErasure(c *fiber.Ctx) error {
	r, err := p.deps.My.Rights.PendingErasure(c.UserContext(), subscriberID(c))
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		return c.JSON(erasureJSON{})
	case err != nil:
		return err
	}
	return c.JSON(erasureJSON{Scheduled: true, Request: r.ID, RunAt: timeOrNil(r.RunAt)})
}

func (p *Portal) apiMyErasureCreate(c *fiber.Ctx) error {
	var in erasureBody
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	r, err := p.requestErasure(c, in.Password, billing.SourceAPI)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(erasureJSON{Scheduled: true, Request: r.ID, RunAt: timeOrNil(r.RunAt), Changed: true})
}

func (p *Portal) apiMyErasureCancel(c *fiber.Ctx) error {
	r, err := p.cancelErasure(c, billing.SourceAPI)
	if err != nil {
		return err
	}
	return c.JSON(erasureJSON{Request: r.ID, Changed: true})
}

func (p *Portal) myErasureSubmit(c *fiber.Ctx) error {
	r, err := p.requestErasure(c, c.FormValue("password"), billing.SourceWeb)
	if err != nil {
		return p.privacyError(c, err)
	}
	return p.renderPrivacy(c, fiber.StatusOK, "Your account will be erased on "+r.RunAt.In(p.deps.My.loc()).Format("2 Jan 2006 15:04")+
		". Until then you can cancel it here.")
}

func (p *Portal) myErasureCancel(c *fiber.Ctx) error {
	if _, err := p.cancelErasure(c, billing.SourceWeb); err != nil {
		return p.privacyError(c, err)
	}
	return p.renderPrivacy(c, fiber.StatusOK, "The erasure is cancelled: your account stays as it is.")
}
