package portal

import (
	"context"
	"encoding/json"
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
	"tollgate/hotspot"
	hotspotpg "tollgate/hotspot/postgres"
	"tollgate/portal/auth"
	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/seal"
)

// fakeDisconnector answers every Disconnect-Request with an ACK and records it.
type fakeDisconnector struct {
	mu   sync.Mutex
	sent []radius.LiveSession
}

func (f *fakeDisconnector) Disconnect(ctx context.Context, s radius.LiveSession, reason string) (radius.CoAResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, s)
	return radius.CoAResult{NASID: s.Key.NASID, SessionID: s.Key.SessionID, Username: s.Username, Kind: "disconnect", Result: "ack", Reason: reason}, nil
}

func (f *fakeDisconnector) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// mustAPI is the API of a harness: the real services on pool.
func mustAPI(tb testing.TB, pool *pgxpool.Pool, sealer *seal.Sealer) (*API, *fakeDisconnector) {
	tb.Helper()
	bs := billingpg.NewStore(pool)
	rs := radiuspg.New(pool)
	svc := &billing.Service{Store: bs, Sealer: sealer}
	dis := &fakeDisconnector{}
	return &API{
		Plans:       svc,
		Subscribers: svc,
		NAS:         rs,
		Sessions:    rs,
		Vouchers:    &hotspot.Service{Store: hotspotpg.NewStore(pool), Plans: bs, Sealer: sealer, Codes: sealer, Usage: rs},
		Disconnect:  dis,
		Money:       mustMoney(pool), // api_money_test.go
		MoneyPages:  bs,
	}, dis
}

func init() {
	// The token page's forms in the route walks: a fresh name to make, a live token to
	// revoke.
	var n struct {
		sync.Mutex
		i int
	}
	routeFixtures["POST /admin/tokens"] = func(h *harness) (string, url.Values) {
		n.Lock()
		n.i++
		name := "walk-" + itoa64(int64(n.i))
		n.Unlock()
		return "/admin/tokens", url.Values{"name": {name}, "scope": {"read"}, "expires": {"30d"}}
	}
	routeFixtures["POST /admin/tokens/revoke"] = func(h *harness) (string, url.Values) {
		n.Lock()
		n.i++
		name := "revoke-" + itoa64(int64(n.i))
		n.Unlock()
		h.mustToken(name, auth.ScopeRead)
		return "/admin/tokens/revoke", url.Values{"name": {name}}
	}
}

// mustToken makes a token without writing the audit log.
func (h *harness) mustToken(name string, scope auth.Scope) string {
	h.t.Helper()
	tok, _, err := h.tokens.Create(context.Background(), auth.TokenRequest{Name: name, Scope: scope})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// bearer sends one API request with token (no cookies) and decodes a JSON answer into out
// (when not nil).
func (h *harness) bearer(token, method, path, body string, out any) (*http.Response, string) {
	h.t.Helper()
	c := h.client()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	var b any
	if body != "" {
		b = body
	}
	resp, text := c.do(method, path, b, hdr)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, text)
		}
	}
	return resp, text
}

// wantError checks an error answer: status, code and field.
func wantError(t *testing.T, resp *http.Response, body string, status int, code, field string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != status || e.Code != code || e.Field != field || e.Message == "" {
		t.Fatalf("= %d %s; want %d code %q field %q", resp.StatusCode, body, status, code, field)
	}
}

