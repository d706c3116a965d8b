package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
	hotspotpg "tollgate/hotspot/postgres"
	"tollgate/radius"
	"tollgate/radius/pg"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/seal"
)

// mustVouchers builds the voucher pages' dependencies on pool, as cmd does.
func mustVouchers(tb testing.TB, pool *pgxpool.Pool) *Vouchers {
	tb.Helper()
	bs := billingpg.NewStore(pool)
	hs := hotspotpg.NewStore(pool)
	rs := radiuspg.New(pool)
	sealer, err := seal.New(testKey)
	if err != nil {
		tb.Fatal(err)
	}
	svc := &hotspot.Service{Store: hs, Plans: bs, Sealer: sealer, Codes: sealer, Usage: rs}
	resellers := &billing.ResellerService{Store: bs, Wallets: bs}
	// A purchase's batch and debit share one transaction, as cmd wires it.
	purchaseTx := func(ctx context.Context, fn func(hotspot.Store, billing.WalletStore) error) error {
		return pg.WithTx(ctx, pool, func(tx pgx.Tx) error { return fn(hotspotpg.NewStore(tx), billingpg.NewStore(tx)) })
	}
	return &Vouchers{
		Hotspot:   svc,
		Purchases: &hotspot.Purchaser{Service: svc, Resellers: resellers, InTx: purchaseTx},
		Plans:     &billing.Service{Store: bs, Sealer: sealer},
		Resellers: resellers,
		NAS:       rs,
		AuthLog:   rs,
		Reports:   hs,
		Sealer:    sealer,
		Notify:    func(ctx context.Context, payload string) error { return pg.Notify(ctx, pool, payload) },
	}
}

// walkSeed is what the route walk of a harness needs: a voucher to revoke and a job.
type walkSeed struct {
	code string
	job  int64
}

var walkSeeds = struct {
	sync.Mutex
	m map[*harness]*walkSeed
	n int
}{m: map[*harness]*walkSeed{}}

// seed returns h's walk data, made once: the plan "walk" (1.00 to resellers), the
// reseller's wallet with 100.00, one voucher and a finished job.
func (h *harness) seed() *walkSeed {
	h.t.Helper()
	walkSeeds.Lock()
	defer walkSeeds.Unlock()
	if s := walkSeeds.m[h]; s != nil {
		return s
	}
	h.mustSetup()
	g, err := h.p.deps.Vouchers.Hotspot.Generate(context.Background(), hotspot.GenerateRequest{Plan: "walk", Count: 1})
	if err != nil {
		h.t.Fatal(err)
	}
	id, j := h.p.deps.Vouchers.jobs.add(1)
	j.finish(g.Batch.ID, "")
	s := &walkSeed{code: g.Vouchers[0].Code, job: id}
	walkSeeds.m[h] = s
	return s
}

// mustSetup adds the plan "walk" and credits the wallet of h.reseller ("Corner Shop") with
// 100.00.
func (h *harness) mustSetup() {
	h.t.Helper()
	ctx := context.Background()
	d := h.p.deps.Vouchers
	if _, err := d.Plans.CreatePlan(ctx, billing.Plan{Name: "walk", Kind: radius.KindHotspot, Validity: time.Hour, ResellerPriceCents: 100, ValidityFrom: billing.FromFirstLogin}); err != nil {
		h.t.Fatal(err)
	}
	if _, err := d.Resellers.Credit(ctx, h.reseller.ResellerName, 100_00, "seed", "seed-"+h.prefix, "test"); err != nil {
		h.t.Fatal(err)
	}
}

func nextWalk() string {
	walkSeeds.Lock()
	defer walkSeeds.Unlock()
	walkSeeds.n++
	return strconv.Itoa(walkSeeds.n)
}

