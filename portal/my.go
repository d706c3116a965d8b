package portal

import (
	"bytes"
	"context"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// The subscriber's own pages: /my (profile, live sessions, this period's use and a
// 30-day graph), /my/privacy (consents and restriction), /my/policy (accepting the
// privacy policy in effect), and the same as JSON under /api/v1/my. Every route admits
// a subscriber's session only, and acts for the subscriber of that session: no route
// takes a subscriber id from the request.
//
// Policy gate: once a version of the privacy policy is in effect that the subscriber
// has not accepted (billing.PolicyToAccept), /my and /api/v1/my answer with the policy
// instead (a redirect to /my/policy, or 403 {"code":"policy_not_accepted"}). The
// privacy controls (consents, restriction) stay open: exercising a right is never made
// to wait on accepting a policy.

// My is what the subscribers' pages call. Loc is the operator's time zone, the days of
// the usage graph and of /api/v1/my/usage (time.Local when nil).
type My struct {
	Privacy  *billing.Privacy // its Store reads the profiles
	Policies *billing.Policies
	Sessions MySessions
	Usage    radius.UsageStore
	Daily    radius.DailyUsageStore
	Links    *auth.Links
	Loc      *time.Location

	// Money reads the subscription, the balance and the documents, and renews
	// (my_money.go); nil leaves the money parts out. TopUp starts a payment provider's
	// checkout; without one, /my/topup shows Paybill (TOLLGATE_PAYBILL_TEXT). Currency
	// is TOLLGATE_CURRENCY.
	Money    MyMoney
	TopUp    TopUpStarter
	Paybill  string
	Currency string

	// The rights (privacy_rights.go): requests (reviews, erasure), the export, the
	// changes of address and profile, and the erasure staff carry out. A nil one leaves
	// its routes out.
	Rights   *billing.Rights
	Export   *billing.Exporter
	Emails   *billing.EmailChanges
	Profiles MyProfiles
	Erasure  *billing.Erasure
}

// MySessions lists sessions (radius/postgres): a subscriber's open ones here.
type MySessions interface {
	// FindSessions lists the sessions f selects, newest start first.
	FindSessions(ctx context.Context, f radius.SessionFilter) ([]radius.Session, error)
}

func (m *My) loc() *time.Location {
	if m.Loc != nil {
		return m.Loc
	}
	return time.Local
}

// registerMy adds the subscribers' routes when Deps.My is set.
func (p *Portal) registerMy() {
	if p.deps.My == nil {
		return
	}
	p.handle("GET", "/privacy", accessPublic, p.privacyPage)
	p.handle("GET", "/login/forgot", accessPublic, p.forgotPage)
	p.handle("POST", "/login/forgot", accessPublic, p.forgotSubmit)
	p.handle("GET", "/account/password", accessPublic, p.passwordPage)
	p.handle("POST", "/account/password", accessPublic, p.passwordSubmit)

	p.handle("GET", "/my", accessSubscriber, p.gated(p.myPage))
	p.handle("GET", "/my/privacy", accessSubscriber, p.myPrivacyPage)
	p.handle("POST", "/my/privacy", accessSubscriber, p.myConsentsSubmit)
	p.handle("POST", "/my/restriction", accessSubscriber, p.myRestrictionSubmit)
	p.handle("GET", "/my/policy", accessSubscriber, p.myPolicyPage)
	p.handle("POST", "/my/policy", accessSubscriber, p.myPolicySubmit)

	gate := " Answers 403 {\"code\":\"policy_not_accepted\",\"version\":N} until the privacy policy in effect is accepted."
	p.myAPI("GET", "/api/v1/my", p.gated(p.apiMy), apiDoc{Summary: "The signed-in subscriber: profile (email and phone masked), consents, open sessions, use this period, and with the money engine the subscription and balance." + gate, Resp: myJSON{}})
	p.myAPI("GET", "/api/v1/my/usage", p.gated(p.apiMyUsage), apiDoc{Summary: "Use per day in the operator's time zone, today last; download is the NAS's output octets." + gate, Resp: []dayJSON{},
		Params: []apiParam{{Name: "days", In: "query", Type: "integer", Desc: "1 to 366 (default 30)"}}})
	p.myAPI("PUT", "/api/v1/my/consents", p.apiMyConsents, apiDoc{Summary: "Change consents (a field left out keeps its value); each change is recorded with time and source.", Body: consentsBody{}, Resp: consentsJSON{}})
	p.myAPI("POST", "/api/v1/my/restriction", p.apiMyRestriction(true), apiDoc{Summary: "Restrict processing: no marketing, no optional reminders, staff reads need a reason.", Resp: restrictionJSON{}})
	p.myAPI("DELETE", "/api/v1/my/restriction", p.apiMyRestriction(false), apiDoc{Summary: "Lift the restriction.", Resp: restrictionJSON{}})
	p.myAPI("GET", "/api/v1/my/policy", p.apiMyPolicy, apiDoc{Summary: "The privacy policy version to accept, else the one in effect.", Resp: myPolicyJSON{}})
	p.myAPI("POST", "/api/v1/my/policy/accept", p.apiMyPolicyAccept, apiDoc{Summary: "Accept a policy version; recorded with time and address.", Body: acceptBody{}, Resp: acceptedJSON{}})
	p.registerMyMoney()
	p.registerRights()
}

// myAPI registers a route of the subscriber's own API (a subscriber's cookie session,
// its CSRF header on unsafe methods) with its OpenAPI description, as Portal.api does
// for the token-scoped resources; TestOpenAPIMatchesRouter walks them all.
func (p *Portal) myAPI(method, path string, h fiber.Handler, d apiDoc) {
	d.access = accessSubscriber
	p.handle(method, path, accessSubscriber, h)
	p.docs = append(p.docs, apiRoute{method: method, path: path, doc: d})
}

// Bodies of the subscriber's API, for the handlers and the document.
type (
	consentsJSON struct {
		Consents billing.Consents `json:"consents"`
		Changed  bool             `json:"changed"`
	}
	restrictionJSON struct {
		Restricted bool `json:"restricted"`
		Changed    bool `json:"changed"`
	}
	myPolicyJSON struct {
		MustAccept bool        `json:"must_accept"`
		Policy     *policyJSON `json:"policy"`
	}
	acceptBody struct {
		Version int `json:"version" form:"version"`
	}
	acceptedJSON struct {
		Accepted int `json:"accepted"`
	}
)

// subscriberID is the subscriber the request's session acts for.
func subscriberID(c *fiber.Ctx) int64 { return session(c).SubscriberID }

// errPolicy refuses a request until the policy in effect is accepted.
func errPolicy(v *billing.PolicyVersion) error {
	return radius.Errorf(radius.EUNAUTHORIZED, "accept version %d of the privacy policy first", v.Version)
}

// gated runs h once the subscriber accepted the policy in effect; otherwise a page goes
// to /my/policy and the API answers 403 {"code":"policy_not_accepted","version":N}.
func (p *Portal) gated(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		v, err := p.deps.My.Policies.ToAccept(c.UserContext(), subscriberID(c))
		if err != nil {
			return err
		}
		switch {
		case v == nil:
			return h(c)
		case isAPI(c):
			msg := errPolicy(v).Error()
			p.metrics.errors.WithLabelValues("policy_not_accepted").Inc()
			return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"code": "policy_not_accepted", "version": v.Version,
				"error": fiber.Map{"code": "policy_not_accepted", "message": msg}})
		case c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead:
			return c.Redirect("/my/policy", fiber.StatusSeeOther)
		}
		return errPolicy(v)
	}
}