// TestAPITokens: a read token reads and cannot write, a write token writes, and missing,
// malformed, unknown, expired and revoked tokens are 401; every bearer request is
// audited as its token; a bearer request needs no CSRF token while a cookie session's
// still does.
func TestAPITokens(t *testing.T) {
	h := mustHarness(t, Config{})
	read := h.mustToken("reader", auth.ScopeRead)
	write := h.mustToken("writer", auth.ScopeWrite)
	plan := `{"name":"Gold","kind":"pppoe","price":"20.00","rate_limit":"5M/10M","validity":2592000}`

	if resp, body := h.bearer(read, "GET", "/api/v1/plans", "", nil); resp.StatusCode != 200 {
		t.Fatalf("read token GET = %d %s", resp.StatusCode, body)
	}
	resp, body := h.bearer(read, "POST", "/api/v1/plans", plan, nil)
	wantError(t, resp, body, 403, "forbidden", "")
	var p planJSON
	if resp, body := h.bearer(write, "POST", "/api/v1/plans", plan, &p); resp.StatusCode != 201 || p.Name != "Gold" || p.Price != "20.00" {
		t.Fatalf("write token POST = %d %s", resp.StatusCode, body)
	}

	expired := *h.tokens
	expired.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	old, _, err := expired.Create(context.Background(), auth.TokenRequest{Name: "old", Scope: auth.ScopeWrite, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	revoked := h.mustToken("gone", auth.ScopeWrite)
	if _, err := h.tokens.Revoke(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header, msg string
	}{
		{"missing", "", "sign in first"},
		{"not bearer", "Basic YTpi", "Bearer scheme"},
		{"malformed", "Bearer tg_nope", "not valid"},
		{"unknown", "Bearer tg_aaaaaaaaaaaaaaaa_" + write[len(write)-43:], "not valid"},
		{"wrong secret", "Bearer " + write[:len(write)-43] + strings.Repeat("A", 43), "not valid"},
		{"expired", "Bearer " + old, "expired"},
		{"revoked", "Bearer " + revoked, "revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.audit())
			hdr := map[string]string{}
			if tc.header != "" {
				hdr["Authorization"] = tc.header
			}
			resp, body := h.client().do("GET", "/api/v1/plans", nil, hdr)
			wantError(t, resp, body, 401, "unauthorized", "")
			if !strings.Contains(body, tc.msg) {
				t.Fatalf("body %s; want %q", body, tc.msg)
			}
			if len(h.audit()) != before {
				t.Fatal("an unauthenticated request wrote the audit log")
			}
		})
	}

	// The audit log: the successful requests as the handlers' actions, the refused write
	// as api.request with its status.
	var actions []string
	for _, a := range h.audit() {
		if strings.HasPrefix(a.Actor, "token:") {
			actions = append(actions, a.Actor+" "+a.Action+" "+a.Target)
		}
	}
	want := []string{"token:reader plan.list ", "token:reader api.request /api/v1/plans", "token:writer plan.create plan:Gold"}

	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Fatalf("audit %q; want %q", actions, want)
	}
	if a := h.audit(); !strings.Contains(a[len(a)-2].Detail, `"status": 403`) {
		t.Fatalf("refusal audit detail %s", a[len(a)-2].Detail)
	}

	// A token opens only the API resources: the pages do not read it, /api/v1/me
	// refuses it.
	c := h.client()
	if resp, _ := c.do("GET", "/admin", nil, map[string]string{"Authorization": "Bearer " + write}); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
		t.Errorf("token GET /admin = %d %s; want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = c.do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Bearer " + write})
	wantError(t, resp, body, 403, "forbidden", "")
	if a := h.lastAudit(); a.Actor != "token:writer" || a.Action != "api.request" || a.Target != "/api/v1/me" {
		t.Errorf("refused /api/v1/me audit %+v", a)
	}

	// A bearer request with a session cookie: the cookie is not read, no CSRF needed.
	admin := h.sessionFor(t, accessAdmin)
	resp, body = admin.do("POST", "/api/v1/plans", `{"name":"Silver","kind":"hotspot"}`, map[string]string{"Authorization": "Bearer " + read})
	wantError(t, resp, body, 403, "forbidden", "")
	// The cookie session alone: CSRF still required.
	resp, body = admin.do("POST", "/api/v1/plans", `{"name":"Silver","kind":"hotspot"}`, nil)
	wantError(t, resp, body, 403, "forbidden", "")
	if resp, body := admin.do("POST", "/api/v1/plans", `{"name":"Silver","kind":"hotspot"}`, map[string]string{csrfHeader: admin.token()}); resp.StatusCode != 201 {
		t.Fatalf("cookie session with CSRF = %d %s", resp.StatusCode, body)
	}
	if a := h.lastAudit(); a.Actor != h.admin.Email || a.Action != "plan.create" {
		t.Fatalf("cookie audit %+v", a)
	}
	// A reseller's session is refused.
	resp, body = h.sessionFor(t, accessReseller).get("/api/v1/plans")
	wantError(t, resp, body, 403, "forbidden", "")
}