func init() {
	job := func(suffix string) func(h *harness) (string, url.Values) {
		return func(h *harness) (string, url.Values) {
			return "/admin/jobs/" + strconv.FormatInt(h.seed().job, 10) + suffix, url.Values{}
		}
	}
	// Disabling and enabling act on a user of their own, so the walk's reseller stays
	// signed in.
	user := func(action string) func(h *harness) (string, url.Values) {
		return func(h *harness) (string, url.Values) {
			u := h.mustUser("walk-" + nextWalk() + "@example.com")
			return "/admin/users/" + itoa64(u.ID) + "/" + action, url.Values{}
		}
	}
	routeFixtures["POST /admin/users/:id/disable"] = user("disable")
	routeFixtures["POST /admin/users/:id/enable"] = user("enable")
	routeFixtures["GET /admin/jobs/:id"] = job("")
	routeFixtures["GET /admin/jobs/:id/progress"] = job("/progress")
	routeFixtures["POST /admin/nas"] = func(h *harness) (string, url.Values) {
		n := nextWalk()
		// The walk counter grows with every route of every test: spread it over two octets.
		i, _ := strconv.Atoi(n)
		addr := fmt.Sprintf("10.77.%d.%d", i/250%250, i%250+1)
		return "/admin/nas", url.Values{"name": {"walk-" + n}, "address": {addr}, "secret": {"walk-secret-" + n}, "require_ma": {"on"}}
	}
	routeFixtures["POST /admin/plans"] = func(h *harness) (string, url.Values) {
		return "/admin/plans", url.Values{"name": {"walk-" + nextWalk()}, "kind": {"hotspot"}, "price": {"2.00"}, "reseller_price": {"1.50"}, "validity": {"1d"}}
	}
	routeFixtures["POST /admin/vouchers"] = func(h *harness) (string, url.Values) {
		h.seed()
		return "/admin/vouchers", url.Values{"plan": {"walk"}, "count": {"1"}}
	}
	routeFixtures["POST /admin/vouchers/revoke"] = func(h *harness) (string, url.Values) {
		return "/admin/vouchers/revoke", url.Values{"code": {h.seed().code}}
	}
	routeFixtures["POST /admin/resellers"] = func(h *harness) (string, url.Values) {
		return "/admin/resellers", url.Values{"name": {"walk-" + nextWalk()}}
	}
	routeFixtures["POST /admin/resellers/credit"] = func(h *harness) (string, url.Values) {
		h.seed()
		return "/admin/resellers/credit", url.Values{"reseller": {h.reseller.ResellerName}, "amount": {"1.00"}, "note": {"walk"}, "key": {"walk-credit-" + nextWalk()}}
	}
	routeFixtures["POST /reseller/buy"] = func(h *harness) (string, url.Values) {
		h.seed()
		return "/reseller/buy", url.Values{"plan": {"walk"}, "count": {"1"}, "key": {"walk-buy-" + nextWalk()}}
	}
}

// balance returns the wallet balance of h.reseller in cents.
func (h *harness) balance() int64 {
	h.t.Helper()
	w, err := h.p.deps.Vouchers.Resellers.Balance(context.Background(), h.reseller.ResellerName)
	if err != nil {
		h.t.Fatal(err)
	}
	return w.BalanceCents
}

func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

var (
	keyRE = regexp.MustCompile(`name="key" value="([^"]+)"`)
	jobRE = regexp.MustCompile(`^/admin/jobs/(\d+)$`)
)