// myView is the data of the subscriber's pages.
type myView struct {
	*view
	Profile     *billing.Profile
	MaskedEmail string
	MaskedPhone string
	Sessions    []liveSession
	UsedData    string
	UsedTime    string
	UsedSince   string // "" for all time
	ValidUntil  string // "" for no end
	Graph       *usageGraph
	// Money is the plan, state and balance (nil without the money engine).
	Money *moneyView

	// /my/privacy
	ConsentHistory     []billing.ConsentChange
	RestrictionHistory []billing.RestrictionChange

	// /my/policy and /privacy
	Policy     *billing.PolicyVersion
	PolicyHTML template.HTML
	ToAccept   bool
	Versions   []billing.PolicyVersion
	Upcoming   *billing.PolicyVersion

	// /account/password and /account/email
	Token string

	// The rights (privacy_rights.go) on /my/privacy and /my.
	Rights *rightsView
}

// liveSession is one open session as /my shows it.
type liveSession struct {
	Started  string
	NAS      string
	IP       string
	Uptime   string
	Download string
	Upload   string
}

// renderMy executes page with v and sends it with status, never cached.
func (p *Portal) renderMy(c *fiber.Ctx, status int, page string, v *myView) error {
	v.Status = status
	return p.renderData(c, status, page, v)
}