// TestAPIRateLimit: past its limit a minute a token is refused with 429 and Retry-After;
// the first refusal is audited; another token is not held back.
func TestAPIRateLimit(t *testing.T) {
	h := mustHarness(t, Config{APIRateLimit: 3})
	a := h.mustToken("busy", auth.ScopeRead)
	b := h.mustToken("quiet", auth.ScopeRead)
	for i := 0; i < 3; i++ {
		if resp, body := h.bearer(a, "GET", "/api/v1/nas", "", nil); resp.StatusCode != 200 {
			t.Fatalf("request %d = %d %s", i+1, resp.StatusCode, body)
		}
	}
	for i := 0; i < 2; i++ {
		resp, body := h.bearer(a, "GET", "/api/v1/nas", "", nil)
		wantError(t, resp, body, 429, "rate_limited", "")
		if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("Retry-After %q", ra)
		}
	}
	if resp, _ := h.bearer(b, "GET", "/api/v1/nas", "", nil); resp.StatusCode != 200 {
		t.Fatalf("another token = %d", resp.StatusCode)
	}
	n := 0
	for _, r := range h.audit() {
		if r.Actor == "token:busy" && r.Action == "api.request" && strings.Contains(r.Detail, `"rate_limited"`) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d audited refusals; want the first only", n)
	}
}

