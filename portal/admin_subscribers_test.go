package portal

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal/auth"
	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/seal"
)

// userDisconnects records the subscribers the money engine disconnected (a restore).
type userDisconnects struct {
	mu    sync.Mutex
	users []string
}

func (d *userDisconnects) DisconnectUser(_ context.Context, username, reason string) ([]radius.CoAResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users = append(d.users, username+":"+reason)
	return nil, nil
}

// mustSubscribers wires the subscriber pages on pool as cmd/tollgate does: prices
// include 16% VAT, amounts are in USD, the clock is now's.
func mustSubscribers(tb testing.TB, pool *pgxpool.Pool, sealer *seal.Sealer, now func() time.Time, dis radius.Disconnector) *Subscribers {
	tb.Helper()
	bs, rs := billingpg.NewStore(pool), radiuspg.New(pool)
	return &Subscribers{
		Service: &billing.Service{Store: bs, Sealer: sealer, Now: now},
		Money: &billing.SubscriberService{Store: bs, InTx: billingpg.InTx(pool), Now: now, Disconnect: &userDisconnects{},
			Config: billing.MoneyConfig{TaxRules: billing.TaxRules{Currency: "USD", TaxRateBP: 1600, TaxName: "VAT"},
				Rules: billing.Rules{Location: time.UTC}}},
		Directory:  &billing.Directory{Store: bs},
		Profiles:   bs,
		Sessions:   rs,
		AuthLog:    rs,
		Disconnect: dis,
	}
}

var pricedOnce sync.Map // harness → the priced plans were made