// myData is what /my and /api/v1/my show: the profile, the open sessions and the use
// this period: since the subscription's period began, or without one since the start
// of the plan's validity.
type myData struct {
	profile  *billing.Profile
	sessions []radius.Session
	usage    radius.Usage
	// since is when this period began (zero: all time).
	since time.Time
}

func (p *Portal) loadMy(c *fiber.Ctx) (*myData, error) {
	ctx, m := c.UserContext(), p.deps.My
	pr, err := m.Privacy.Store.FindProfile(ctx, subscriberID(c))
	if err != nil {
		return nil, err
	}
	d := &myData{profile: pr}
	if d.sessions, err = m.Sessions.FindSessions(ctx, radius.SessionFilter{Username: pr.Username, Online: true, Limit: 20}); err != nil {
		return nil, err
	}
	// This period: the subscription's when there is one (its current period), else
	// the plan's validity.
	d.since = pr.ValidFrom
	if m.Money != nil {
		st, err := m.Money.Subscription(ctx, pr.Username)
		switch {
		case err == nil && st.State != radius.SubscriptionCancelled && st.PeriodStart.After(d.since):
			d.since = st.PeriodStart
		case err != nil && radius.ErrorCode(err) != radius.ENOTFOUND:
			return nil, err
		}
	}
	if d.usage, err = m.Usage.FindUsage(ctx, pr.Username, d.since); err != nil {
		return nil, err
	}
	return d, nil
}

// uptime is how long s has been up at now: its own count, or the time since it began
// when that is more (interim updates come every few minutes).
func uptime(s *radius.Session, now time.Time) time.Duration {
	return max(time.Duration(s.SessionTime)*time.Second, now.Sub(s.StartedAt))
}

func (p *Portal) myPage(c *fiber.Ctx) error {
	d, err := p.loadMy(c)
	if err != nil {
		return err
	}
	m := p.deps.My
	loc, now := m.loc(), p.deps.Auth.Now()
	days, err := m.Daily.FindDailyUsage(c.UserContext(), d.profile.Username, radius.DayBounds(now, 30, loc))
	if err != nil {
		return err
	}
	v := &myView{view: p.view(c, "My account"), Profile: d.profile,
		MaskedEmail: billing.MaskEmail(d.profile.Email), MaskedPhone: billing.MaskPhone(d.profile.Phone),
		UsedData: formatBytes(d.usage.Bytes), UsedTime: formatDuration(d.usage.Uptime), Graph: newUsageGraph(days)}
	if !d.since.IsZero() {
		v.UsedSince = d.since.In(loc).Format("2 Jan 2006")
	}
	if !d.profile.ValidUntil.IsZero() {
		v.ValidUntil = d.profile.ValidUntil.In(loc).Format("2 Jan 2006 15:04")
	}
	for i := range d.sessions {
		s := &d.sessions[i]
		ls := liveSession{Started: s.StartedAt.In(loc).Format("Mon 2 Jan 15:04"), NAS: s.NASName,
			Uptime:   formatDuration(uptime(s, now)),
			Download: formatBytes(int64(s.OutputOctets)), Upload: formatBytes(int64(s.InputOctets))}
		if s.FramedIP.IsValid() {
			ls.IP = s.FramedIP.String()
		}
		v.Sessions = append(v.Sessions, ls)
	}
	if m.Money != nil {
		if v.Money, _, err = p.money(c, d.profile.Username, 5); err != nil {
			return err
		}
	}
	if m.Rights != nil {
		if v.Rights, err = p.rightsView(c, d.profile); err != nil {
			return err
		}
		if v.Money != nil && len(v.Rights.Decisions) > 0 {
			v.Money.Review = &v.Rights.Decisions[0]
		}
	}
	return p.renderMy(c, fiber.StatusOK, "my", v)
}

// myJSON is the body of GET /api/v1/my.
type myJSON struct {
	Username   string           `json:"username"`
	Name       string           `json:"name"`
	Email      string           `json:"email"` // masked
	Phone      string           `json:"phone"` // masked
	Plan       string           `json:"plan"`
	Status     string           `json:"status"`
	ValidFrom  *time.Time       `json:"valid_from"`
	ValidUntil *time.Time       `json:"valid_until"`
	Consents   billing.Consents `json:"consents"`
	Restricted bool             `json:"restricted"`
	Sessions   []mySessionJSON  `json:"sessions"`
	Usage      myUsageJSON      `json:"usage"`
	// With the money engine: the subscription (null without one) and the balance.
	Subscription *mySubscriptionJSON `json:"subscription"`
	Balance      string              `json:"balance,omitempty"`
	Currency     string              `json:"currency,omitempty"`
}