// TestAPIResources walks each resource's happy path and a named-field error, with a
// write token.
func TestAPIResources(t *testing.T) {
	h := mustHarness(t, Config{Currency: "KES"})
	tok := h.mustToken("integration", auth.ScopeWrite)
	do := func(method, path, body string, out any) (*http.Response, string) {
		t.Helper()
		return h.bearer(tok, method, path, body, out)
	}
	ok := func(resp *http.Response, body string, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("= %d %s; want %d", resp.StatusCode, body, status)
		}
	}

	t.Run("plans", func(t *testing.T) {
		var p planJSON
		resp, body := do("POST", "/api/v1/plans", `{"name":"Home 10M","kind":"pppoe","price":"25.50","rate_limit":"10M/10M","validity":2592000,"shared_users":1}`, &p)
		ok(resp, body, 201)
		if p.Price != "25.50" || p.Currency != "KES" || p.Validity != 2592000 || p.Kind != "pppoe" {
			t.Fatalf("plan %+v", p)
		}
		resp, body = do("PATCH", "/api/v1/plans/"+itoa64(p.ID), `{"rate_limit":"20M/20M","price":"30"}`, &p)
		ok(resp, body, 200)
		if p.RateLimit != "20M/20M" || p.Price != "30.00" || p.Name != "Home 10M" {
			t.Fatalf("updated %+v", p)
		}
		var got planJSON
		ok2, body := do("GET", "/api/v1/plans/"+itoa64(p.ID), "", &got)
		ok(ok2, body, 200)
		if got.RateLimit != "20M/20M" {
			t.Fatalf("get %+v", got)
		}
		for _, tc := range []struct{ method, path, body, code, field string }{
			{"POST", "/api/v1/plans", `{"name":"x","kind":"pppoe","rate_limit":"fast"}`, "invalid", "rate_limit"},
			{"POST", "/api/v1/plans", `{"name":"Home 10M","kind":"pppoe"}`, "conflict", "name"},
			{"POST", "/api/v1/plans", `{"name":"y","kind":"pppoe","shared_users":-1}`, "invalid", "shared_users"},
			{"POST", "/api/v1/plans", `{"name":"y","kind":"pppoe","price":"abc"}`, "invalid", "price"},
			{"POST", "/api/v1/plans", `{"name":"y","kind":"pppoe","colour":"red"}`, "invalid", "colour"},
			{"POST", "/api/v1/plans", `{"name":"y","kind":"pppoe","validity":"long"}`, "invalid", "validity"},
			{"PATCH", "/api/v1/plans/" + itoa64(p.ID), `{"kind":"hotspot"}`, "invalid", "kind"},
			{"GET", "/api/v1/plans/999999", "", "not_found", "id"},
		} {
			resp, body := do(tc.method, tc.path, tc.body, nil)
			status := map[string]int{"invalid": 422, "conflict": 409, "not_found": 404}[tc.code]
			wantError(t, resp, body, status, tc.code, tc.field)
		}
	})

	t.Run("nas", func(t *testing.T) {
		var n nasJSON
		resp, body := do("POST", "/api/v1/nas", `{"name":"core1","address":"192.0.2.10","secret":"a-long-radius-secret","login_hosts":["Hotspot.Example.net"]}`, &n)
		ok(resp, body, 201)
		if n.Name != "core1" || n.Address != "192.0.2.10/32" || n.CoAPort != 3799 || n.LoginHosts[0] != "hotspot.example.net" || strings.Contains(body, "secret") {
			t.Fatalf("nas %s", body)
		}
		resp, body = do("PATCH", "/api/v1/nas/"+itoa64(n.ID), `{"coa_port":1700,"secret":"another-long-secret"}`, &n)
		ok(resp, body, 200)
		if n.CoAPort != 1700 || strings.Contains(body, "another-long-secret") {
			t.Fatalf("updated %s", body)
		}
		var l page[nasJSON]
		resp, body = do("GET", "/api/v1/nas", "", &l)
		ok(resp, body, 200)
		if len(l.Data) != 1 || strings.Contains(body, "secret") {
			t.Fatalf("list %s", body)
		}
		resp, body = do("POST", "/api/v1/nas", `{"name":"weak","address":"192.0.2.11","secret":"short"}`, nil)
		wantError(t, resp, body, 422, "invalid", "secret")
		resp, body = do("POST", "/api/v1/nas", `{"name":"wide","address":"10.0.0.0/8","secret":"a-long-radius-secret"}`, nil)
		wantError(t, resp, body, 422, "invalid", "address")
		resp, body = do("POST", "/api/v1/nas", `{"name":"core2","address":"192.0.2.10","secret":"a-long-radius-secret"}`, nil)
		wantError(t, resp, body, 409, "conflict", "address")
		resp, body = do("PATCH", "/api/v1/nas/"+itoa64(n.ID), `{"login_hosts":["http://x/"]}`, nil)
		wantError(t, resp, body, 422, "invalid", "login_hosts")
		resp, body = do("POST", "/api/v1/nas", `{"name":"weak","address":"192.0.2.12","secret":"short","allow_weak_secret":true}`, nil)
		ok(resp, body, 201)
	})

	t.Run("subscribers", func(t *testing.T) {
		var ids []int64
		for _, u := range []string{"alice", "bob", "carol"} {
			var s subscriberJSON
			resp, body := do("POST", "/api/v1/subscribers", `{"username":"`+u+`","password":"pw-`+u+`","plan":"Home 10M","name":"`+strings.ToUpper(u)+` Doe","email":"`+u+`@Example.com","phone":"+254 712 000 00`+itoa64(int64(len(ids)))+`"}`, &s)
			ok(resp, body, 201)
			if s.Email != u+"@example.com" || s.Plan != "Home 10M" || s.Status != "active" || strings.Contains(body, "pw-") {
				t.Fatalf("created %s", body)
			}
			ids = append(ids, s.ID)
		}
		// Paging: two pages of two and one.
		var p1, p2 page[subscriberJSON]
		resp, body := do("GET", "/api/v1/subscribers?limit=2", "", &p1)
		ok(resp, body, 200)
		if len(p1.Data) != 2 || p1.NextCursor == "" {
			t.Fatalf("page 1 %s", body)
		}
		resp, body = do("GET", "/api/v1/subscribers?limit=2&cursor="+p1.NextCursor, "", &p2)
		ok(resp, body, 200)
		if len(p2.Data) != 1 || p2.NextCursor != "" || p2.Data[0].Username != "carol" {
			t.Fatalf("page 2 %s", body)
		}
		var found page[subscriberJSON]
		resp, body = do("GET", "/api/v1/subscribers?search=BOB", "", &found)
		ok(resp, body, 200)
		if len(found.Data) != 1 || found.Data[0].Username != "bob" {
			t.Fatalf("search %s", body)
		}
		var ch subscriberChange
		resp, body = do("PATCH", "/api/v1/subscribers/"+itoa64(ids[0]), `{"status":"suspended","mac":"aa-bb-cc-dd-ee-ff"}`, &ch)
		ok(resp, body, 200)
		if ch.Status != "suspended" || ch.MAC != "AA:BB:CC:DD:EE:FF" {
			t.Fatalf("update %s", body)
		}
		resp, body = do("DELETE", "/api/v1/subscribers/"+itoa64(ids[1]), "", &ch)
		ok(resp, body, 200)
		if ch.Status != "disabled" {
			t.Fatalf("delete %s", body)
		}
		var active page[subscriberJSON]
		resp, body = do("GET", "/api/v1/subscribers?status=active", "", &active)
		ok(resp, body, 200)
		if len(active.Data) != 1 || active.Data[0].Username != "carol" {
			t.Fatalf("status filter %s", body)
		}
		for _, tc := range []struct{ method, path, body, code, field string }{
			{"POST", "/api/v1/subscribers", `{"username":"has space","password":"x","plan":"Home 10M"}`, "invalid", "username"},
			{"POST", "/api/v1/subscribers", `{"username":"dave","password":"x","plan":"Nope"}`, "invalid", "plan"},
			{"POST", "/api/v1/subscribers", `{"username":"dave","password":"x","plan":"Home 10M","static_ip":"300.1.1.1"}`, "invalid", "static_ip"},
			{"POST", "/api/v1/subscribers", `{"username":"dave","password":"x","plan":"Home 10M","email":"not-an-email"}`, "invalid", "email"},
			{"POST", "/api/v1/subscribers", `{"username":"dave","password":"x","plan":"Home 10M","phone":"0712"}`, "invalid", "phone"},
			{"POST", "/api/v1/subscribers", `{"username":"alice","password":"x","plan":"Home 10M"}`, "conflict", "username"},
			{"PATCH", "/api/v1/subscribers/" + itoa64(ids[2]), `{"status":"gone"}`, "invalid", "status"},
			{"GET", "/api/v1/subscribers?limit=5000", "", "invalid", "limit"},
			{"GET", "/api/v1/subscribers?cursor=%21%21", "", "invalid", "cursor"},
			{"GET", "/api/v1/subscribers/0", "", "not_found", "id"},
		} {
			resp, body := do(tc.method, tc.path, tc.body, nil)
			status := map[string]int{"invalid": 422, "conflict": 409, "not_found": 404}[tc.code]
			wantError(t, resp, body, status, tc.code, tc.field)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		ctx := context.Background()
		var nasID int64
		if err := h.pool.QueryRow(ctx, `SELECT id FROM nas WHERE name = 'core1'`).Scan(&nasID); err != nil {
			t.Fatal(err)
		}
		start := time.Now().Add(-time.Hour)
		for i, s := range []struct {
			id, user string
			open     bool
		}{{"s-1", "carol", false}, {"s-2", "carol", true}, {"s/3", "alice", true}} {
			var stop any
			if !s.open {
				stop = start.Add(time.Minute)
			}
			if _, err := h.pool.Exec(ctx, `INSERT INTO sessions (nas_id, acct_session_id, username, started_at, stopped_at, last_update)
				VALUES ($1, $2, $3, $4, $5, $4)`, nasID, s.id, s.user, start.Add(time.Duration(i)*time.Second), stop); err != nil {
				t.Fatal(err)
			}
		}
		var all page[sessionJSON]
		resp, body := do("GET", "/api/v1/sessions?limit=2", "", &all)
		ok(resp, body, 200)
		if len(all.Data) != 2 || all.Data[0].SessionID != "s/3" || all.NextCursor == "" {
			t.Fatalf("sessions %s", body)
		}
		var rest page[sessionJSON]
		resp, body = do("GET", "/api/v1/sessions?limit=2&cursor="+all.NextCursor, "", &rest)
		ok(resp, body, 200)
		if len(rest.Data) != 1 || rest.Data[0].SessionID != "s-1" || rest.NextCursor != "" {
			t.Fatalf("second page %s", body)
		}
		var online page[sessionJSON]
		resp, body = do("GET", "/api/v1/sessions?online=true&user=carol&nas=core1", "", &online)
		ok(resp, body, 200)
		if len(online.Data) != 1 || online.Data[0].SessionID != "s-2" || !online.Data[0].Online {
			t.Fatalf("filtered %s", body)
		}
		before := h.disconnects.count()
		var r coaJSON
		resp, body = do("POST", "/api/v1/sessions/core1/"+url.PathEscape("s/3")+"/disconnect", "", &r)
		ok(resp, body, 200)
		if r.Result != "ack" || r.Username != "alice" || r.NAS != "core1" || h.disconnects.count() != before+1 {
			t.Fatalf("disconnect %s", body)
		}
		resp, body = do("POST", "/api/v1/sessions/core1/s-1/disconnect", "", nil)
		wantError(t, resp, body, 404, "not_found", "acct_session_id")
		resp, body = do("GET", "/api/v1/sessions?online=maybe", "", nil)
		wantError(t, resp, body, 422, "invalid", "online")
	})

	t.Run("vouchers", func(t *testing.T) {
		resp, body := do("POST", "/api/v1/plans", `{"name":"Day","kind":"hotspot","price":"1","validity":86400}`, nil)
		ok(resp, body, 201)
		var g generatedJSON
		resp, body = do("POST", "/api/v1/vouchers", `{"plan":"Day","count":3,"length":10}`, &g)
		ok(resp, body, 201)
		if g.Count != 3 || len(g.Vouchers) != 3 || len(g.Vouchers[0].Code) != 10 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("generate %s", body)
		}
		var l page[voucherJSON]
		resp, body = do("GET", "/api/v1/vouchers?batch_id="+itoa64(g.BatchID)+"&limit=2", "", &l)
		ok(resp, body, 200)
		if len(l.Data) != 2 || l.NextCursor == "" || strings.Contains(body, g.Vouchers[0].Code) {
			t.Fatalf("list %s", body)
		}
		var l2 page[voucherJSON]
		resp, body = do("GET", "/api/v1/vouchers?batch_id="+itoa64(g.BatchID)+"&limit=2&cursor="+l.NextCursor, "", &l2)
		ok(resp, body, 200)
		if len(l2.Data) != 1 || l2.NextCursor != "" {
			t.Fatalf("list page 2 %s", body)
		}
		id := g.Vouchers[0].ID
		var st voucherStatusJSON
		resp, body = do("GET", "/api/v1/vouchers/"+itoa64(id), "", &st)
		ok(resp, body, 200)
		if st.State != "new" || st.Plan != "Day" || strings.Contains(body, g.Vouchers[0].Code) {
			t.Fatalf("show %s", body)
		}
		var rv revokedJSON
		resp, body = do("POST", "/api/v1/vouchers/"+itoa64(id)+"/revoke", "", &rv)
		ok(resp, body, 200)
		if rv.State != "revoked" || rv.RevokedAt == nil {
			t.Fatalf("revoke %s", body)
		}
		resp, body = do("POST", "/api/v1/vouchers", `{"plan":"Day","count":5000}`, nil)
		wantError(t, resp, body, 422, "invalid", "count")
		resp, body = do("POST", "/api/v1/vouchers", `{"plan":"Home 10M","count":1}`, nil)
		wantError(t, resp, body, 422, "invalid", "plan")
		resp, body = do("GET", "/api/v1/vouchers?state=lost", "", nil)
		wantError(t, resp, body, 422, "invalid", "state")
		resp, body = do("POST", "/api/v1/vouchers/424242/revoke", "", nil)
		wantError(t, resp, body, 404, "not_found", "")
	})
}

