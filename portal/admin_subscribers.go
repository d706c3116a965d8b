package portal

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// The admin's subscriber pages: the directory (/admin/subscribers, searched and
// filtered, page by page), the add form, and one subscriber's page with the profile
// and its edit form, the subscription, the wallet with a manual top-up, invoices and
// receipts, the statement of account, sessions and the auth log. The printable
// documents (invoice, receipt, statement) are in invoices.go.
//
// Personal data: every page that shows a subscriber's is audited (subscriber.view,
// subscriber.statement, invoice.view, with target subscriber:<id>), and a subscriber
// who restricted processing shows nothing until the admin gives a reason
// (billing.CheckStaffRead): the reason form audits it (subscriber.reason) and leaves a
// grant in a cookie for grantTTL (reason.go), and every read made under it is audited
// with the reason.
//
// Subscribers are named by id in the paths: a username may hold any printable
// character, "/" and "?" among them.

// Subscribers is what the subscriber pages call; cmd fills it with the billing services
// and the Postgres stores. Nil leaves the pages out.
type Subscribers struct {
	// Service adds and changes subscribers and lists the plans (billing.Service).
	Service SubscriberEditor
	// Money reads subscriptions, wallets and documents and credits top-ups
	// (billing.SubscriberService).
	Money SubscriberMoney
	// Directory lists subscribers with the search and filters (billing.Directory).
	Directory SubscriberDirectory
	// Profiles tells whether a subscriber restricted processing (billing's privacy
	// store).
	Profiles SubscriberProfiles
	// Sessions and AuthLog read a subscriber's RADIUS sessions and latest decisions
	// (radius/postgres).
	Sessions MySessions
	AuthLog  radius.AuthLogReader
	// Disconnect ends the open sessions of a subscriber an admin suspends or disables
	// (nil: none are ended).
	Disconnect radius.Disconnector
}

// SubscriberEditor is billing.Service's subscriber side.
type SubscriberEditor interface {
	// FindSubscriberByID returns subscriber id. ENOTFOUND.
	FindSubscriberByID(ctx context.Context, id int64) (*billing.Subscriber, error)
	// AddSubscriber stores a new subscriber. EINVALID, ECONFLICT.
	AddSubscriber(ctx context.Context, in billing.NewSubscriber) (*billing.Subscriber, error)
	// UpdateSubscriber changes the subscriber called username. ENOTFOUND, EINVALID,
	// ECONFLICT.
	UpdateSubscriber(ctx context.Context, username string, upd billing.SubscriberUpdate) (*billing.Subscriber, error)
	// ListPlans returns every plan, by name.
	ListPlans(ctx context.Context) ([]billing.Plan, error)
}

// SubscriberMoney is billing.SubscriberService.
type SubscriberMoney interface {
	// Subscription returns the subscription of username. ENOTFOUND when none.
	Subscription(ctx context.Context, username string) (*billing.SubscriptionStatus, error)
	// WalletOf returns the wallet and its latest limit entries, newest first.
	WalletOf(ctx context.Context, username string, limit int) (*billing.Wallet, []billing.LedgerEntry, error)
	// Credit adds money and settles what is due. EINVALID, ENOTFOUND, ECONFLICT.
	Credit(ctx context.Context, req billing.CreditRequest) (*billing.CreditResult, error)
	// StatementOf returns the statement over [from, to). EINVALID, ENOTFOUND.
	StatementOf(ctx context.Context, username string, from, to time.Time) (*billing.Statement, error)
	// Invoices returns documents of username, newest first. EINVALID, ENOTFOUND.
	Invoices(ctx context.Context, username string, kind billing.InvoiceKind, limit int) ([]billing.Invoice, error)
	// Invoice returns the document numbered number. EINVALID, ENOTFOUND.
	Invoice(ctx context.Context, number string) (*billing.Invoice, error)
}