type mySessionJSON struct {
	StartedAt     time.Time `json:"started_at"`
	NAS           string    `json:"nas"`
	IP            string    `json:"ip"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Download      uint64    `json:"download"`
	Upload        uint64    `json:"upload"`
}

// myUsageJSON is the use of this period: since valid_from (null: all time).
type myUsageJSON struct {
	Since   *time.Time `json:"since"`
	Seconds int64      `json:"seconds"`
	Bytes   int64      `json:"bytes"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (p *Portal) apiMy(c *fiber.Ctx) error {
	d, err := p.loadMy(c)
	if err != nil {
		return err
	}
	pr, now := d.profile, p.deps.Auth.Now()
	out := myJSON{Username: pr.Username, Name: pr.Name, Email: billing.MaskEmail(pr.Email), Phone: billing.MaskPhone(pr.Phone),
		Plan: pr.PlanName, Status: string(pr.Status), ValidFrom: timePtr(pr.ValidFrom), ValidUntil: timePtr(pr.ValidUntil),
		Consents: pr.Consents, Restricted: pr.Restricted, Sessions: []mySessionJSON{},
		Usage: myUsageJSON{Since: timePtr(d.since), Seconds: int64(d.usage.Uptime / time.Second), Bytes: d.usage.Bytes}}
	for i := range d.sessions {
		s := &d.sessions[i]
		js := mySessionJSON{StartedAt: s.StartedAt.UTC(), NAS: s.NASName, UptimeSeconds: int64(uptime(s, now) / time.Second),
			Download: s.OutputOctets, Upload: s.InputOctets}
		if s.FramedIP.IsValid() {
			js.IP = s.FramedIP.String()
		}
		out.Sessions = append(out.Sessions, js)
	}
	if err := p.addMoneyJSON(c, &out); err != nil {
		return err
	}
	return c.JSON(out)
}

// dayJSON is one day of GET /api/v1/my/usage.
type dayJSON struct {
	Day      string `json:"day"`
	Download int64  `json:"download"`
	Upload   int64  `json:"upload"`
	Seconds  int64  `json:"seconds"`
}

// apiMyUsage answers GET /api/v1/my/usage?days=N (1-366, default 30): the last N days
// in the operator's time zone, today last.
func (p *Portal) apiMyUsage(c *fiber.Ctx) error {
	n := 30
	if q := c.Query("days"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > 366 {
			return radius.Errorf(radius.EINVALID, "days: a number from 1 to 366")
		}
		n = v
	}
	m := p.deps.My
	pr, err := m.Privacy.Store.FindProfile(c.UserContext(), subscriberID(c))
	if err != nil {
		return err
	}
	days, err := m.Daily.FindDailyUsage(c.UserContext(), pr.Username, radius.DayBounds(p.deps.Auth.Now(), n, m.loc()))
	if err != nil {
		return err
	}
	out := make([]dayJSON, 0, len(days))
	for _, d := range days {
		out = append(out, dayJSON{Day: d.Day.Format("2006-01-02"), Download: d.Download, Upload: d.Upload, Seconds: d.Seconds})
	}
	return c.JSON(out)
}

// target names the request's subscriber in the audit log.
func target(c *fiber.Ctx) string { return "subscriber:" + strconv.FormatInt(subscriberID(c), 10) }

// setConsents records the subscriber's new consents from source and audits a change.
func (p *Portal) setConsents(c *fiber.Ctx, cs billing.Consents, source billing.Source) (bool, error) {
	changed, err := p.deps.My.Privacy.SetConsents(c.UserContext(), subscriberID(c), cs, source)
	if err != nil || !changed {
		return changed, err
	}
	return true, p.audit(c, "consent.change", target(c), map[string]any{"source": string(source),
		"reminders_email": cs.RemindersEmail, "reminders_sms": cs.RemindersSMS, "marketing": cs.Marketing})
}

// setRestricted restricts (or lifts) and audits a change.
func (p *Portal) setRestricted(c *fiber.Ctx, restricted bool, source billing.Source) (bool, error) {
	changed, err := p.deps.My.Privacy.SetRestricted(c.UserContext(), subscriberID(c), restricted, source)
	if err != nil || !changed {
		return changed, err
	}
	action := "restriction.lift"
	if restricted {
		action = "restriction.set"
	}
	return true, p.audit(c, action, target(c), map[string]any{"source": string(source)})
}

// consentsBody is the body of PUT /api/v1/my/consents; a field left out keeps its value.
type consentsBody struct {
	RemindersEmail *bool `json:"reminders_email"`
	RemindersSMS   *bool `json:"reminders_sms"`
	Marketing      *bool `json:"marketing"`
}

func (p *Portal) apiMyConsents(c *fiber.Ctx) error {
	var in consentsBody
	if err := c.BodyParser(&in); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, `the body is not a JSON object like {"reminders_email":true,"reminders_sms":false,"marketing":false}`)
	}
	pr, err := p.deps.My.Privacy.Store.FindProfile(c.UserContext(), subscriberID(c))
	if err != nil {
		return err
	}
	cs := pr.Consents
	for _, f := range []struct {
		in  *bool
		out *bool
	}{{in.RemindersEmail, &cs.RemindersEmail}, {in.RemindersSMS, &cs.RemindersSMS}, {in.Marketing, &cs.Marketing}} {
		if f.in != nil {
			*f.out = *f.in
		}
	}
	changed, err := p.setConsents(c, cs, billing.SourceAPI)
	if err != nil {
		return err
	}
	return c.JSON(consentsJSON{Consents: cs, Changed: changed})
}