// mustCustomer adds a subscriber on the priced PPPoE plan "Fibre 20" (20.00 USD a
// month; "Fibre 50" at 50.00 is there to change to) with a profile.
func (h *harness) mustCustomer(username, name, email, phone string) *billing.Subscriber {
	h.t.Helper()
	ctx := context.Background()
	svc := h.p.deps.Subscribers.Service.(*billing.Service)
	if _, loaded := pricedOnce.LoadOrStore(h, true); !loaded {
		for _, pl := range []billing.Plan{
			{Name: "Fibre 20", Kind: radius.KindPPPoE, PriceCents: 2000, Period: billing.PeriodMonth, RateLimit: "20M/20M"},
			{Name: "Fibre 50", Kind: radius.KindPPPoE, PriceCents: 5000, Period: billing.PeriodMonth, RateLimit: "50M/50M"},
			{Name: "Day pass", Kind: radius.KindHotspot, Validity: 24 * time.Hour, DataLimit: 1 << 30},
		} {
			if _, err := svc.CreatePlan(ctx, pl); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	s, err := svc.AddSubscriber(ctx, billing.NewSubscriber{Username: username, Password: "pppoe-secret-1", Plan: "Fibre 20",
		Name: name, Email: email, Phone: phone})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// mustCredit tops username up by cents as an admin would, with a fresh key.
func (h *harness) mustCredit(username string, cents int64) *billing.CreditResult {
	h.t.Helper()
	res, err := h.p.deps.Subscribers.Money.Credit(context.Background(), billing.CreditRequest{Username: username,
		AmountCents: cents, Note: "cash", IdempotencyKey: auth.NewToken(), Actor: "test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// restrict marks subscriber id as having restricted processing.
func (h *harness) restrict(id int64) {
	h.t.Helper()
	if _, err := h.pool.Exec(context.Background(), `UPDATE subscribers SET restricted = true WHERE id = $1`, id); err != nil {
		h.t.Fatal(err)
	}
}

// auditSince returns the audit rows after the first n.
func (h *harness) auditSince(n int) []auditRow {
	h.t.Helper()
	return h.audit()[n:]
}

// walkerReceipts holds a receipt of the walker per harness, for the route walks.
var walkerReceipts sync.Map

func init() {
	var n struct {
		sync.Mutex
		i int
	}
	next := func() string {
		n.Lock()
		defer n.Unlock()
		n.i++
		return itoa64(int64(n.i))
	}
	walker := func(h *harness) string { return subscriberURL(h.walker().ID) }
	routeFixtures["GET /admin/subscribers/:id"] = func(h *harness) (string, url.Values) { return walker(h), nil }
	routeFixtures["POST /admin/subscribers/:id"] = func(h *harness) (string, url.Values) {
		return walker(h), url.Values{"name": {"Walker " + next()}, "email": {"walker@example.net"}, "phone": {"+254712345678"},
			"status": {"active"}, "plan": {"Home 10M"}, "plan_when": {"next"}, "auto_renew": {"on"}}
	}
	routeFixtures["POST /admin/subscribers/:id/reason"] = func(h *harness) (string, url.Values) {
		return walker(h) + "/reason", url.Values{"reason": {"route walk"}}
	}
	routeFixtures["POST /admin/subscribers/:id/topup"] = func(h *harness) (string, url.Values) {
		return walker(h) + "/topup", url.Values{"amount": {"1.00"}, "note": {"walk"}, "key": {auth.NewToken()}}
	}
	routeFixtures["GET /admin/subscribers/:id/statement"] = func(h *harness) (string, url.Values) {
		return walker(h) + "/statement?from=2020-01-01&to=2029-12-31", nil
	}
	routeFixtures["GET /admin/invoices/:number"] = func(h *harness) (string, url.Values) {
		w := h.walker()
		number, ok := walkerReceipts.Load(h)
		if !ok {
			number = h.mustCredit(w.Username, 100).Receipt.Number
			walkerReceipts.Store(h, number)
		}
		return "/admin/invoices/" + number.(string), nil
	}
	routeFixtures["POST /admin/subscribers"] = func(h *harness) (string, url.Values) {
		h.walker() // makes the plan
		return "/admin/subscribers", url.Values{"username": {"walk-" + next()}, "password": {"secret-1"}, "plan": {"Home 10M"}}
	}
}

// wantBody fails unless body holds every string of want.
func wantBody(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not show %q", what, w)
		}
	}
}

// rowsOf returns the usernames of a directory page, in order.
var rowRE = regexp.MustCompile(`<tr class="subscriber" data-username="([^"]+)"`)

func rowsOf(body string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestAdminSubscriberList: the directory searches by username, name, email, phone and
// MAC, filters by account status, subscription state and plan, pages, keeps the filters
// in the page links, refuses a bad filter by name, hides a restricted subscriber's
// personal data, and audits every listing.
func TestAdminSubscriberList(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	alice := h.mustCustomer("alice", "Alice Wanjiru", "alice@example.com", "+254712345678")
	h.mustCustomer("bob", "Bob Otieno", "bob@example.org", "")
	carol := h.mustCustomer("carol", "Carol Njeri", "carol@example.com", "+254733000111")
	mac := "AA:BB:CC:00:11:22"
	if _, err := h.p.deps.Subscribers.Service.UpdateSubscriber(context.Background(), "bob", billing.SubscriberUpdate{MAC: &mac}); err != nil {
		t.Fatal(err)
	}
	h.mustCredit("alice", 2000) // pays the first month: active, paid
	suspended := radius.StatusSuspended
	if _, err := h.p.deps.Subscribers.Service.UpdateSubscriber(context.Background(), "carol", billing.SubscriberUpdate{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	// An isolated subscriber, as the billing pass leaves one.
	if _, err := h.pool.Exec(context.Background(), `UPDATE subscriptions SET state = 'isolated' WHERE subscriber_id = (SELECT id FROM subscribers WHERE username = 'bob')`); err != nil {
		t.Fatal(err)
	}
	var dayPass int64
	if err := h.pool.QueryRow(context.Background(), `SELECT id FROM plans WHERE name = 'Day pass'`).Scan(&dayPass); err != nil {
		t.Fatal(err)
	}
	h.walker() // on "Home 10M", without a subscription

	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"everyone", "", []string{"alice", "bob", "carol", "walker"}},
		{"username", "?q=BO", []string{"bob"}},
		{"name", "?q=otieno", []string{"bob"}},
		{"email", "?q=example.com", []string{"alice", "carol"}},
		{"phone typed locally", "?q=0733+000", []string{"carol"}},
		{"MAC in another spelling", "?q=aa-bb-cc-00", []string{"bob"}},
		{"account status", "?status=suspended", []string{"carol"}},
		{"subscription state", "?state=isolated", []string{"bob"}},
		{"no subscription", "?state=none", []string{"walker"}},
		{"plan", "?plan=" + itoa64(alice.PlanID), []string{"alice", "bob", "carol"}},
		{"another plan", "?plan=" + itoa64(dayPass), nil},
		{"filters together", "?q=example.com&status=active", []string{"alice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := admin.get("/admin/subscribers" + tc.query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("= %d: %.300s", resp.StatusCode, body)
			}
			if got := rowsOf(body); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("rows %v; want %v", got, tc.want)
			}
		})
	}
	_, body := admin.get("/admin/subscribers?q=alice%40")
	wantBody(t, "alice's row", body, "Alice Wanjiru", "alice@example.com", "254712345678", "Fibre 20", "0.00 USD", `href="/admin/subscribers/`+itoa64(alice.ID)+`"`)
	if a := h.lastAudit(); a.Action != "subscriber.list" || !strings.Contains(a.Detail, `"search": true`) || strings.Contains(a.Detail, "alice") ||
		!strings.Contains(a.Detail, `"shown": [`+itoa64(alice.ID)+`]`) {
		t.Errorf("audit %+v: the listing with whose data it showed, not what was searched for", a)
	}

	// A bad filter is named, and the page still lists.
	resp, body := admin.get("/admin/subscribers?state=late")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "State: &#34;late&#34; is not") && !strings.Contains(body, "state: &#34;late&#34; is not") {
		t.Errorf("bad state = %d: %.500s", resp.StatusCode, body)
	}

	// A restricted subscriber is listed without name, email, phone or MAC.
	h.restrict(carol.ID)
	_, body = admin.get("/admin/subscribers?q=carol")
	if rowsOf(body)[0] != "carol" || strings.Contains(body, "Carol Njeri") || strings.Contains(body, "carol@example.com") || !strings.Contains(body, "restricted") {
		t.Errorf("restricted row shows personal data: %.2000s", body)
	}
	if a := h.lastAudit(); !strings.Contains(a.Detail, `"shown": []`) {
		t.Errorf("audit %+v: a restricted row's data was not shown", a)
	}

	// Paging: 50 more subscribers make two pages of 50 with the filters kept.
	for i := range 50 {
		h.mustCustomer("zz"+itoa64(int64(100+i)), "", "", "")
	}
	_, body = admin.get("/admin/subscribers?state=active")
	if got := rowsOf(body); len(got) != 50 || !strings.Contains(body, "52 subscribers") || !strings.Contains(body, "page 1 of 2") {
		t.Fatalf("first page: %d rows: %.300s", len(got), body)
	}
	if !strings.Contains(body, `href="/admin/subscribers?page=2&amp;state=active"`) {
		t.Errorf("no next link keeping the filter")
	}
	_, body = admin.get("/admin/subscribers?state=active&page=2")
	if got := rowsOf(body); len(got) != 2 || got[1] != "zz149" || !strings.Contains(body, `rel="prev"`) || strings.Contains(body, `rel="next"`) {
		t.Errorf("second page %v", got)
	}
}

// mustAuthLog writes one auth log row of username.
func (h *harness) mustAuthLog(username, reason string, at time.Time) {
	h.t.Helper()
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO auth_log (at, nas_id, username, method, reason)
VALUES ($1, (SELECT id FROM nas WHERE name = 'core-1'), $2, 'pap', $3)`, at, username, reason); err != nil {
		h.t.Fatal(err)
	}
}

// TestAdminSubscriberPage: one subscriber's page shows the profile, the plan and
// subscription with its next renewal, the wallet with its entries, invoices and
// receipts linked to their pages, online and recent sessions with people's units, and
// the auth log; every view is audited as subscriber.view of subscriber:<id>, and the
// RADIUS password is never on it.
func TestAdminSubscriberPage(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	alice := h.mustCustomer("alice", "Alice Wanjiru", "alice@example.com", "+254712345678")
	res := h.mustCredit("alice", 5000) // renews the first month at once: 30.00 left
	if len(res.Settled) != 1 {
		t.Fatalf("credit settled %d periods", len(res.Settled))
	}
	now := h.clock.Now()
	h.mustSession("alice", "s-old", now.Add(-26*time.Hour), now.Add(-24*time.Hour), 3<<20, 1<<30)
	h.mustSession("alice", "s-live", now.Add(-90*time.Minute), time.Time{}, 5<<20, 3<<29)
	h.mustAuthLog("alice", "bad_password", now.Add(-2*time.Hour))
	h.mustAuthLog("alice", "ok", now.Add(-90*time.Minute))
	invoice := res.Settled[0].Invoice

	before := len(h.audit())
	resp, body := admin.get(subscriberURL(alice.ID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d: %.500s", resp.StatusCode, body)
	}
	wantBody(t, "the page", body,
		"alice", "Alice Wanjiru", "alice@example.com", "254712345678", // profile
		"Fibre 20", "subscription active", "20.00 USD", // plan, state, renewal price
		`id="balance">30.00 USD`, "Top-up: cash", "Renewal: Fibre 20", // wallet
		`href="/admin/invoices/`+invoice+`"`, `href="/admin/invoices/`+res.Receipt.Number+`"`, // documents
		"1 hour 30 minutes", "1.5 GiB", "5 MiB", "1 GiB", "2 hours", "100.64.0.7", // sessions
		"rejected: bad password", "accepted", // auth log
		`name="key" value="`, `action="/admin/subscribers/`+itoa64(alice.ID)+`/topup#wallet"`,
	)
	if strings.Contains(body, "pppoe-secret-1") || strings.Contains(body, "720h0m0s") || strings.Contains(body, "1073741824") {
		t.Error("the page shows the password, a Go duration or a raw byte count")
	}
	rows := h.auditSince(before)
	if len(rows) != 1 || rows[0].Action != "subscriber.view" || rows[0].Target != "subscriber:"+itoa64(alice.ID) || rows[0].Actor != h.admin.Email {
		t.Errorf("audit %+v; want one subscriber.view", rows)
	}
	if resp, _ := admin.get("/admin/subscribers/999999"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown subscriber = %d", resp.StatusCode)
	}
	if resp, _ := admin.get("/admin/subscribers/alice"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a username in place of the id = %d", resp.StatusCode)
	}
}

// edit posts the edit form of subscriber id with f over what the page holds.
func (c *client) edit(id int64, f url.Values) (*http.Response, string) {
	c.h.t.Helper()
	form := url.Values{"name": {"Alice Wanjiru"}, "email": {"alice@example.com"}, "phone": {"+254712345678"},
		"status": {"active"}, "plan": {"Fibre 20"}, "plan_when": {"next"}, "auto_renew": {"on"}}
	for k, v := range f {
		form[k] = v
	}
	return c.postForm(subscriberURL(id), form)
}

// postForm submits form to path with the session's CSRF token, without loading a page
// first (which would write its own audit entry).
func (c *client) postForm(path string, form url.Values) (*http.Response, string) {
	c.h.t.Helper()
	form.Set("csrf", c.token())
	return c.do("POST", path, form, nil)
}

// TestAdminSubscriberEdit: the edit form names every bad field at once (and the
// domain's refusals by their field), keeps what was typed, and saves: profile, static
// IP, MAC, auto-renew, a plan change from the next period or now, a password that is
// never shown (or generated and shown once), and a suspension that disconnects.
func TestAdminSubscriberEdit(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	alice := h.mustCustomer("alice", "Alice Wanjiru", "alice@example.com", "+254712345678")
	h.mustCustomer("bob", "Bob", "", "")
	mac := "AA:BB:CC:00:11:22"
	if _, err := h.p.deps.Subscribers.Service.UpdateSubscriber(context.Background(), "bob", billing.SubscriberUpdate{MAC: &mac}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stored := func() *billing.Subscriber {
		t.Helper()
		s, err := h.p.deps.Subscribers.Service.FindSubscriberByID(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// Every bad field at once, each next to its input, and the typed values kept.
	before := len(h.audit())
	resp, body := admin.edit(alice.ID, url.Values{"email": {"not-an-address"}, "phone": {"0712"}, "static_ip": {"10.0.0.300"},
		"mac": {"zz"}, "password": {"secret\x00"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("= %d: %.500s", resp.StatusCode, body)
	}
	wantBody(t, "the refused form", body, "Check these fields:", "Email:", "Phone:", "MAC:", "Static IP:", "RADIUS password:",
		`id="email-error"`, `id="phone-error"`, `id="static_ip-error"`, `id="mac-error"`, `id="password-error"`,
		`value="not-an-address"`, `value="10.0.0.300"`, "is not an IPv4 or IPv6 address")
	if strings.Contains(body, "secret\x00") {
		t.Error("the refused form gives the typed password back")
	}
	if s := stored(); s.Email != "alice@example.com" || s.StaticIP.IsValid() {
		t.Errorf("a refused form changed %+v", s)
	}
	if rows := h.auditSince(before); len(rows) != 1 || rows[0].Action != "subscriber.view" {
		t.Errorf("audit %+v: the refused form shows the data again, as a view", rows)
	}

	// The domain's refusals, by their field: a MAC taken, MAC login on a PPPoE plan.
	_, body = admin.edit(alice.ID, url.Values{"mac": {"aa-bb-cc-00-11-22"}})
	wantBody(t, "a taken MAC", body, `id="mac-error"`, "is bound to another subscriber")
	_, body = admin.edit(alice.ID, url.Values{"mac": {"aa-bb-cc-00-11-99"}, "mac_login": {"on"}})
	wantBody(t, "MAC login on PPPoE", body, `id="mac_login-error"`, "MAC login is for hotspot plans only")
	_, body = admin.edit(alice.ID, url.Values{"plan": {"Gone"}})
	wantBody(t, "an unknown plan", body, `id="plan-error"`, "no plan named")

	// Saved: the page comes back with a notice.
	resp, body = admin.edit(alice.ID, url.Values{"name": {"Alice W. Kamau"}, "email": {"ALICE@Example.org"}, "phone": {"+254 700 000 001"},
		"static_ip": {"10.0.0.9"}, "mac": {"aa:bb:cc:00:11:99"}, "auto_renew": nil, "password": {"new-pppoe-pw"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != subscriberURL(alice.ID)+"?done=saved#profile" {
		t.Fatalf("save = %d %q: %.500s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	s := stored()
	if s.Name != "Alice W. Kamau" || s.Email != "alice@example.org" || s.Phone != "+254700000001" || s.StaticIP.String() != "10.0.0.9" ||
		s.MAC != "AA:BB:CC:00:11:99" || s.AutoRenew {
		t.Errorf("stored %+v", s)
	}
	a := h.lastAudit()
	if a.Action != "subscriber.update" || a.Target != "subscriber:"+itoa64(alice.ID) || !strings.Contains(a.Detail, `"password": true`) || strings.Contains(a.Detail, "new-pppoe-pw") {
		t.Errorf("audit %+v", a)
	}
	var sealed []byte
	if err := h.pool.QueryRow(ctx, `SELECT password FROM subscribers WHERE id = $1`, alice.ID).Scan(&sealed); err != nil || strings.Contains(string(sealed), "new-pppoe-pw") {
		t.Errorf("the password is stored in clear (%v)", err)
	}
	_, body = admin.get(resp.Header.Get("Location"))
	wantBody(t, "the saved page", body, "Changes saved.", `value="10.0.0.9"`, "Alice W. Kamau")
	if strings.Contains(body, "new-pppoe-pw") {
		t.Error("the page shows the RADIUS password")
	}

	// A plan change from the next period is scheduled; one now switches.
	admin.edit(alice.ID, url.Values{"plan": {"Fibre 50"}, "plan_when": {"next"}})
	if st, _ := h.p.deps.Subscribers.Money.Subscription(ctx, "alice"); st.PlanName != "Fibre 20" || st.NextPlanName != "Fibre 50" {
		t.Errorf("next period: %+v", st)
	}
	_, body = admin.get(subscriberURL(alice.ID))
	wantBody(t, "the scheduled plan", body, `id="next-plan">Fibre 50`, `<option value="Fibre 50" selected>`)
	// Saving the form as shown keeps the schedule.
	admin.edit(alice.ID, url.Values{"plan": {"Fibre 50"}, "name": {"Alice"}})
	if st, _ := h.p.deps.Subscribers.Money.Subscription(ctx, "alice"); st.NextPlanName != "Fibre 50" {
		t.Errorf("saving the form as shown dropped the scheduled plan: %+v", st)
	}
	admin.edit(alice.ID, url.Values{"plan": {"Fibre 20"}, "name": {"Alice"}}) // back: drops the schedule
	if st, _ := h.p.deps.Subscribers.Money.Subscription(ctx, "alice"); st.PlanName != "Fibre 20" || st.NextPlanName != "" {
		t.Errorf("back to the current plan: %+v", st)
	}
	admin.edit(alice.ID, url.Values{"plan": {"Fibre 50"}, "plan_when": {"next"}, "name": {"Alice"}})
	admin.edit(alice.ID, url.Values{"plan": {"Fibre 50"}, "plan_when": {"now"}, "name": {"Alice"}}) // the scheduled one, now
	if st, _ := h.p.deps.Subscribers.Money.Subscription(ctx, "alice"); st.PlanName != "Fibre 50" || st.NextPlanName != "" {
		t.Errorf("now: %+v", st)
	}

	// A generated password is shown once, on the answer to the form only.
	resp, body = admin.edit(alice.ID, url.Values{"plan": {"Fibre 50"}, "generate": {"on"}})
	m := regexp.MustCompile(`<code class="secret">([^<]+)</code>`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || len(m[1]) != 12 {
		t.Fatalf("generate = %d: %.500s", resp.StatusCode, body)
	}
	if _, again := admin.get(subscriberURL(alice.ID)); strings.Contains(again, m[1]) {
		t.Error("the generated password shows again")
	}

	// Suspending cuts the open sessions.
	h.mustSession("alice", "s-live", h.clock.Now().Add(-time.Hour), time.Time{}, 1, 1)
	sent := h.disconnects.count()
	resp, _ = admin.edit(alice.ID, url.Values{"plan": {"Fibre 50"}, "status": {"suspended"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "cut=1") || h.disconnects.count() != sent+1 {
		t.Errorf("suspend = %d %q, %d disconnects", resp.StatusCode, resp.Header.Get("Location"), h.disconnects.count()-sent)
	}
	if s := stored(); s.Status != radius.StatusSuspended {
		t.Errorf("status %s", s.Status)
	}
	_, body = admin.get(resp.Header.Get("Location"))
	wantBody(t, "the notice", body, "1 open session disconnected.")
}

// TestAdminSubscriberAdd: the add form names its bad fields and adds a subscriber,
// with a password typed or generated and shown once.
func TestAdminSubscriberAdd(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	h.mustCustomer("alice", "", "", "")
	resp, body := admin.get("/admin/subscribers/new")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d", resp.StatusCode)
	}
	wantBody(t, "the add form", body, `<option value="Fibre 20">Fibre 20 · 20.00 USD/month</option>`, `<option value="Day pass">Day pass · hotspot</option>`, `name="auto_renew" checked`)

	resp, body = admin.post("/admin/subscribers/new", "/admin/subscribers", url.Values{"username": {"has space"}, "plan": {""},
		"email": {"x"}, "static_ip": {"::"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("= %d", resp.StatusCode)
	}
	wantBody(t, "the refused add form", body, `id="username-error"`, `id="password-error"`, `id="plan-error"`, `id="email-error"`,
		`id="static_ip-error"`, "Username:", "Plan: required", `value="has space"`)
	resp, body = admin.post("/admin/subscribers/new", "/admin/subscribers", url.Values{"username": {"alice"}, "password": {"pw-1"}, "plan": {"Fibre 20"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="username-error"`) || !strings.Contains(body, "is taken") {
		t.Errorf("taken username = %d: %.300s", resp.StatusCode, body)
	}

	resp, _ = admin.post("/admin/subscribers/new", "/admin/subscribers", url.Values{"username": {"dan"}, "password": {"pw-1"}, "plan": {"Day pass"},
		"name": {"Dan"}, "mac": {"aa:bb:cc:dd:ee:01"}, "mac_login": {"on"}, "auto_renew": {"on"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=created#profile") {
		t.Fatalf("add = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a := h.lastAudit(); a.Action != "subscriber.create" {
		t.Errorf("audit %+v", a)
	}
	_, body = admin.get(resp.Header.Get("Location"))
	wantBody(t, "the new subscriber", body, "Subscriber added.", "Day pass", "AA:BB:CC:DD:EE:01", "none <span class=\"meta\">(a hotspot or free plan)")

	resp, body = admin.post("/admin/subscribers/new", "/admin/subscribers", url.Values{"username": {"eve"}, "generate": {"on"}, "plan": {"Fibre 20"}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `<code class="secret">`) {
		t.Errorf("add with a generated password = %d: %.300s", resp.StatusCode, body)
	}
}

// topup posts the top-up form of subscriber id with key.
func (c *client) topup(id int64, amount, note, key string) (*http.Response, string) {
	c.h.t.Helper()
	return c.postForm(subscriberURL(id)+"/topup", url.Values{"amount": {amount}, "note": {note}, "key": {key}})
}

// TestAdminTopupOnce: a manual top-up goes through the money engine (receipt, the due
// period renewed at once), the form's key makes a double submit credit once, bad
// amounts and a missing note are named, and each submit is audited.
func TestAdminTopupOnce(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	alice := h.mustCustomer("alice", "Alice", "", "")
	_, page := admin.get(subscriberURL(alice.ID))
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)[1]

	before := len(h.audit())
	resp, _ := admin.topup(alice.ID, "25.00", "cash at the office", key)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "done=credited&receipt=RCT-") {
		t.Fatalf("top-up = %d %q", resp.StatusCode, loc)
	}
	resp, _ = admin.topup(alice.ID, "25.00", "cash at the office", key) // the double submit
	if again := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(again, "done=replayed") {
		t.Fatalf("second submit = %d %q", resp.StatusCode, again)
	}
	w, entries, err := h.p.deps.Subscribers.Money.WalletOf(context.Background(), "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	// One top-up of 25.00 and the first month's renewal of 20.00.
	if w.BalanceCents != 500 || len(entries) != 2 {
		t.Errorf("balance %d with %d entries; want 500 after one credit and one renewal", w.BalanceCents, len(entries))
	}
	rows := h.auditSince(before)
	if len(rows) != 2 || rows[0].Action != "wallet.credit" || !strings.Contains(rows[0].Detail, `"replayed": false`) || !strings.Contains(rows[1].Detail, `"replayed": true`) {
		t.Errorf("audit %+v", rows)
	}
	_, body := admin.get(loc)
	wantBody(t, "after the top-up", body, "Top-up credited: receipt RCT-", `id="balance">5.00 USD`, "subscription active")

	for _, tc := range []struct{ amount, note, field string }{
		{"", "cash", "amount"}, {"-5", "cash", "amount"}, {"1.234", "cash", "amount"}, {"0", "cash", "amount"}, {"5.00", "", "note"},
	} {
		resp, body := admin.topup(alice.ID, tc.amount, tc.note, auth.NewToken())
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+tc.field+`-error"`) {
			t.Errorf("amount %q note %q = %d; want the %s field named: %.300s", tc.amount, tc.note, resp.StatusCode, tc.field, body)
		}
	}
	// A key used for another amount is refused, naming the amount.
	resp, body = admin.topup(alice.ID, "30.00", "cash", key)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="amount-error"`) || strings.Contains(body, `value="`+key+`"`) {
		t.Errorf("a reused key = %d: %.300s", resp.StatusCode, body)
	}
	if w, _, _ := h.p.deps.Subscribers.Money.WalletOf(context.Background(), "alice", 10); w.BalanceCents != 500 {
		t.Errorf("balance %d after refused top-ups", w.BalanceCents)
	}
}

// TestAdminRestrictedReason: a subscriber who restricted processing shows nothing (page,
// invoice, statement) until the admin gives a reason; the reason is audited, opens the
// subscriber's pages for this session only and for 30 minutes, and every read under it
// is audited with it. A form submitted after the reason ran out is refused.
func TestAdminRestrictedReason(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	alice := h.mustCustomer("alice", "Alice Wanjiru", "alice@example.com", "+254712345678")
	receipt := h.mustCredit("alice", 5000).Receipt.Number
	h.restrict(alice.ID)
	page, invoice, statement := subscriberURL(alice.ID), "/admin/invoices/"+receipt, subscriberURL(alice.ID)+"/statement?from=2020-01-01&to=2029-12-31"

	before := len(h.audit())
	for _, u := range []string{page, invoice, statement} {
		resp, body := admin.get(u)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Reason needed") || !strings.Contains(body, `name="next" value="`+strings.ReplaceAll(u, "&", "&amp;")+`"`) {
			t.Errorf("GET %s = %d: %.400s", u, resp.StatusCode, body)
		}
		if strings.Contains(body, "Alice Wanjiru") || strings.Contains(body, "alice@example.com") || strings.Contains(body, "50.00") {
			t.Errorf("GET %s shows personal data before a reason", u)
		}
	}
	if rows := h.auditSince(before); len(rows) != 0 {
		t.Errorf("the reason form wrote %+v", rows)
	}

	// No reason: refused, naming the field.
	resp, body := admin.postForm(page+"/reason", url.Values{"reason": {"  "}, "next": {page}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Reason: subscriber &#34;alice&#34; restricted the processing of their data: give the reason for this read") {
		t.Errorf("empty reason = %d: %.400s", resp.StatusCode, body)
	}
	if strings.Contains(body, "--reason") || admin.cookies[grantCookie(alice.ID)] != nil {
		t.Error("the refusal speaks of a flag, or left a grant")
	}

	// A reason opens the invoice it was asked for, then the page and the statement.
	reason := "customer called about a payment (ticket 7)"
	resp, _ = admin.postForm(page+"/reason", url.Values{"reason": {reason}, "next": {invoice}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != invoice || admin.cookies[grantCookie(alice.ID)] == nil {
		t.Fatalf("reason = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a := h.lastAudit(); a.Action != "subscriber.reason" || a.Target != "subscriber:"+itoa64(alice.ID) || !strings.Contains(a.Detail, reason) {
		t.Errorf("audit %+v", a)
	}
	for _, u := range []string{invoice, page, statement} {
		resp, body := admin.get(u)
		if resp.StatusCode != http.StatusOK || strings.Contains(body, "Reason needed") || !strings.Contains(body, "Alice Wanjiru") {
			t.Errorf("GET %s with a reason = %d: %.300s", u, resp.StatusCode, body)
		}
		if a := h.lastAudit(); !strings.Contains(a.Detail, `"reason": "`+reason+`"`) || !strings.Contains(a.Detail, `"restricted": true`) || a.Target != "subscriber:"+itoa64(alice.ID) {
			t.Errorf("GET %s audited %+v", u, a)
		}
	}
	_, body = admin.get(page)
	wantBody(t, "the page under a reason", body, "read for: "+reason)

	// The grant is this session's: another admin with the cookie is asked again, and so
	// is one whose cookie says another reason.
	other := h.client().mustLogin(h.mustUser("other@example.com"))
	other.cookies[grantCookie(alice.ID)] = admin.cookies[grantCookie(alice.ID)]
	if _, body := other.get(page); !strings.Contains(body, "Reason needed") {
		t.Error("another session used the grant")
	}
	forged := *admin.cookies[grantCookie(alice.ID)]
	parts := strings.Split(forged.Value, ".")
	forged.Value = parts[0] + ".Zm9yZ2Vk." + parts[2]
	mallory := h.client().mustLogin(h.admin)
	mallory.cookies[grantCookie(alice.ID)] = &forged
	if _, body := mallory.get(page); !strings.Contains(body, "Reason needed") {
		t.Error("a grant with another reason was taken")
	}

	// 30 minutes later the reason is asked again, and a form posted then is refused.
	h.clock.mu.Lock()
	h.clock.t = h.clock.t.Add(31 * time.Minute)
	h.clock.mu.Unlock()
	if _, body := admin.get(page); !strings.Contains(body, "Reason needed") {
		t.Error("the grant outlived 30 minutes")
	}
	resp, body = admin.edit(alice.ID, url.Values{"name": {"Changed"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "has run out") {
		t.Errorf("edit after the grant = %d", resp.StatusCode)
	}
	if s, _ := h.p.deps.Subscribers.Service.FindSubscriberByID(context.Background(), alice.ID); s.Name != "Alice Wanjiru" {
		t.Errorf("the refused edit changed the name to %q", s.Name)
	}

	// The reason form only goes on to this subscriber's pages or a document.
	resp, _ = admin.postForm(page+"/reason", url.Values{"reason": {reason}, "next": {"https://evil.example/"}})
	if resp.Header.Get("Location") != page {
		t.Errorf("next went to %q", resp.Header.Get("Location"))
	}
	for _, n := range []string{"//evil.example", "/admin/subscribers/" + itoa64(alice.ID) + "0", "/admin/users"} {
		if got := safeNext(n, alice.ID); got != page {
			t.Errorf("safeNext(%q) = %q", n, got)
		}
	}
}

// TestAdminInvoicePage: the A4 invoice shows the operator, number, issue date, the
// customer's name and username as stored when it was issued, net, tax with its name and
// rate, and total in the currency; a receipt is headed Receipt; the statement shows the
// opening balance, the entries and the closing balance over the days asked for. Each
// view is audited against the subscriber.
func TestAdminInvoicePage(t *testing.T) {
	h := mustHarness(t, Config{OperatorName: "Mwangaza Net"})
	admin := h.client().mustLogin(h.admin)
	alice := h.mustCustomer("alice", "Alice Wanjiru", "alice@example.com", "")
	res := h.mustCredit("alice", 5000)
	inv := res.Settled[0].Invoice
	rename := "Alice Kamau"
	if _, err := h.p.deps.Subscribers.Service.UpdateSubscriber(context.Background(), "alice", billing.SubscriberUpdate{Name: &rename}); err != nil {
		t.Fatal(err)
	}
	issued := h.clock.Now().UTC().Format("2 Jan 2006")

	resp, body := admin.get("/admin/invoices/" + strings.ToLower(inv))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d: %.300s", resp.StatusCode, body)
	}
	// 20.00 with 16% VAT inside: 17.24 net and 2.76 tax.
	wantBody(t, "the invoice", body, "<h1>Invoice</h1>", `id="number">`+inv, `id="issued">`+issued, "Mwangaza Net",
		`id="customer-name">Alice Wanjiru`, `id="customer-username">alice`, `id="net">17.24 USD`, "VAT at 16%", `id="tax">2.76 USD`,
		`id="total">20.00 USD`, "Plan Fibre 20", `href="/static/document.css"`, `href="`+subscriberURL(alice.ID)+`"`)
	if strings.Contains(body, "Alice Kamau") {
		t.Error("the invoice shows today's name, not the one it was issued to")
	}
	// Printed, it is an A4 page (the browser test measures the sheet when Chromium is there).
	if css, err := staticFS.ReadFile("static/document.css"); err != nil || !strings.Contains(string(css), "@page { size: A4") {
		t.Errorf("document.css is not an A4 page: %v", err)
	}
	if a := h.lastAudit(); a.Action != "invoice.view" || a.Target != "subscriber:"+itoa64(alice.ID) || !strings.Contains(a.Detail, inv) {
		t.Errorf("audit %+v", a)
	}
	_, body = admin.get("/admin/invoices/" + res.Receipt.Number)
	// A receipt carries no tax (it is on the invoice of the period paid for) and says so.
	wantBody(t, "the receipt", body, "<h1>Receipt</h1>", `id="net">50.00 USD`, "VAT at 0%", `id="tax">0.00 USD`,
		`id="total">50.00 USD`, "Amount received", "Top-up: cash", "Received from", "Mwangaza Net", `id="customer-username">alice`)
	for _, n := range []string{"INV-2026-999999", "nonsense", "RCT-0000-000000"} {
		if resp, _ := admin.get("/admin/invoices/" + n); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /admin/invoices/%s = %d", n, resp.StatusCode)
		}
	}

	today := h.clock.Now().UTC().Format(time.DateOnly)
	resp, body = admin.get(subscriberURL(alice.ID) + "/statement?from=2020-01-01&to=" + today)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("statement = %d: %.300s", resp.StatusCode, body)
	}
	wantBody(t, "the statement", body, "Statement of account", `id="opening">0.00 USD`, "Top-up: cash", "Renewal: Fibre 20",
		`id="received">50.00 USD`, `id="spent">20.00 USD`, `id="closing">30.00 USD`, "1 Jan 2020 to", "Alice Kamau")
	if a := h.lastAudit(); a.Action != "subscriber.statement" || a.Target != "subscriber:"+itoa64(alice.ID) || !strings.Contains(a.Detail, `"entries": 2`) {
		t.Errorf("audit %+v", a)
	}
	// A later period opens with what the earlier one closed on.
	tomorrow := h.clock.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	_, body = admin.get(subscriberURL(alice.ID) + "/statement?from=" + tomorrow + "&to=" + tomorrow)
	wantBody(t, "a later statement", body, `id="opening">30.00 USD`, "No movements in this period.", `id="closing">30.00 USD`)
	for _, q := range []string{"?from=2026-13-01", "?from=2026-03-02&to=2026-03-01", "?to=yesterday"} {
		if resp, _ := admin.get(subscriberURL(alice.ID) + "/statement" + q); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("statement%s = %d", q, resp.StatusCode)
		}
	}
}