// SubscriberDirectory is billing.Directory.
type SubscriberDirectory interface {
	// Subscribers returns the page q selects. EINVALID.
	Subscribers(ctx context.Context, q billing.SubscriberQuery) (*billing.SubscriberPage, error)
}

// SubscriberProfiles reads profiles with their privacy state (billing's privacy store).
type SubscriberProfiles interface {
	// FindProfile returns subscriber id's profile. ENOTFOUND.
	FindProfile(ctx context.Context, id int64) (*billing.Profile, error)
}

// registerSubscribers adds the pages of this file and invoices.go when Deps.Subscribers
// is set.
func (p *Portal) registerSubscribers() {
	if p.deps.Subscribers == nil {
		return
	}
	p.parseDocuments()
	p.handle("GET", "/admin/subscribers", accessAdmin, p.adminSubscribers)
	p.handle("GET", "/admin/subscribers/new", accessAdmin, p.adminSubscriberNew)
	p.handle("POST", "/admin/subscribers", accessAdmin, p.adminSubscriberCreate)
	p.handle("GET", "/admin/subscribers/:id", accessAdmin, p.adminSubscriber)
	p.handle("POST", "/admin/subscribers/:id", accessAdmin, p.adminSubscriberUpdate)
	p.handle("POST", "/admin/subscribers/:id/reason", accessAdmin, p.adminSubscriberReason)
	p.handle("POST", "/admin/subscribers/:id/topup", accessAdmin, p.adminSubscriberTopup)
	p.handle("GET", "/admin/subscribers/:id/statement", accessAdmin, p.adminStatement)
	p.handle("GET", "/admin/invoices/:number", accessAdmin, p.adminInvoice)
}

// subscriberView is the data of the subscriber pages.
type subscriberView struct {
	*view
	F formats

	// The directory.
	List    *billing.SubscriberPage
	Query   listQuery
	Plans   []billing.Plan
	PrevURL string
	NextURL string

	// One subscriber (and the add form's fields and errors).
	Sub          *billing.Subscriber
	Restricted   bool
	Reason       string
	Subscription *billing.SubscriptionStatus // nil: none
	Wallet       *billing.Wallet
	Entries      []billing.LedgerEntry
	Invoices     []billing.Invoice
	Online       []radius.Session
	Recent       []radius.Session
	AuthLog      []radius.AuthLogRow
	// Form holds the edit (or add) form's values, Errors its bad fields' messages by
	// field name; Topup and TopupErrors the top-up form's.
	Form        map[string]string
	Errors      map[string]string
	Topup       map[string]string
	TopupErrors map[string]string
	// Key is the top-up form's idempotency key, made as the page renders.
	Key string
	// From and To are the statement form's days (YYYY-MM-DD).
	From, To string
	// Password is a password just generated, shown this once.
	Password string
	// The profile form's and the top-up form's own messages, shown in their cards (the
	// forms post to their card's anchor, so the answer opens there).
	FormError, FormNotice   string
	TopupError, TopupNotice string

	// The reason form: where it goes after.
	Next string
}

// newSubscriberView starts the data of a subscriber page.
func (p *Portal) newSubscriberView(c *fiber.Ctx, title string) *subscriberView {
	return &subscriberView{view: p.view(c, title), F: p.format(), Form: map[string]string{}, Topup: map[string]string{}}
}

// subscriberTitle is how a page names a subscriber.
func subscriberTitle(s *billing.Subscriber) string {
	if s.Name != "" {
		return s.Name + " (" + s.Username + ")"
	}
	return s.Username
}

// subscriberURL is the page of subscriber id.
func subscriberURL(id int64) string { return "/admin/subscribers/" + strconv.FormatInt(id, 10) }

// targetOf names subscriber id in the audit log.
func targetOf(id int64) string { return "subscriber:" + strconv.FormatInt(id, 10) }

// listQuery is the directory's search form as typed, for the form and the page links.
type listQuery struct {
	Search, Status, State, Plan string
}