func (p *Portal) apiMyRestriction(restricted bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		changed, err := p.setRestricted(c, restricted, billing.SourceAPI)
		if err != nil {
			return err
		}
		return c.JSON(restrictionJSON{Restricted: restricted, Changed: changed})
	}
}

func (p *Portal) myPrivacyPage(c *fiber.Ctx) error {
	return p.renderPrivacy(c, fiber.StatusOK, "")
}

// renderPrivacy shows /my/privacy with notice.
func (p *Portal) renderPrivacy(c *fiber.Ctx, status int, notice string) error {
	return p.showPrivacy(c, status, notice, "")
}

// renderPrivacyError shows /my/privacy with the error message of a form.
func (p *Portal) renderPrivacyError(c *fiber.Ctx, status int, msg string) error {
	return p.showPrivacy(c, status, "", msg)
}

func (p *Portal) showPrivacy(c *fiber.Ctx, status int, notice, errMsg string) error {
	ctx, store := c.UserContext(), p.deps.My.Privacy.Store
	pr, err := store.FindProfile(ctx, subscriberID(c))
	if err != nil {
		return err
	}
	v := &myView{view: p.view(c, "Privacy"), Profile: pr,
		MaskedEmail: billing.MaskEmail(pr.Email), MaskedPhone: billing.MaskPhone(pr.Phone)}
	v.Notice, v.Error = notice, errMsg
	if v.Rights, err = p.rightsView(c, pr); err != nil {
		return err
	}
	if v.ConsentHistory, err = store.FindConsentHistory(ctx, pr.SubscriberID); err != nil {
		return err
	}
	if v.RestrictionHistory, err = store.FindRestrictionHistory(ctx, pr.SubscriberID); err != nil {
		return err
	}
	return p.renderMy(c, status, "my-privacy", v)
}

// myConsentsSubmit takes the consents form: a checked box is "on", an unchecked one is
// not sent.
func (p *Portal) myConsentsSubmit(c *fiber.Ctx) error {
	on := func(name string) bool { return c.FormValue(name) == "on" || c.FormValue(name) == "true" }
	cs := billing.Consents{RemindersEmail: on("reminders_email"), RemindersSMS: on("reminders_sms"), Marketing: on("marketing")}
	changed, err := p.setConsents(c, cs, billing.SourceWeb)
	if err != nil {
		return err
	}
	notice := "Nothing changed."
	if changed {
		notice = "Your choices are saved and apply to the next message."
	}
	return p.renderPrivacy(c, fiber.StatusOK, notice)
}