// TestOpenAPIMatchesRouter walks the router: every /api/v1 route is in the document
// with its method, and every documented operation has a route.
func TestOpenAPIMatchesRouter(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"one listener", Config{}}, {"admin listener", Config{AdminAddr: "127.0.0.1:0"}}} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHarness(t, tc.cfg)
			c := h.client()
			c.admin = true
			resp, body := c.get("/api/v1/openapi.json")
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
				t.Fatalf("= %d %s", resp.StatusCode, body)
			}
			var doc struct {
				OpenAPI    string                               `json:"openapi"`
				Paths      map[string]map[string]map[string]any `json:"paths"`
				Components struct {
					Schemas         map[string]map[string]any `json:"schemas"`
					SecuritySchemes map[string]any            `json:"securitySchemes"`
				} `json:"components"`
			}
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.OpenAPI != "3.1.0" || doc.Components.SecuritySchemes["bearer"] == nil || doc.Components.SecuritySchemes["cookie"] == nil {
				t.Fatalf("document head %.300s", body)
			}
			routed := map[string]bool{}
			for _, r := range h.p.staff.GetRoutes(true) {
				if r.Method == http.MethodHead || !strings.HasPrefix(r.Path, "/api/v1") {
					continue
				}
				key := strings.ToLower(r.Method) + " " + openAPIPath(r.Path)
				routed[key] = true
				op := doc.Paths[openAPIPath(r.Path)][strings.ToLower(r.Method)]
				if op == nil {
					t.Errorf("%s %s is routed but not in the document", r.Method, r.Path)
					continue
				}
				for _, m := range paramRE.FindAllStringSubmatch(r.Path, -1) {
					if !strings.Contains(mustJSON(t, op["parameters"]), `"name":"`+m[1]+`"`) {
						t.Errorf("%s %s: path parameter %s undocumented", r.Method, r.Path, m[1])
					}
				}
				if op["responses"] == nil || op["summary"] == "" {
					t.Errorf("%s %s: no responses or summary", r.Method, r.Path)
				}
			}
			n := 0
			for path, item := range doc.Paths {
				for method, op := range item {
					n++
					if !routed[method+" "+path] {
						t.Errorf("%s %s is documented but has no route", method, path)
					}
					// Every $ref resolves.
					for _, ref := range refRE.FindAllStringSubmatch(mustJSON(t, op), -1) {
						if doc.Components.Schemas[ref[1]] == nil {
							t.Errorf("%s %s: $ref %s does not resolve", method, path, ref[1])
						}
					}
				}
			}
			if n < 20 {
				t.Fatalf("only %d operations documented", n)
			}
			// The schemas follow the types: a plan's price is a string, a NAS has no secret.
			plan := mustJSON(t, doc.Components.Schemas["planJSON"])
			nas := mustJSON(t, doc.Components.Schemas["nasJSON"])
			if !strings.Contains(plan, `"price":{"allOf":[{"type":"string"}]`) || strings.Contains(nas, "secret") {
				t.Fatalf("schemas: plan %s nas %s", plan, nas)
			}
		})
	}
}