// values writes q and page as a query string.
func (q listQuery) url(page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Search, "status": q.Status, "state": q.State, "plan": q.Plan} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/admin/subscribers"
	}
	return "/admin/subscribers?" + v.Encode()
}

// adminSubscribers is the directory: ?q= searches, ?status=, ?state= and ?plan= (a
// plan's id) filter, ?page= pages. A bad filter shows the page with its message.
func (p *Portal) adminSubscribers(c *fiber.Ctx) error {
	d := p.deps.Subscribers
	ctx := c.UserContext()
	lq := listQuery{Search: strings.TrimSpace(strings.Clone(c.Query("q"))), Status: strings.Clone(c.Query("status")),
		State: strings.Clone(c.Query("state")), Plan: strings.Clone(c.Query("plan"))}
	v := &subscriberView{view: p.view(c, "Subscribers"), F: p.format(), Query: lq}
	var err error
	if v.Plans, err = d.Service.ListPlans(ctx); err != nil {
		return err
	}
	q := billing.SubscriberQuery{Search: lq.Search, Status: radius.Status(lq.Status), State: radius.SubscriptionState(lq.State)}
	status := fiber.StatusOK
	if lq.Plan != "" {
		if q.PlanID, err = strconv.ParseInt(lq.Plan, 10, 64); err != nil || q.PlanID <= 0 {
			err = radius.Errorf(radius.EINVALID, "plan: not a plan")
		}
	}
	if s := c.Query("page"); s != "" && err == nil {
		if q.Page, err = strconv.Atoi(s); err != nil || q.Page < 1 {
			err = radius.Errorf(radius.EINVALID, "page: must be 1 or more")
		}
	}
	if err == nil {
		v.List, err = d.Directory.Subscribers(ctx, q)
	}
	if radius.ErrorCode(err) == radius.EINVALID {
		status, v.Error = fiber.StatusUnprocessableEntity, webMessage(radius.ErrorMessage(err))
		v.List, err = d.Directory.Subscribers(ctx, billing.SubscriberQuery{})
	}
	if err != nil {
		return err
	}
	if v.List.Page > 1 {
		v.PrevURL = lq.url(v.List.Page - 1)
	}
	if v.List.Page < v.List.Pages() {
		v.NextURL = lq.url(v.List.Page + 1)
	}
	// Whose data the page showed: the ids of its rows (a restricted one's shows none).
	shown := make([]int64, 0, len(v.List.Rows))
	for _, r := range v.List.Rows {
		if !r.Restricted {
			shown = append(shown, r.ID)
		}
	}
	detail := map[string]any{"count": len(v.List.Rows), "total": v.List.Total, "page": v.List.Page, "shown": shown}
	if lq.Search != "" {
		detail["search"] = true // what was searched for may itself be personal data
	}
	if err := p.audit(c, "subscriber.list", "", detail); err != nil {
		return err
	}
	v.Status = status
	return p.renderData(c, status, "admin-subscribers", v)
}

// subscriberParam reads :id and loads the subscriber. ENOTFOUND.
func (p *Portal) subscriberParam(c *fiber.Ctx) (*billing.Subscriber, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, radius.Errorf(radius.ENOTFOUND, "no such subscriber")
	}
	return p.deps.Subscribers.Service.FindSubscriberByID(c.UserContext(), id)
}

// adminSubscriber is one subscriber's page; a restricted one's asks for the reason
// first.
func (p *Portal) adminSubscriber(c *fiber.Ctx) error {
	s, err := p.subscriberParam(c)
	if err != nil {
		return err
	}
	read, err := p.staffRead(c, s.ID, subscriberURL(s.ID))
	if err != nil || read == nil {
		return err
	}
	v := p.newSubscriberView(c, "")
	v.Form = subscriberForm(s, nil)
	switch c.Query("done") {
	case "saved":
		v.FormNotice = "Changes saved."
		if n, _ := strconv.Atoi(c.Query("cut")); n > 0 {
			v.FormNotice += " " + plural(int64(n), "open session") + " disconnected."
		}
	case "created":
		v.FormNotice = "Subscriber added."
	case "credited", "replayed":
		if num := c.Query("receipt"); validNumber(num) {
			v.TopupNotice = "Top-up credited: receipt " + num + "."
			if c.Query("done") == "replayed" {
				v.TopupNotice = "This top-up was already credited (receipt " + num + "); nothing was credited again."
			}
		}
	}
	return p.renderSubscriber(c, fiber.StatusOK, s, read, v)
}