func (p *Portal) myRestrictionSubmit(c *fiber.Ctx) error {
	restrict, err := strconv.ParseBool(c.FormValue("restrict"))
	if err != nil {
		return radius.Errorf(radius.EINVALID, "restrict: true or false")
	}
	if _, err := p.setRestricted(c, restrict, billing.SourceWeb); err != nil {
		return err
	}
	notice := "Processing of your data is no longer restricted."
	if restrict {
		notice = "Processing of your data is restricted: no marketing and no optional reminders, and staff must give a reason to look at your account."
	}
	return p.renderPrivacy(c, fiber.StatusOK, notice)
}

// policyToShow returns the version /my/policy shows: the one to accept, else the one
// in effect (nil when none), and whether it must be accepted.
func (p *Portal) policyToShow(c *fiber.Ctx) (*billing.PolicyVersion, bool, error) {
	pol := p.deps.My.Policies
	v, err := pol.ToAccept(c.UserContext(), subscriberID(c))
	if err != nil || v != nil {
		return v, v != nil, err
	}
	versions, err := pol.Store.ListPolicies(c.UserContext())
	if err != nil {
		return nil, false, err
	}
	return billing.CurrentPolicy(versions, p.deps.Auth.Now()), false, nil
}

func (p *Portal) myPolicyPage(c *fiber.Ctx) error {
	v, must, err := p.policyToShow(c)
	if err != nil {
		return err
	}
	mv := &myView{view: p.view(c, "Privacy policy"), Policy: v, ToAccept: must}
	if v != nil {
		mv.PolicyHTML = renderMarkdown(v.Body)
	}
	return p.renderMy(c, fiber.StatusOK, "my-policy", mv)
}

// acceptPolicy records the acceptance of version from the request's address and
// audits it.
func (p *Portal) acceptPolicy(c *fiber.Ctx, version int) error {
	if err := p.deps.My.Policies.Accept(c.UserContext(), subscriberID(c), version, p.clientIP(c)); err != nil {
		return err
	}
	return p.audit(c, "policy.accept", target(c), map[string]any{"version": version})
}

func (p *Portal) myPolicySubmit(c *fiber.Ctx) error {
	version, err := strconv.Atoi(c.FormValue("version"))
	if err != nil {
		return radius.Errorf(radius.EINVALID, "version: a number")
	}
	if err := p.acceptPolicy(c, version); err != nil {
		return err
	}
	return c.Redirect("/my", fiber.StatusSeeOther)
}

// policyJSON is a version as the API shows it.
type policyJSON struct {
	billing.PolicyVersion
	Text string `json:"text"`
}

func (p *Portal) apiMyPolicy(c *fiber.Ctx) error {
	v, must, err := p.policyToShow(c)
	if err != nil {
		return err
	}
	out := myPolicyJSON{MustAccept: must}
	if v != nil {
		out.Policy = &policyJSON{PolicyVersion: *v, Text: v.Body}
	}
	return c.JSON(out)
}

func (p *Portal) apiMyPolicyAccept(c *fiber.Ctx) error {
	var in acceptBody
	if err := c.BodyParser(&in); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, `the body is not a JSON object like {"version":1}`)
	}
	if err := p.acceptPolicy(c, in.Version); err != nil {
		return err
	}
	return c.JSON(acceptedJSON{Accepted: in.Version})
}

// privacyPage is the public /privacy: the policy in effect (or ?version=N), the next
// version when one is published but not in effect yet, and every version's dates.
func (p *Portal) privacyPage(c *fiber.Ctx) error {
	versions, err := p.deps.My.Policies.Store.ListPolicies(c.UserContext())
	if err != nil {
		return err
	}
	now := p.deps.Auth.Now()
	v := &myView{view: p.view(c, "Privacy policy"), Versions: versions, Policy: billing.CurrentPolicy(versions, now)}
	v.Now = now
	if q := c.Query("version"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > len(versions) {
			return radius.Errorf(radius.ENOTFOUND, "no policy version %s", strings.Clone(q))
		}
		v.Policy = &versions[n-1]
	}
	for i := range versions {
		if !versions[i].InEffect(now) {
			v.Upcoming = &versions[i]
		}
	}
	if v.Policy != nil {
		v.PolicyHTML = renderMarkdown(v.Policy.Body)
	}
	return p.renderMy(c, fiber.StatusOK, "privacy", v)
}

// renderData executes page with data (a struct embedding *view) and sends it with
// status; like render, never cached.
func (p *Portal) renderData(c *fiber.Ctx, status int, page string, data any) error {
	t, ok := p.pages[page]
	if !ok {
		return fiber.NewError(fiber.StatusInternalServerError, "no page "+page)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}
