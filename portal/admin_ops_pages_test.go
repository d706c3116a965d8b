package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/radiustest"
)

// opsWorld is a harness with what the operator's pages show: a NAS whose CoA port is a
// fake NAS, plans, subscribers (one in grace, one isolated), sessions online and
// closed, an hour of auth log, the day's ledger and a router's heartbeat.
type opsWorld struct {
	h     *harness
	admin *client
	fake  *radiustest.CoANAS
	core  *radius.NAS
	gold  int64
	now   time.Time
}

func mustOpsWorld(t *testing.T) *opsWorld { return mustOpsWorldWith(t, Config{}) }

// mustOpsWorldWith is mustOpsWorld with the portal's cfg.
func mustOpsWorldWith(t *testing.T, cfg Config) *opsWorld {
	t.Helper()
	h := mustHarness(t, cfg)
	w := &opsWorld{h: h, admin: h.client().mustLogin(h.admin), fake: radiustest.MustCoANAS(t, "coa-secret-core"), now: time.Now()}
	w.core = h.mustNAS("core", "127.0.0.1", w.fake.Port())
	ctx := context.Background()
	plans := h.p.deps.Ops.Plans.(*billing.Service)
	walled, err := plans.CreatePlan(ctx, billing.Plan{Name: "walled", Kind: radius.KindPPPoE, RateLimit: "256k/256k"})
	if err != nil {
		t.Fatal(err)
	}
	gold, err := plans.CreatePlan(ctx, billing.Plan{Name: "gold", Kind: radius.KindPPPoE, PriceCents: 2000, RateLimit: "10M/10M",
		Validity: 30 * 24 * time.Hour, DataLimit: 1 << 30, IsolationPlan: walled.Name, Grace: 3 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.gold = gold.ID
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		if _, err := plans.AddSubscriber(ctx, billing.NewSubscriber{Username: u, Password: "pw-" + u + "-long", Plan: "gold"}); err != nil {
			t.Fatal(err)
		}
	}
	h.exec(`UPDATE subscriptions SET state = 'grace', grace_until = now() + interval '1 day' FROM subscribers s WHERE s.id = subscriber_id AND s.username = 'carol'`)
	h.exec(`UPDATE subscriptions SET state = 'isolated' FROM subscribers s WHERE s.id = subscriber_id AND s.username = 'dave'`)
	sess := func(id, user, ip, mac string, start time.Time, stop *time.Time) {
		h.exec(`INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update, stopped_at, framed_ip, mac, nas_addr,
input_octets, output_octets, session_time) VALUES ($1, $2, $3, $4, $3, $5, $6::inet, $7, '127.0.0.1', 1048576, 3221225472, 60)`,
			w.core.ID, id, start, user, stop, ip, mac)
	}
	ended := w.now.Add(-2 * time.Hour)
	sess("a-old", "alice", "100.64.0.9", "AA:BB:CC:00:00:01", w.now.Add(-5*time.Hour), &ended)
	sess("a1", "alice", "100.64.0.1", "AA:BB:CC:00:00:01", w.now.Add(-90*time.Minute), nil)
	sess("b1", "bob", "100.64.0.2", "AA:BB:CC:00:00:02", w.now.Add(-30*time.Minute), nil)
	sess("d1", "dave", "100.64.0.4", "AA:BB:CC:00:00:04", w.now.Add(-10*time.Minute), nil)
	minute := w.now.Truncate(time.Minute)
	for i, r := range []string{"ok", "ok", "bad_password", "ok", "expired", "bad_password", "bad_password"} {
		h.exec(`INSERT INTO auth_log (at, nas_id, username, method, reason) VALUES ($1, $2, 'u', 'pap', $3)`,
			minute.Add(-time.Duration(i*7+20)*time.Second), w.core.ID, r)
	}
	ledger := func(user string, kind string, cents int64) {
		h.exec(`INSERT INTO ledger_entries (wallet_id, amount_cents, balance_after_cents, kind, note, idempotency_key, actor)
VALUES ((SELECT w.id FROM wallets w JOIN subscribers s ON s.id = w.subscriber_id WHERE s.username = $1), $2, 0, $3, 'test', gen_random_uuid()::text, 'test')`,
			user, cents, kind)
	}
	ledger("alice", "payment", 2500)
	ledger("alice", "renewal", -2000)
	ledger("bob", "renewal", -2000)
	h.exec(`INSERT INTO router_health (nas_id, polled_at, last_ok_at, version, board_name, uptime_seconds, cpu_load, free_memory, total_memory)
VALUES ($1, now() - interval '20 seconds', now() - interval '20 seconds', '7.18.2 (stable)', 'RB5009', 86400, 7, 805306368, 1073741824)`, w.core.ID)
	return w
}

// exec runs sql on the harness's database.
func (h *harness) exec(sql string, args ...any) {
	h.t.Helper()
	if _, err := h.pool.Exec(context.Background(), sql, args...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
}

// sqlInt reads one number.
func (h *harness) sqlInt(sql string, args ...any) int64 {
	h.t.Helper()
	var n int64
	if err := h.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// byID returns the text of the element with id in page (tags stripped): a list, a table
// or a form whole, any other element up to its first closing tag.
func byID(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<(ul|table|form)[^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</(ul|table|form)>`).FindStringSubmatch(page)
	if m != nil {
		return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[2], " ")), " ")
	}
	m = regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no element #%s in %.3000s", id, page)
	}
	return strings.TrimSpace(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""))
}

// TestDashboardNumbers: the dashboard's numbers are the database's, counted here with
// queries of their own, and its JSON carries the same regions with the charts.
func TestDashboardNumbers(t *testing.T) {
	w := mustOpsWorld(t)
	h := w.h
	resp, page := w.admin.get("/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin = %d", resp.StatusCode)
	}
	minute := `date_trunc('minute', now())`
	for id, sql := range map[string]string{
		"online-total":      `SELECT count(*) FROM sessions WHERE stopped_at IS NULL`,
		"auth-accepts-hour": `SELECT count(*) FROM auth_log WHERE reason = 'ok' AND at >= ` + minute + ` - interval '1 hour' AND at < ` + minute,
		"auth-rejects-hour": `SELECT count(*) FROM auth_log WHERE reason <> 'ok' AND at >= ` + minute + ` - interval '1 hour' AND at < ` + minute,
		"subs-grace":        `SELECT count(*) FROM subscriptions WHERE state = 'grace'`,
		"subs-isolated":     `SELECT count(*) FROM subscriptions WHERE state = 'isolated'`,
		"routers-up":        `SELECT count(*) FROM router_health WHERE NOT down`,
	} {
		if got, want := byID(t, page, id), strconv.FormatInt(h.sqlInt(sql), 10); got != want {
			t.Errorf("#%s = %q, the database says %s", id, got, want)
		}
	}
	for id, sql := range map[string]string{
		"revenue-today-renewals": `SELECT -sum(amount_cents) FROM ledger_entries WHERE kind = 'renewal'`,
		"revenue-today-payments": `SELECT sum(amount_cents) FROM ledger_entries WHERE kind IN ('payment', 'topup')`,
	} {
		want := billing.FormatMoney(h.sqlInt(sql), billing.DefaultCurrency)
		if got := byID(t, page, id); got != want {
			t.Errorf("#%s = %q, the ledger says %s", id, got, want)
		}
	}
	if got := byID(t, page, "online-by-nas"); got != "core 3" {
		t.Errorf("by NAS %q", got)
	}
	if got := byID(t, page, "online-by-plan"); got != "gold 3" {
		t.Errorf("by plan %q", got)
	}
	if got := byID(t, page, "reject-reasons"); got != "bad password 3 expired 1" {
		t.Errorf("reasons %q", got)
	}
	for _, chart := range []string{`id="chart-sessions"`, `id="chart-auth"`, `id="chart-revenue"`} {
		if !strings.Contains(page, chart) {
			t.Errorf("no %s", chart)
		}
	}
	if !regexp.MustCompile(`id="chart-sessions"[^>]*data-bars="24"`).MatchString(page) || !strings.Contains(page, `class="bar s1"`) {
		t.Error("the sessions chart has no 24 bars")
	}
	if !strings.Contains(page, `<script src="/static/dashboard.js" defer></script>`) || strings.Contains(page, "<script>") {
		t.Error("the page's script is not the static file alone")
	}

	// The JSON endpoint: the same regions, and no audit entry per poll.
	before := len(h.audit())
	resp, body := w.admin.get("/admin/dashboard.json")
	if resp.StatusCode != http.StatusOK || len(h.audit()) != before {
		t.Fatalf("dashboard.json = %d, audit %d → %d", resp.StatusCode, before, len(h.audit()))
	}
	var live struct {
		At      time.Time         `json:"at"`
		Regions map[string]string `json:"regions"`
	}
	if err := json.Unmarshal([]byte(body), &live); err != nil {
		t.Fatal(err)
	}
	for _, r := range dashboardRegions {
		if live.Regions[r] == "" {
			t.Errorf("region %s empty", r)
		}
	}
	if !strings.Contains(live.Regions["charts"], `id="chart-auth"`) || !strings.Contains(live.Regions["online"], `id="online-total">3<`) {
		t.Errorf("regions %v", live.Regions)
	}
}

// TestSessionsPage lists the sessions online with their plan's rate, searches and
// filters them, pages the history, and disconnects one: the fake NAS receives the
// Disconnect-Request and the page shows its ACK, then a NAK with its Error-Cause.
func TestSessionsPage(t *testing.T) {
	w := mustOpsWorld(t)
	_, page := w.admin.get("/admin/sessions")
	for _, want := range []string{`data-session="core/a1"`, `data-session="core/b1"`, "10M/10M", "256k/256k", "isolated", "1 MiB", "3 GiB", "1 hour 30 minutes"} {
		if !strings.Contains(page, want) {
			t.Errorf("online list lacks %q", want)
		}
	}
	if strings.Contains(page, "a-old") {
		t.Error("a closed session is online")
	}
	for q, want := range map[string][]string{
		"?q=alice":              {"core/a1"},
		"?q=AA-BB-CC-00-00-02":  {"core/b1"},
		"?q=100.64.0.4":         {"core/d1"},
		"?q=b*":                 {"core/b1"},
		"?nas=core&q=nobody":    nil,
		"?view=history&q=alice": {"core/a1", "core/a-old"},
	} {
		_, page := w.admin.get("/admin/sessions" + q)
		got := regexp.MustCompile(`data-session="([^"]+)"`).FindAllStringSubmatch(page, -1)
		var keys []string
		for _, m := range got {
			keys = append(keys, m[1])
		}
		if strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", q, keys, want)
		}
	}
	// History pages of 50, newest first.
	for i := range 60 {
		w.h.exec(`INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update, stopped_at)
VALUES ($1, $2, now() - make_interval(days => 2, mins => $3), 'eve', now(), now())`, w.core.ID, "e"+strconv.Itoa(i), i)
	}
	_, page = w.admin.get("/admin/sessions?view=history")
	next := regexp.MustCompile(`href="([^"]+)" id="older"`).FindStringSubmatch(page)
	if next == nil || strings.Count(page, "data-session=") != sessionsPageSize {
		t.Fatalf("first history page: %d rows, next %v", strings.Count(page, "data-session="), next)
	}
	_, page = w.admin.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if n := strings.Count(page, "data-session="); n != 64-sessionsPageSize || !strings.Contains(page, "core/e59") {
		t.Fatalf("second history page: %d rows", n)
	}

	resp, page := w.admin.post("/admin/sessions", "/admin/sessions/disconnect", url.Values{"nas": {"core"}, "id": {"b1"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disconnect = %d", resp.StatusCode)
	}
	req := <-w.fake.Requests()
	if req.Code != 40 || req.Username != "bob" || req.SessionID != "b1" || req.FramedIP.String() != "100.64.0.2" {
		t.Fatalf("the NAS got %+v", req)
	}
	if got := byID(t, page, "disconnect-result"); !strings.Contains(got, "ACK") {
		t.Fatalf("result %q", got)
	}
	if a := w.h.lastAudit(); a.Action != "session.disconnect" || !strings.Contains(a.Detail, `"result": "ack"`) {
		t.Fatalf("audit %+v", a)
	}
	if w.h.sqlInt(`SELECT count(*) FROM coa_log WHERE acct_session_id = 'b1' AND result = 'ack'`) != 1 {
		t.Fatal("the ACK is not in the CoA log")
	}
	w.fake.SetReply(func(radiustest.CoARequest) (byte, uint32) { return 42, 503 })
	_, page = w.admin.post("/admin/sessions", "/admin/sessions/disconnect", url.Values{"nas": {"core"}, "id": {"a1"}})
	<-w.fake.Requests()
	if got := byID(t, page, "disconnect-result"); !strings.Contains(got, "NAK") || !strings.Contains(got, "503: Session Context Not Found") {
		t.Fatalf("result %q", got)
	}
}

// TestEditPlan edits every field of a plan, names the bad field of a refused form, and
// after a rate change offers a CoA to the plan's sessions online: the fake NAS receives
// one CoA-Request per session with the new rate, and the page lists the ACKs.
func TestEditPlan(t *testing.T) {
	w := mustOpsWorld(t)
	path := "/admin/plans/" + strconv.FormatInt(w.gold, 10)
	_, page := w.admin.get(path)
	for _, want := range []string{`name="rate_limit" placeholder="2M/2M" value="10M/10M"`, `value="30d"`, `value="1GiB"`, `value="3d"`, `<option selected>walled</option>`} {
		if !strings.Contains(page, want) {
			t.Errorf("edit form lacks %q", want)
		}
	}
	// A bad field comes back named and marked, the typed values kept.
	resp, page := w.admin.post(path, path, url.Values{"name": {"gold"}, "rate_limit": {"fast"}, "price": {"20.00"}, "period": {"30d"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "rate-limit: ") ||
		!strings.Contains(page, `name="rate_limit" placeholder="2M/2M" value="fast" aria-invalid="true"`) {
		t.Fatalf("bad rate = %d: %.300s", resp.StatusCode, byID(t, page, "plan-form"))
	}
	resp, page = w.admin.post(path, path, url.Values{"name": {"gold"}, "price": {"abc"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `name="price" inputmode="decimal" placeholder="12.50" value="abc" aria-invalid="true"`) {
		t.Fatal("a bad price is not marked")
	}
	form := url.Values{"name": {"gold 2"}, "price": {"25.00"}, "rate_limit": {"20M/20M"}, "validity": {"31d"}, "uptime_limit": {"100h"},
		"data_limit": {"2GiB"}, "shared_users": {"2"}, "interim": {"10m"}, "pool": {"pool2"}, "address_list": {"paying"},
		"period": {"month"}, "grace": {"5d"}, "isolation_plan": {""}, "nas": {"core"}}
	resp, page = w.admin.post(path, path, form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), path+"/coa?from=10M") {
		t.Fatalf("save = %d %q %s", resp.StatusCode, resp.Header.Get("Location"), regexp.MustCompile(`class="error"[^<]*`).FindString(page))
	}
	if w.h.sqlInt(`SELECT count(*) FROM plans WHERE name = 'gold 2' AND price_cents = 2500 AND rate_limit = '20M/20M' AND validity_seconds = 31*86400
AND uptime_limit_seconds = 360000 AND data_limit_bytes = 2147483648 AND shared_users = 2 AND interim_seconds = 600 AND pool = 'pool2'
AND address_list = 'paying' AND period = 'month' AND grace_seconds = 5*86400 AND isolation_plan_id IS NULL AND nas_names = '{core}'`) != 1 {
		t.Fatal("the plan is not stored as edited")
	}
	if a := w.h.lastAudit(); a.Action != "plan.update" || !strings.Contains(a.Detail, `"rate_limit": ["10M/10M", "20M/20M"]`) {
		t.Fatalf("audit %+v", a)
	}
	_, page = w.admin.get(resp.Header.Get("Location"))
	// alice and bob are online on gold; dave is isolated, so his rate is walled's.
	if got := byID(t, page, "coa-online"); got != "2" || !strings.Contains(page, "(it was 10M/10M)") {
		t.Fatalf("offer: %q online", got)
	}
	_, page = w.admin.post(path+"/coa", path+"/coa", nil)
	for range 2 {
		req := <-w.fake.Requests()
		if req.Code != 43 || req.RateLimit != "20M/20M" {
			t.Fatalf("the NAS got %+v", req)
		}
	}
	if n := strings.Count(page, `data-result="ack"`); n != 2 {
		t.Fatalf("%d ACKs on the results page: %.2000s", n, page)
	}
	if a := w.h.lastAudit(); a.Action != "plan.coa" || !strings.Contains(a.Detail, `"sessions": 2`) {
		t.Fatalf("audit %+v", a)
	}

	// The list writes what it holds for people.
	_, page = w.admin.get("/admin/plans")
	for _, bad := range []string{"720h0m0s", "744h0m0s", "2147483648", "1073741824"} {
		if strings.Contains(page, bad) {
			t.Errorf("plan list shows %q", bad)
		}
	}
	for _, want := range []string{"31 days", "2 GiB", "4 days 4 hours", "25.00 USD", "every month, grace 5 days", "unlimited"} {
		if !strings.Contains(page, want) {
			t.Errorf("plan list lacks %q", want)
		}
	}
}

// TestDeletePlan deletes a plan nothing uses once its name is typed, and keeps one
// that subscribers are on, or another plan isolates to, saying why.
func TestDeletePlan(t *testing.T) {
	w := mustOpsWorld(t)
	ctx := context.Background()
	spare, err := w.h.p.deps.Vouchers.Plans.CreatePlan(ctx, billing.Plan{Name: "spare", Kind: radius.KindHotspot, PriceCents: 100})
	if err != nil {
		t.Fatal(err)
	}
	path := "/admin/plans/" + strconv.FormatInt(spare.ID, 10)
	if _, page := w.admin.get(path); !strings.Contains(page, `id="plan-delete"`) {
		t.Fatal("the edit page has no delete form")
	}
	resp, page := w.admin.post(path, path+"/delete", url.Values{"confirm": {"spar"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "confirm: type the plan&#39;s name, spare") ||
		!strings.Contains(page, `name="confirm" autocomplete="off" aria-invalid="true"`) || w.h.sqlInt(`SELECT count(*) FROM plans WHERE name = 'spare'`) != 1 {
		t.Fatalf("deleted without the name typed: %d", resp.StatusCode)
	}
	resp, _ = w.admin.post(path, path+"/delete", url.Values{"confirm": {"spare"}})
	if resp.StatusCode != http.StatusSeeOther || w.h.sqlInt(`SELECT count(*) FROM plans WHERE name = 'spare'`) != 0 {
		t.Fatalf("not deleted: %d", resp.StatusCode)
	}
	if a := w.h.lastAudit(); a.Action != "plan.delete" || a.Target != "plan:spare" {
		t.Fatalf("audit %+v", a)
	}
	walled := w.h.sqlInt(`SELECT id FROM plans WHERE name = 'walled'`)
	for planID, why := range map[int64]string{w.gold: "subscribers are on it", walled: "another plan isolates its unpaid subscribers to it"} {
		path := "/admin/plans/" + strconv.FormatInt(planID, 10)
		var name string
		if err := w.h.pool.QueryRow(ctx, `SELECT name FROM plans WHERE id = $1`, planID).Scan(&name); err != nil {
			t.Fatal(err)
		}
		resp, page := w.admin.post(path, path+"/delete", url.Values{"confirm": {name}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "plan: cannot be deleted: "+why) {
			t.Fatalf("%s: %d, %s", name, resp.StatusCode, regexp.MustCompile(`class="error"[^<]*`).FindString(page))
		}
		if w.h.sqlInt(`SELECT count(*) FROM plans WHERE id = $1`, planID) != 1 {
			t.Fatalf("%s deleted", name)
		}
	}
	if resp, _ := w.admin.post("/admin/plans", "/admin/plans/999999/delete", url.Values{"confirm": {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown plan: %d", resp.StatusCode)
	}
}

// TestNASPage shows a NAS's RADIUS counters and RouterOS health, changes it (address,
// secret, CoA port, its API with a sealed password), refuses a bad field by name, and
// deletes it only when its name is typed.
func TestNASPage(t *testing.T) {
	w := mustOpsWorld(t)
	w.h.p.deps.Ops.RADIUS.(*fakeRADIUS).set(radius.NASActivity{NASID: w.core.ID, NASName: "core", LastSeen: time.Now().Add(-12 * time.Second),
		Requests: 40, Accepts: 30, Rejects: 6, Accounting: 3, Drops: 1})
	w.h.exec(`UPDATE nas SET api_address = '127.0.0.1:8729', api_user = 'tollgate', api_password = '\x00', api_tls = true WHERE id = $1`, w.core.ID)
	w.h.exec(`INSERT INTO router_events (nas_id, at, state, error) VALUES ($1, now() - interval '1 hour', 'down', 'dial tcp: timeout')`, w.core.ID)
	_, page := w.admin.get("/admin/nas/core")
	for id, want := range map[string]string{"nas-requests": "40", "nas-accepts": "30", "nas-rejects": "6", "nas-drops": "1",
		"router-version": "7.18.2 (stable)", "router-state": "up"} {
		if got := byID(t, page, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	for _, want := range []string{"12 seconds ago", "RB5009", "1 day", "7%", "256 MiB of 1 GiB", "dial tcp: timeout", "127.0.0.1:8729 (TLS)"} {
		if !strings.Contains(page, want) {
			t.Errorf("NAS page lacks %q", want)
		}
	}
	if strings.Contains(page, "coa-secret-core") {
		t.Fatal("the page shows the secret")
	}
	_, list := w.admin.get("/admin/nas")
	if !strings.Contains(list, "12 seconds ago") || !strings.Contains(list, `<span class="badge on">up</span>`) {
		t.Errorf("NAS list lacks the activity or the router's state")
	}

	resp, page := w.admin.post("/admin/nas/core", "/admin/nas/core", url.Values{"address": {"127.0.0.1"}, "coa_port": {"70000"}, "require_ma": {"on"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "coa_port: ") || !strings.Contains(page, `aria-invalid="true"`) {
		t.Fatalf("bad port = %d", resp.StatusCode)
	}
	resp, _ = w.admin.post("/admin/nas/core", "/admin/nas/core", url.Values{"address": {"127.0.0.1"}, "secret": {"a-new-secret-1234"}, "coa_port": {"0"},
		"require_ma": {"on"}, "login_hosts": {"hotspot.example.net"}, "api_address": {"10.0.0.1"}, "api_user": {"api"}, "api_password": {"router-pass"}, "api_tls": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save = %d", resp.StatusCode)
	}
	n, err := radiuspg.New(w.h.pool).FindRouterTarget(context.Background(), "core")
	if err != nil || n.API.Address != "10.0.0.1:8729" || n.API.User != "api" || !n.API.TLS {
		t.Fatalf("API %+v %v", n, err)
	}
	plain, err := w.h.p.deps.Vouchers.Sealer.(interface {
		Open(sealed, ad []byte) ([]byte, error)
	}).Open(n.API.Password, radius.SealNASAPIPassword.AD(w.core.ID))
	if err != nil || string(plain) != "router-pass" {
		t.Fatalf("API password %q %v", plain, err)
	}
	if w.h.sqlInt(`SELECT count(*) FROM nas WHERE name = 'core' AND coa_port = 0 AND login_hosts = '{hotspot.example.net}' AND secret <> 'a-new-secret-1234'::bytea`) != 1 {
		t.Fatal("the NAS is not stored as edited")
	}
	if a := w.h.lastAudit(); a.Action != "nas.update" || strings.Contains(a.Detail, "a-new-secret") || strings.Contains(a.Detail, "router-pass") {
		t.Fatalf("audit %+v", a)
	}
	resp, _ = w.admin.post("/admin/nas/core", "/admin/nas/core/delete", url.Values{"confirm": {"cor"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || w.h.sqlInt(`SELECT count(*) FROM nas WHERE name = 'core'`) != 1 {
		t.Fatal("deleted without the name typed")
	}
	resp, _ = w.admin.post("/admin/nas/core", "/admin/nas/core/delete", url.Values{"confirm": {"core"}})
	if resp.StatusCode != http.StatusSeeOther || w.h.sqlInt(`SELECT count(*) FROM nas WHERE name = 'core'`) != 0 {
		t.Fatal("not deleted")
	}
}

// TestEditResellerAndRole changes a reseller's email, credit limit and status, refuses
// a limit below its debt naming the field, and changes a user's role.
func TestEditResellerAndRole(t *testing.T) {
	w := mustOpsWorld(t)
	var id int64 = w.h.sqlInt(`SELECT id FROM resellers WHERE name = 'Corner Shop'`)
	path := "/admin/resellers/" + strconv.FormatInt(id, 10)
	resp, _ := w.admin.post(path, path, url.Values{"email": {"shop@example.com"}, "credit_limit": {"50.00"}, "status": {"suspended"}})
	if resp.StatusCode != http.StatusSeeOther || w.h.sqlInt(`SELECT count(*) FROM resellers WHERE email = 'shop@example.com' AND credit_limit_cents = 5000 AND status = 'suspended'`) != 1 {
		t.Fatalf("save = %d", resp.StatusCode)
	}
	w.h.exec(`UPDATE wallets SET balance_cents = -4000 WHERE reseller_id = $1`, id)
	resp, page := w.admin.post(path, path, url.Values{"email": {"shop@example.com"}, "credit_limit": {"10.00"}, "status": {"active"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "credit-limit: ") ||
		!strings.Contains(page, `value="10.00" aria-invalid="true"`) {
		t.Fatalf("limit below the debt = %d", resp.StatusCode)
	}
	_, list := w.admin.get("/admin/resellers")
	if !strings.Contains(list, "-40.00 USD") || !strings.Contains(list, `href="`+path+`"`) {
		t.Fatal("the list lacks the balance in money or the edit link")
	}

	u := w.h.mustUser("ops@example.com")
	resp, _ = w.admin.post("/admin/users", "/admin/users/"+itoa64(u.ID)+"/role", url.Values{"role": {"reseller"}, "reseller": {"Corner Shop"}})
	if resp.StatusCode != http.StatusSeeOther || w.h.sqlInt(`SELECT count(*) FROM portal_users WHERE id = $1 AND role = 'reseller'`, u.ID) != 1 {
		t.Fatalf("role = %d", resp.StatusCode)
	}
	if resp, _ = w.admin.post("/admin/users", "/admin/users/"+itoa64(w.h.admin.ID)+"/role", url.Values{"role": {"reseller"}, "reseller": {"Corner Shop"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("own role = %d", resp.StatusCode)
	}
}

// TestAddUser adds a reseller's account and an admin's on the users page, names and
// marks the bad field of a refused form without sending the password back, and the
// new accounts sign in with the passwords typed.
func TestAddUser(t *testing.T) {
	w := mustOpsWorld(t)
	for _, tc := range []struct {
		form   url.Values
		status int
		field  string
		msg    string
	}{
		{url.Values{"email": {"not-an-address"}, "password": {"long-enough-pw"}, "role": {"admin"}}, 422, "email", "email: "},
		{url.Values{"email": {"new@example.com"}, "password": {"short"}, "role": {"admin"}}, 422, "password", "password: at least"},
		{url.Values{"email": {"new@example.com"}, "password": {"long-enough-pw"}, "role": {"reseller"}}, 422, "reseller", "reseller: required"},
		{url.Values{"email": {"new@example.com"}, "password": {"long-enough-pw"}, "role": {"reseller"}, "reseller": {"Nobody"}}, 422, "reseller", "reseller: "},
		{url.Values{"email": {w.h.admin.Email}, "password": {"long-enough-pw"}, "role": {"admin"}}, 409, "email", "email: " + w.h.admin.Email + " already has an account"},
	} {
		resp, page := w.admin.post("/admin/users", "/admin/users", tc.form)
		if resp.StatusCode != tc.status || !strings.Contains(page, `id="user-form"`) || !strings.Contains(page, tc.msg) ||
			!regexp.MustCompile(`name="`+tc.field+`"[^>]*aria-invalid="true"`).MatchString(page) {
			t.Fatalf("%v = %d; want %d naming %s: %s", tc.form, resp.StatusCode, tc.status, tc.field, regexp.MustCompile(`class="error"[^<]*`).FindString(page))
		}
		if strings.Contains(page, "long-enough-pw") {
			t.Fatal("the refused form sends the password back")
		}
	}
	if w.h.sqlInt(`SELECT count(*) FROM portal_users WHERE email = 'new@example.com'`) != 0 {
		t.Fatal("a refused form stored a user")
	}
	resp, _ := w.admin.post("/admin/users", "/admin/users", url.Values{"email": {"Shop.Keeper@Example.com"}, "password": {"shop-password-1"},
		"role": {"reseller"}, "reseller": {"Corner Shop"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add reseller = %d", resp.StatusCode)
	}
	resp, _ = w.admin.post("/admin/users", "/admin/users", url.Values{"email": {"ops2@example.com"}, "password": {"ops-password-12"},
		"role": {"admin"}, "reseller": {"ignored for an admin"}, "totp_required": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add admin = %d", resp.StatusCode)
	}
	if w.h.sqlInt(`SELECT count(*) FROM portal_users u JOIN resellers r ON r.id = u.reseller_id WHERE u.email = 'shop.keeper@example.com' AND u.role = 'reseller' AND r.name = 'Corner Shop' AND NOT u.totp_required`) != 1 ||
		w.h.sqlInt(`SELECT count(*) FROM portal_users WHERE email = 'ops2@example.com' AND role = 'admin' AND reseller_id IS NULL AND totp_required`) != 1 {
		t.Fatal("the users are not stored as added")
	}
	if a := w.h.lastAudit(); a.Action != "user.create" || !strings.Contains(a.Detail, `"role": "admin"`) || strings.Contains(a.Detail, "ops-password") {
		t.Fatalf("audit %+v", a)
	}
	_, page := w.admin.get("/admin/users")
	if !strings.Contains(page, `data-email="shop.keeper@example.com"`) || !strings.Contains(page, "sells for Corner Shop") {
		t.Fatal("the list lacks the new reseller account")
	}
	u, err := w.h.p.deps.Auth.Users.FindUserByEmail(context.Background(), "shop.keeper@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.VerifyPassword("shop-password-1", u.PasswordHash); err != nil || !ok {
		t.Fatalf("the password typed does not verify: %v %v", ok, err)
	}
}

// TestWebhooksPage adds an endpoint (its secret shown once), names a bad field, queues
// a test message that shows in the log, and deletes the endpoint.
func TestWebhooksPage(t *testing.T) {
	w := mustOpsWorld(t)
	resp, page := w.admin.post("/admin/webhooks", "/admin/webhooks", url.Values{"url": {"ftp://x"}, "event:session.start": {"on"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `name="url" type="text" inputmode="url" placeholder="https://billing.example.com/hooks/tollgate" value="ftp://x" aria-invalid="true"`) {
		t.Fatalf("bad url = %d", resp.StatusCode)
	}
	resp, page = w.admin.post("/admin/webhooks", "/admin/webhooks", url.Values{"url": {"https://hooks.example.com/t"}, "event:session.start": {"on"}, "event:payment.received": {"on"}})
	secret := regexp.MustCompile(`id="secret">(whsec_[^<]+)<`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || secret == nil {
		t.Fatalf("add = %d", resp.StatusCode)
	}
	if strings.Contains(w.h.lastAudit().Detail, secret[1]) || w.h.sqlInt(`SELECT count(*) FROM webhook_endpoints WHERE position($1::bytea in secret) > 0`, secret[1]) != 0 {
		t.Fatal("the secret is stored or audited in clear")
	}
	_, page = w.admin.get("/admin/webhooks")
	if strings.Contains(page, secret[1]) {
		t.Fatal("the secret is shown again")
	}
	id := w.h.sqlInt(`SELECT id FROM webhook_endpoints`)
	w.admin.post("/admin/webhooks", "/admin/webhooks/"+itoa64(id)+"/test", nil)
	_, page = w.admin.get("/admin/webhooks")
	if !strings.Contains(page, "webhook.test") || !strings.Contains(page, `data-state="queued"`) {
		t.Fatal("the test message is not in the log")
	}
	d := w.h.sqlInt(`SELECT id FROM webhook_deliveries`)
	if _, page = w.admin.get("/admin/webhooks/deliveries/" + itoa64(d)); !strings.Contains(page, "endpoint_id") || !strings.Contains(page, "Not tried yet.") {
		t.Fatal("delivery page")
	}
	w.admin.post("/admin/webhooks", "/admin/webhooks/"+itoa64(id)+"/delete", nil)
	if w.h.sqlInt(`SELECT count(*) FROM webhook_deliveries`) != 0 {
		t.Fatal("the deleted endpoint's queue stays")
	}
}

// TestVoucherBatchSearch narrows the vouchers page's batches to one reseller's.
func TestVoucherBatchSearch(t *testing.T) {
	w := mustOpsWorld(t)
	h := w.h
	h.exec(`INSERT INTO plans (name, kind) VALUES ('day', 'hotspot')`)
	h.exec(`INSERT INTO resellers (name) VALUES ('Kiosk')`)
	h.exec(`INSERT INTO voucher_batches (plan_id, mode, count, reseller) SELECT id, 'code', 5, 'Corner Shop' FROM plans WHERE name = 'day'`)
	h.exec(`INSERT INTO voucher_batches (plan_id, mode, count, reseller) SELECT id, 'code', 7, 'Kiosk' FROM plans WHERE name = 'day'`)
	_, page := w.admin.get("/admin/vouchers?reseller=Kiosk")
	rows := byID(t, page, "batches")
	if !strings.Contains(rows, "Kiosk") || strings.Contains(rows, "Corner Shop") {
		t.Fatalf("Kiosk's batches: %s", rows)
	}
	if _, page = w.admin.get("/admin/vouchers"); !strings.Contains(byID(t, page, "batches"), "Corner Shop") {
		t.Fatal("all batches lack Corner Shop's")
	}
}