// validNumber reports whether s is an invoice or receipt number, safe to show.
func validNumber(s string) bool {
	_, _, _, err := billing.ParseInvoiceNumber(s)
	return err == nil
}

// renderSubscriber fills v with s's page and sends it, audited as a view under read.
func (p *Portal) renderSubscriber(c *fiber.Ctx, status int, s *billing.Subscriber, read *staffRead, v *subscriberView) error {
	d := p.deps.Subscribers
	ctx := c.UserContext()
	v.Title = subscriberTitle(s)
	v.Sub, v.Restricted, v.Reason = s, read.restricted, read.reason
	if v.Key == "" {
		v.Key = auth.NewToken()
	}
	now := p.deps.Auth.Now().In(v.F.loc)
	if v.From == "" {
		v.From, v.To = v.F.dateInput(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, v.F.loc)), v.F.dateInput(now)
	}
	var err error
	if v.Plans, err = d.Service.ListPlans(ctx); err != nil {
		return err
	}
	v.Subscription, err = d.Money.Subscription(ctx, s.Username)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		v.Subscription, err = nil, nil
	}
	if err != nil {
		return err
	}
	if v.Subscription != nil && v.Subscription.NextPlanName != "" && len(v.Errors) == 0 {
		v.Form["plan"] = v.Subscription.NextPlanName // the plan the form shows is the one to come
	}
	if v.Wallet, v.Entries, err = d.Money.WalletOf(ctx, s.Username, 10); err != nil {
		return err
	}
	if v.Invoices, err = d.Money.Invoices(ctx, s.Username, "", 20); err != nil {
		return err
	}
	if v.Online, err = d.Sessions.FindSessions(ctx, radius.SessionFilter{Username: s.Username, Online: true, Limit: 20}); err != nil {
		return err
	}
	recent, err := d.Sessions.FindSessions(ctx, radius.SessionFilter{Username: s.Username, Limit: 15})
	if err != nil {
		return err
	}
	for _, r := range recent {
		if !r.Open() && len(v.Recent) < 10 {
			v.Recent = append(v.Recent, r)
		}
	}
	if v.AuthLog, err = d.AuthLog.FindAuthLog(ctx, radius.AuthLogFilter{Username: s.Username, Limit: 20}); err != nil {
		return err
	}
	if err := p.audit(c, "subscriber.view", targetOf(s.ID), read.detail(nil)); err != nil {
		return err
	}
	v.Now = now
	v.Status = status
	return p.renderData(c, status, "admin-subscriber", v)
}

// uptimeOf is how long s has been (or was) up at now.
func uptimeOf(s radius.Session, now time.Time) time.Duration {
	if !s.Open() {
		return max(time.Duration(s.SessionTime)*time.Second, s.StoppedAt.Sub(s.StartedAt))
	}
	return uptime(&s, now)
}

// Uptime is a template helper: how long s has been up at the page's time.
func (v *subscriberView) Uptime(s radius.Session) time.Duration { return uptimeOf(s, v.Now) }

// adminSubscriberNew is the add form.
func (p *Portal) adminSubscriberNew(c *fiber.Ctx) error {
	if err := p.audit(c, "subscriber.new", "", nil); err != nil {
		return err
	}
	return p.renderNew(c, fiber.StatusOK, map[string]string{"auto_renew": "on"}, nil)
}