func TestAdminNASAndPlans(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.client().mustLogin(h.admin)
	resp, body := admin.post("/admin/nas", "/admin/nas", url.Values{"name": {"core"}, "address": {"192.0.2.1"}, "secret": {"s3cret-s3cret"}, "coa_port": {"3799"}, "require_ma": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add NAS = %d: %.300s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "nas.create" || a.Target != "nas:core" {
		t.Fatalf("audit %+v", a)
	}
	if _, body = admin.get("/admin/nas"); !strings.Contains(body, "core") || !strings.Contains(body, "192.0.2.1/32") {
		t.Fatalf("NAS list: %.500s", body)
	}
	resp, body = admin.post("/admin/nas", "/admin/nas", url.Values{"name": {"cafe"}, "address": {"192.0.2.2"}, "secret": {"s3cret-s3cret"}, "require_ma": {"on"}, "login_hosts": {"Hotspot.Example.NET, 10.5.50.1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add NAS with login hosts = %d: %.300s", resp.StatusCode, body)
	}
	if _, body = admin.get("/admin/nas"); !strings.Contains(body, `<td data-label="Login hosts">hotspot.example.net, 10.5.50.1</td>`) {
		t.Fatalf("NAS list lacks the login hosts: %.800s", body)
	}
	if h.count(`SELECT count(*) FROM nas WHERE name = 'core' AND secret <> 's3cret-s3cret'::bytea`) != 1 {
		t.Fatal("NAS not stored with a sealed secret")
	}
	// A bad address comes back as the form with its message.
	if resp, body = admin.post("/admin/nas", "/admin/nas", url.Values{"name": {"x"}, "address": {"not-an-ip"}, "secret": {"s3cret-s3cret"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "address") {
		t.Fatalf("bad NAS = %d: %.300s", resp.StatusCode, body)
	}
	// The NAS rules hold on this path too: ranges at most a /24 and always with
	// Message-Authenticator, secrets of 12 characters or more.
	for _, f := range []url.Values{
		{"name": {"wide"}, "address": {"198.51.100.0/23"}, "secret": {"s3cret-s3cret"}, "require_ma": {"on"}},
		{"name": {"lax"}, "address": {"198.51.100.0/24"}, "secret": {"s3cret-s3cret"}},
		{"name": {"weak"}, "address": {"198.51.100.9"}, "secret": {"s3cret-s3cr"}, "require_ma": {"on"}},
		{"name": {"host"}, "address": {"198.51.100.9"}, "secret": {"s3cret-s3cret"}, "require_ma": {"on"}, "login_hosts": {"http://10.5.50.1/login"}},
	} {
		field := map[string]string{"wide": "address: ", "lax": "require_message_authenticator: ", "weak": "secret: ", "host": "login_host: "}[f.Get("name")]
		if resp, body = admin.post("/admin/nas", "/admin/nas", f); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, field) {
			t.Fatalf("NAS %s = %d: %.300s", f.Get("name"), resp.StatusCode, body)
		}
	}

	resp, body = admin.post("/admin/plans", "/admin/plans", url.Values{"name": {"day"}, "kind": {"hotspot"}, "price": {"3.00"}, "reseller_price": {"2.25"},
		"validity": {"1d"}, "uptime_limit": {"2h"}, "data_limit": {"1G"}, "shared_users": {"1"}, "validity_from": {"sale"}, "lock_mac": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add plan = %d: %.300s", resp.StatusCode, body)
	}
	if h.count(`SELECT count(*) FROM plans WHERE name = 'day' AND reseller_price_cents = 225 AND lock_mac AND validity_from = 'sale'`) != 1 {
		t.Fatal("plan not stored with its hotspot fields")
	}
	if _, body = admin.get("/admin/plans"); !strings.Contains(body, "2.25") {
		t.Fatalf("plan list: %.500s", body)
	}
	if a := h.lastAudit(); a.Action != "plan.list" {
		t.Fatalf("audit %+v", a)
	}
}

// progress polls a job until it finishes.
func (c *client) progress(t *testing.T, path string) jobStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := c.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", path, resp.StatusCode, body)
		}
		var s jobStatus
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if s.Finished {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never finished: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAdminGenerateSearchRevoke(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSetup()
	admin := h.client().mustLogin(h.admin)
	resp, body := admin.post("/admin/vouchers", "/admin/vouchers", url.Values{"plan": {"walk"}, "count": {"1500"}, "length": {"8"}, "prefix": {"T-"}, "mode": {"code"}, "reseller": {h.reseller.ResellerName}})
	m := jobRE.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("generate = %d %q: %.300s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, body = admin.get(m[0]); resp.StatusCode != http.StatusOK || !strings.Contains(body, m[0]+"/progress") {
		t.Fatalf("progress page = %d: %.300s", resp.StatusCode, body)
	}
	s := admin.progress(t, m[0]+"/progress")
	if s.Error != "" || s.Done != 1500 || s.Total != 1500 || s.BatchID == 0 {
		t.Fatalf("job %+v", s)
	}
	if h.count(`SELECT count(*) FROM vouchers WHERE batch_id = $1 AND code_hint LIKE 'T-%' AND code IS NULL AND state = 'new'`, s.BatchID) != 1500 {
		t.Fatal("batch not stored")
	}
	if !containsAction(h.audit(), "voucher.generate") {
		t.Fatal("generation not audited")
	}
	// A bad request is refused before any job starts.
	if resp, _ = admin.post("/admin/vouchers", "/admin/vouchers", url.Values{"plan": {"walk"}, "count": {"0"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("count 0 = %d", resp.StatusCode)
	}

	var id int64
	var username string
	if err := h.pool.QueryRow(context.Background(), `SELECT id, username FROM vouchers WHERE batch_id = $1 LIMIT 1`, s.BatchID).Scan(&id, &username); err != nil {
		t.Fatal(err)
	}
	creds, err := h.p.deps.Vouchers.Hotspot.BatchCredentials(context.Background(), s.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	code := creds[id].Code
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO auth_log (at, username, mac, method, reason) VALUES (now(), $1, 'AA:BB:CC:DD:EE:FF', 'reject', 'wrong-password-seen')`, username); err != nil {
		t.Fatal(err)
	}
	resp, body = admin.get("/admin/vouchers?code=" + url.QueryEscape(code))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<dd id="state">new</dd>`) || !strings.Contains(body, "walk") || !strings.Contains(body, "wrong-password-seen") {
		t.Fatalf("search = %d: %.2000s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Action != "voucher.search" || a.Target != "voucher:"+itoa64(id) {
		t.Fatalf("audit %+v", a)
	}
	if resp, _ = admin.get("/admin/vouchers?code=NOPE-NOPE"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown code = %d", resp.StatusCode)
	}

	page := "/admin/vouchers?code=" + url.QueryEscape(code)
	resp, body = admin.post(page, "/admin/vouchers/revoke", url.Values{"code": {code}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d: %.300s", resp.StatusCode, body)
	}
	if _, body = admin.get(page); !strings.Contains(body, `<dd id="state">revoked</dd>`) || strings.Contains(body, "/admin/vouchers/revoke") {
		t.Fatalf("after revoke: %.2000s", body)
	}
	if !containsAction(h.audit(), "voucher.revoke") {
		t.Fatal("revoke not audited")
	}
}

func TestAdminResellersCreditOnce(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSetup()
	admin := h.client().mustLogin(h.admin)
	if resp, body := admin.post("/admin/resellers", "/admin/resellers", url.Values{"name": {"Kiosk"}, "email": {"kiosk@example.com"}, "credit_limit": {"5.00"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add reseller = %d: %.300s", resp.StatusCode, body)
	}
	_, body := admin.get("/admin/resellers")
	if !strings.Contains(body, "Kiosk") || !strings.Contains(body, "100.00") {
		t.Fatalf("reseller list: %.2000s", body)
	}
	key := keyRE.FindStringSubmatch(body)
	if key == nil {
		t.Fatal("no idempotency key in the credit form")
	}
	// The same form submitted twice (the first row is Corner Shop's).
	f := url.Values{"reseller": {h.reseller.ResellerName}, "amount": {"20.00"}, "note": {"cash"}, "key": {key[1]}, "csrf": {admin.token()}}
	for i := 0; i < 2; i++ {
		if resp, body := admin.do("POST", "/admin/resellers/credit", f, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("credit %d = %d: %.300s", i, resp.StatusCode, body)
		}
	}
	if b := h.balance(); b != 120_00 {
		t.Fatalf("balance %d after a double submit; want 12000", b)
	}
	if a := h.lastAudit(); a.Action != "reseller.credit" || !strings.Contains(a.Detail, `"replayed": true`) {
		t.Fatalf("audit %+v", a)
	}
}

// buy submits the reseller's buy form as rendered, with count.
func buy(t *testing.T, c *client, count string) (*http.Response, string, url.Values) {
	t.Helper()
	_, page := c.get("/reseller")
	key := keyRE.FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("no key in the buy form: %.2000s", page)
	}
	f := url.Values{"plan": {"walk"}, "count": {count}, "key": {key[1]}, "csrf": {c.token()}}
	resp, body := c.do("POST", "/reseller/buy", f, nil)
	return resp, body, f
}

func TestResellerBuys(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSetup()
	shop := h.client().mustLogin(h.reseller)

	resp, body, f := buy(t, shop, "7")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Bought batch") {
		t.Fatalf("buy = %d: %.2000s", resp.StatusCode, body)
	}
	if b := h.balance(); b != 100_00-7*100 {
		t.Fatalf("balance %d", b)
	}
	if n := h.count(`SELECT count(*) FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id WHERE b.reseller = $1 AND v.state = 'sold' AND v.sold_at IS NOT NULL`, h.reseller.ResellerName); n != 7 {
		t.Fatalf("%d sold vouchers", n)
	}
	if !strings.Contains(body, `<strong id="balance">93.00 USD</strong>`) || !strings.Contains(body, "<td>7</td><td>0</td><td>7.00 USD</td>") {
		t.Fatalf("page after buying: %.3000s", body)
	}

	t.Run("double submit buys once", func(t *testing.T) {
		resp, body := shop.do("POST", "/reseller/buy", f, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "already made") {
			t.Fatalf("second submit = %d: %.2000s", resp.StatusCode, body)
		}
		if h.balance() != 93_00 || h.count(`SELECT count(*) FROM voucher_batches`) != 1 {
			t.Fatal("the second submit bought again")
		}
	})
	t.Run("overspend creates nothing", func(t *testing.T) {
		resp, body, _ := buy(t, shop, "94")
		if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(body, "does not cover") {
			t.Fatalf("overspend = %d: %.2000s", resp.StatusCode, body)
		}
		if h.balance() != 93_00 || h.count(`SELECT count(*) FROM voucher_batches`) != 1 || h.count(`SELECT count(*) FROM vouchers`) != 7 {
			t.Fatal("an overspend wrote something")
		}
	})
	t.Run("bad count re-renders", func(t *testing.T) {
		if resp, _, _ := buy(t, shop, "x"); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("= %d", resp.StatusCode)
		}
	})
	t.Run("scoped to the reseller", func(t *testing.T) {
		// Another reseller's batch does not show on this page.
		ctx := context.Background()
		d := h.p.deps.Vouchers
		if _, err := d.Resellers.CreateReseller(ctx, billing.NewReseller{Name: "Other Shop"}); err != nil {
			t.Fatal(err)
		}
		g, err := d.Hotspot.Generate(ctx, hotspot.GenerateRequest{Plan: "walk", Count: 3, Reseller: "Other Shop"})
		if err != nil {
			t.Fatal(err)
		}
		_, body := shop.get("/reseller")
		if strings.Contains(body, "<td>"+strconv.FormatInt(g.Batch.ID, 10)+"</td>") || strings.Contains(body, "<td>3</td>") {
			t.Fatalf("the page shows another reseller's batch: %.3000s", body)
		}
		for _, path := range []string{"/admin/vouchers", "/admin/resellers", "/admin/jobs/1/progress", "/admin/nas"} {
			if resp, _ := shop.get(path); resp.StatusCode != http.StatusForbidden {
				t.Errorf("reseller GET %s = %d", path, resp.StatusCode)
			}
		}
	})
}

// TestResellerPurchaseAudited: every purchase writes one audit row with its batch, plan,
// count and amount, never a code; a repeated submit is audited as replayed.
func TestResellerPurchaseAudited(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSetup()
	shop := h.client().mustLogin(h.reseller)
	resp, body, f := buy(t, shop, "3")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Bought batch") {
		t.Fatalf("buy = %d: %.1000s", resp.StatusCode, body)
	}
	var batch int64
	if err := h.pool.QueryRow(context.Background(), `SELECT id FROM voucher_batches`).Scan(&batch); err != nil {
		t.Fatal(err)
	}
	a := h.lastAudit()
	if a.Action != "reseller.purchase" || a.Actor != h.reseller.Email || a.Target != "batch:"+itoa64(batch) || a.IP != shop.ip {
		t.Fatalf("audit %+v", a)
	}
	var d struct {
		Reseller    string `json:"reseller"`
		Plan        string `json:"plan"`
		Count       int    `json:"count"`
		AmountCents int64  `json:"amount_cents"`
		Replayed    bool   `json:"replayed"`
	}
	if err := json.Unmarshal([]byte(a.Detail), &d); err != nil || d.Reseller != "Corner Shop" || d.Plan != "walk" || d.Count != 3 || d.AmountCents != 300 || d.Replayed {
		t.Fatalf("detail %s: %+v, %v", a.Detail, d, err)
	}
	creds, err := h.p.deps.Vouchers.Hotspot.BatchCredentials(context.Background(), batch)
	if err != nil || len(creds) != 3 {
		t.Fatalf("credentials of the batch: %d, %v", len(creds), err)
	}
	all := h.audit()
	for _, cr := range creds {
		code := cr.Code
		for _, r := range all {
			if strings.Contains(r.Detail+r.Target, code) {
				t.Fatalf("the audit log holds the code %s: %+v", code, r)
			}
		}
	}
	// The same form again: nothing bought, audited as replayed.
	if resp, _ := shop.do("POST", "/reseller/buy", f, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("replay = %d", resp.StatusCode)
	}
	if a := h.lastAudit(); a.Action != "reseller.purchase" || a.Target != "batch:"+itoa64(batch) || !strings.Contains(a.Detail, `"replayed": true`) {
		t.Fatalf("replay audit %+v", a)
	}
	// A purchase that failed is not one.
	before := len(h.audit())
	if resp, _, _ := buy(t, shop, "1000"); resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("overspend = %d", resp.StatusCode)
	}
	if n := len(h.audit()); n != before {
		t.Fatalf("a refused purchase wrote %d audit rows", n-before)
	}
}

// TestProgressPollNotAudited: the generation's start and its page are audited, the
// progress polls of static/progress.js are not.
func TestProgressPollNotAudited(t *testing.T) {
	h := mustHarness(t, Config{})
	h.mustSetup()
	admin := h.client().mustLogin(h.admin)
	resp, _ := admin.post("/admin/vouchers", "/admin/vouchers", url.Values{"plan": {"walk"}, "count": {"20"}})
	m := jobRE.FindStringSubmatch(resp.Header.Get("Location"))
	if m == nil {
		t.Fatalf("generate = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	admin.get(m[0])
	before := len(h.audit())
	for range 5 {
		if resp, _ := admin.get(m[0] + "/progress"); resp.StatusCode != http.StatusOK {
			t.Fatalf("poll = %d", resp.StatusCode)
		}
	}
	admin.progress(t, m[0]+"/progress")
	rows := h.audit()
	if len(rows) != before {
		t.Fatalf("the polls wrote %d audit rows: %+v", len(rows)-before, rows[before:])
	}
	if !containsAction(rows, "voucher.generate") || !containsAction(rows, "voucher.job") || containsAction(rows, "voucher.job.progress") {
		t.Fatalf("audit log %+v", rows)
	}
}
