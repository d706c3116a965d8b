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
	if a := h.lastAudit(); a.Action != "subscriber.list" || !strings.Contains(a.Detail, `"search": true`) || strings.Contains(a.Detail, "alice") {
		t.Errorf("audit %+v: the listing, not what was searched for", a)
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