// renderNew shows the add form with f and its errors.
func (p *Portal) renderNew(c *fiber.Ctx, status int, f, errs map[string]string) error {
	plans, err := p.deps.Subscribers.Service.ListPlans(c.UserContext())
	if err != nil {
		return err
	}
	v := p.newSubscriberView(c, "Add a subscriber")
	v.Plans, v.Form, v.Errors = plans, f, errs
	if len(errs) > 0 {
		v.Error = errorSummary(errs, subscriberFieldOrder)
	}
	v.Status = status
	return p.renderData(c, status, "admin-subscriber-new", v)
}

// newFields are the add form's fields.
var newFields = []string{"username", "password", "generate", "plan", "name", "email", "phone", "mac", "mac_login", "static_ip", "auto_renew"}

// adminSubscriberCreate adds a subscriber from the add form. Bad fields come back
// named; a generated password is shown once on the new subscriber's page.
func (p *Portal) adminSubscriberCreate(c *fiber.Ctx) error {
	f := formFields(c, newFields...)
	generated := ""
	if checked(f["generate"]) {
		generated = newPassword()
		f["password"] = generated
	}
	errs := checkSubscriberFields(f, true)
	if len(errs) > 0 {
		f["password"] = ""
		return p.renderNew(c, fiber.StatusUnprocessableEntity, f, errs)
	}
	autoRenew := checked(f["auto_renew"])
	s, err := p.deps.Subscribers.Service.AddSubscriber(c.UserContext(), billing.NewSubscriber{
		Username: f["username"], Password: f["password"], Plan: f["plan"], StaticIP: f["static_ip"], MAC: f["mac"],
		MACLogin: checked(f["mac_login"]), Name: f["name"], Email: f["email"], Phone: f["phone"], AutoRenew: &autoRenew,
	})
	if s == nil {
		if field, msg, ok := formError(err); ok {
			f["password"] = ""
			return p.renderNew(c, httpStatus(err, true), f, map[string]string{field: msg})
		}
		return err
	}
	// Stored; a failure to tell the caches is reported after the audit entry.
	if aerr := p.audit(c, "subscriber.create", targetOf(s.ID), map[string]any{"plan": s.PlanName}); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	if generated == "" {
		return c.Redirect(subscriberURL(s.ID)+"?done=created#profile", fiber.StatusSeeOther)
	}
	v := p.newSubscriberView(c, "")
	v.Form, v.Password, v.FormNotice = subscriberForm(s, nil), generated, "Subscriber added."
	return p.renderSubscriber(c, fiber.StatusCreated, s, &staffRead{}, v)
}

// editFields are the edit form's fields.
var editFields = []string{"name", "email", "phone", "auto_renew", "status", "plan", "plan_when", "mac", "mac_login", "static_ip", "password", "generate"}

// subscriberForm is the edit form of s, or what was typed (typed, when not nil).
func subscriberForm(s *billing.Subscriber, typed map[string]string) map[string]string {
	if typed != nil {
		return typed
	}
	f := map[string]string{"name": s.Name, "email": s.Email, "phone": s.Phone, "status": string(s.Status),
		"plan": s.PlanName, "plan_when": "next", "mac": s.MAC}
	if s.AutoRenew {
		f["auto_renew"] = "on"
	}
	if s.MACLogin {
		f["mac_login"] = "on"
	}
	if s.StaticIP.IsValid() {
		f["static_ip"] = s.StaticIP.String()
	}
	return f
}