var refRE = regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAdminTokensPage: an admin makes a token on the page, which shows it once; the
// list never shows it; it works on the API; revoking it ends it.
func TestAdminTokensPage(t *testing.T) {
	h := mustHarness(t, Config{})
	admin := h.sessionFor(t, accessAdmin)
	resp, body := admin.post("/admin/tokens", "/admin/tokens", url.Values{"name": {"erp"}, "scope": {"write"}, "expires": {"90d"}})
	m := tokenRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("= %d %s", resp.StatusCode, body)
	}
	tok := m[1]
	if a := h.lastAudit(); a.Action != "token.create" || a.Target != "token:erp" || a.Actor != h.admin.Email || strings.Contains(a.Detail, tok) {
		t.Fatalf("audit %+v", a)
	}
	if _, body := admin.get("/admin/tokens"); strings.Contains(body, tok) || !strings.Contains(body, "erp") || !strings.Contains(body, "live") {
		t.Fatalf("list shows the token or not the row: %s", body)
	}
	if resp, _ := h.bearer(tok, "GET", "/api/v1/subscribers", "", nil); resp.StatusCode != 200 {
		t.Fatalf("new token = %d", resp.StatusCode)
	}
	resp, body = admin.post("/admin/tokens", "/admin/tokens", url.Values{"name": {"erp"}, "scope": {"read"}})
	if resp.StatusCode != 409 || !strings.Contains(body, "a live token is called") {
		t.Fatalf("second erp = %d %s", resp.StatusCode, body)
	}
	resp, body = admin.post("/admin/tokens", "/admin/tokens", url.Values{"name": {"x"}, "scope": {"root"}})
	if resp.StatusCode != 422 || !strings.Contains(body, "scope:") {
		t.Fatalf("bad scope = %d %s", resp.StatusCode, body)
	}
	if resp, _ := admin.post("/admin/tokens", "/admin/tokens/revoke", url.Values{"name": {"erp"}}); resp.StatusCode != 303 {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	if resp, _ := h.bearer(tok, "GET", "/api/v1/subscribers", "", nil); resp.StatusCode != 401 {
		t.Fatalf("revoked token = %d", resp.StatusCode)
	}
}

var tokenRE = regexp.MustCompile(`<code id="new-token">(tg_[a-z2-7]{16}_[A-Za-z0-9_-]{43})</code>`)