// adminSubscriberUpdate applies the edit form. Every field is written as the form
// holds it, but the plan only when it changes: "now" with another plan than the
// current one switches at once; otherwise a plan other than the one shown (the
// current one, or the one scheduled for the next period) is scheduled, or drops the
// schedule when it is the current one. The password is written only when typed or
// generated.
// Suspending or disabling cuts the open sessions. Bad fields come back named.
func (p *Portal) adminSubscriberUpdate(c *fiber.Ctx) error {
	s, err := p.subscriberParam(c)
	if err != nil {
		return err
	}
	read, err := p.staffRead(c, s.ID, subscriberURL(s.ID))
	if err != nil || read == nil {
		return err
	}
	f := formFields(c, editFields...)
	generated := ""
	if checked(f["generate"]) {
		generated = newPassword()
		f["password"] = generated
	}
	errs := checkSubscriberFields(f, false)
	if f["plan_when"] != "" && f["plan_when"] != "next" && f["plan_when"] != "now" {
		errs["plan_when"] = "choose the next period or now"
	}
	refuse := func(status int, errs map[string]string) error {
		f["password"], f["generate"] = "", ""
		v := p.newSubscriberView(c, "")
		v.Form, v.Errors, v.FormError = f, errs, errorSummary(errs, subscriberFieldOrder)
		return p.renderSubscriber(c, status, s, read, v)
	}
	if len(errs) > 0 {
		return refuse(fiber.StatusUnprocessableEntity, errs)
	}
	upd := billing.SubscriberUpdate{Name: ptr(f["name"]), Email: ptr(f["email"]), Phone: ptr(f["phone"]),
		AutoRenew: ptr(checked(f["auto_renew"])), MAC: ptr(f["mac"]), MACLogin: ptr(checked(f["mac_login"])),
		StaticIP: ptr(f["static_ip"])}
	if st := radius.Status(f["status"]); st != s.Status {
		upd.Status = &st
	}
	shown := s.PlanName
	if sub, err := p.deps.Subscribers.Money.Subscription(c.UserContext(), s.Username); err == nil && sub.NextPlanName != "" {
		shown = sub.NextPlanName
	}
	switch plan := f["plan"]; {
	case plan == "":
	case f["plan_when"] == "now" && plan != s.PlanName:
		upd.Plan, upd.PlanNow = &plan, true // the scheduled plan too, at once
	case plan != shown:
		upd.Plan = &plan // scheduled, or back to the current plan (the schedule goes)
	}
	if f["password"] != "" {
		upd.Password = ptr(f["password"])
	}
	changed, err := p.deps.Subscribers.Service.UpdateSubscriber(c.UserContext(), s.Username, upd)
	if changed == nil {
		if field, msg, ok := formError(err); ok {
			return refuse(httpStatus(err, true), map[string]string{field: msg})
		}
		return err
	}
	detail := map[string]any{"status": string(changed.Status), "plan": changed.PlanName, "password": upd.Password != nil}
	if upd.Plan != nil {
		detail["plan_change"], detail["plan_now"] = *upd.Plan, upd.PlanNow
	}
	if aerr := p.audit(c, "subscriber.update", targetOf(s.ID), read.detail(detail)); aerr != nil {
		return aerr
	}
	if err != nil {
		return err // stored, but the caches were not told
	}
	cut := 0
	if upd.Status != nil && changed.Status != radius.StatusActive {
		if cut, err = p.cutSessions(c.UserContext(), changed.Username, string(changed.Status)); err != nil {
			return err
		}
	}
	if generated != "" {
		v := p.newSubscriberView(c, "")
		v.Form, v.Password, v.FormNotice = subscriberForm(changed, nil), generated, "Changes saved."
		return p.renderSubscriber(c, fiber.StatusOK, changed, read, v)
	}
	u := subscriberURL(s.ID) + "?done=saved"
	if cut > 0 {
		u += "&cut=" + strconv.Itoa(cut)
	}
	return c.Redirect(u+"#profile", fiber.StatusSeeOther)
}

// cutSessions sends a Disconnect-Request for every open session of username and
// returns how many it sent.
func (p *Portal) cutSessions(ctx context.Context, username, reason string) (int, error) {
	d := p.deps.Subscribers
	if d.Disconnect == nil {
		return 0, nil
	}
	open, err := d.Sessions.FindSessions(ctx, radius.SessionFilter{Username: username, Online: true, Limit: 1000})
	if err != nil {
		return 0, err
	}
	for i := range open {
		if r, err := d.Disconnect.Disconnect(ctx, open[i].Live(), reason); err != nil && r.Result == "" {
			return i, err
		}
	}
	return len(open), nil
}

// adminSubscriberTopup credits the wallet from the top-up form: amount, note and key,
// the form's hidden idempotency key, so a double submit credits once. Through
// SubscriberService.Credit: the receipt is issued and what is due is settled (an
// isolated subscriber is restored).
func (p *Portal) adminSubscriberTopup(c *fiber.Ctx) error {
	s, err := p.subscriberParam(c)
	if err != nil {
		return err
	}
	read, err := p.staffRead(c, s.ID, subscriberURL(s.ID))
	if err != nil || read == nil {
		return err
	}
	f := formFields(c, "amount", "note", "key")
	errs, status := map[string]string{}, fiber.StatusUnprocessableEntity
	amount, err := billing.ParseCents(f["amount"])
	if err != nil || amount <= 0 {
		errs["amount"] = "an amount like 20.00, more than 0"
	}
	if f["note"] == "" {
		errs["note"] = "required: say where the money came from (cash, bank transfer, …)"
	}
	var res *billing.CreditResult
	if len(errs) == 0 {
		res, err = p.deps.Subscribers.Money.Credit(c.UserContext(), billing.CreditRequest{
			Username: s.Username, AmountCents: amount, Note: f["note"], IdempotencyKey: "admin:" + f["key"],
			Actor: session(c).Email,
		})
		if res == nil {
			field, msg, ok := formError(err)
			if !ok {
				return err
			}
			if field == "" || field == "idempotency_key" {
				field = "amount"
			}
			errs[field], status = msg, httpStatus(err, true)
		}
	}
	if len(errs) > 0 {
		v := p.newSubscriberView(c, "")
		// A new key: the refused form moved nothing, and a key the engine refused
		// (ECONFLICT: used for another amount) must not come back.
		v.Form, v.Topup, v.TopupErrors = subscriberForm(s, nil), f, errs
		v.TopupError = errorSummary(errs, []string{"amount", "note"})
		return p.renderSubscriber(c, status, s, read, v)
	}
	detail := map[string]any{"amount_cents": amount, "note": f["note"], "entry": res.Entry.ID, "replayed": res.Entry.Replayed}
	number := ""
	if res.Receipt != nil {
		number = res.Receipt.Number
		detail["receipt"] = number
	}
	if aerr := p.audit(c, "wallet.credit", targetOf(s.ID), read.detail(detail)); aerr != nil {
		return aerr
	}
	if err != nil {
		return err // credited, but what follows the commit failed
	}
	done := "credited"
	if res.Entry.Replayed {
		done = "replayed"
	}
	return c.Redirect(subscriberURL(s.ID)+"?done="+done+"&receipt="+url.QueryEscape(number)+"#wallet", fiber.StatusSeeOther)
}

func ptr[T any](v T) *T { return &v }

// checked reports whether a checkbox was sent checked.
func checked(s string) bool { return s == "on" || s == "true" || s == "1" }

// AccountStatuses are the statuses an account can have, for the forms' selects.
func (v *subscriberView) AccountStatuses() []string {
	return []string{string(radius.StatusActive), string(radius.StatusSuspended), string(radius.StatusDisabled)}
}

// SubscriptionStates are the directory's subscription filters.
func (v *subscriberView) SubscriptionStates() []string {
	return []string{string(radius.SubscriptionActive), string(radius.SubscriptionGrace), string(radius.SubscriptionIsolated),
		string(radius.SubscriptionCancelled), string(billing.StateNone)}
}

// Kind names a ledger entry's kind for people.
func (v *subscriberView) Kind(k billing.EntryKind) string { return entryKind(k) }

// Decision writes an auth log reason code for people: "bad password".
func (v *subscriberView) Decision(reason string) string { return strings.ReplaceAll(reason, "_", " ") }
