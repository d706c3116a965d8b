package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal/auth"
)

// myConfig is the portal of these tests: links point at PublicURL.
var myConfig = Config{PublicURL: "https://wifi.example.com"}

// apiJSON sends a JSON body with the session's CSRF header and decodes the answer.
func (c *client) apiJSON(method, path, body string, out any) *http.Response {
	c.h.t.Helper()
	var b any
	if body != "" {
		b = body
	}
	resp, text := c.do(method, path, b, map[string]string{csrfHeader: c.token()})
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			c.h.t.Fatalf("%s %s: %v: %s", method, path, err, text)
		}
	}
	return resp
}

// TestSubscriberSignIn: a subscriber signs in at /login with its username or its
// email, lands on /my with a session that carries its subscriber id, and is audited
// under "subscriber:<username>"; the API takes {"username","password"}; an email that
// two subscribers share signs neither in; a staff email always means the staff account.
func TestSubscriberSignIn(t *testing.T) {
	h := mustHarness(t, myConfig)
	alice := h.mustSubscriber("alice", "alice@example.net", true)

	byName := h.client().mustLoginSubscriber(alice)
	if s := byName.session(); s.Role != auth.RoleSubscriber || s.SubscriberID != alice.ID || s.Email != "subscriber:alice" {
		t.Fatalf("session %+v", s)
	}
	if a := h.lastAudit(); a.Action != "login.success" || a.Actor != "subscriber:alice" {
		t.Fatalf("audit %+v", a)
	}
	byEmail := h.client()
	if resp, body := byEmail.login("ALICE@example.net", "password-alice"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/my" {
		t.Fatalf("login by email = %d %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, body := byEmail.get("/my"); resp.StatusCode != 200 || !strings.Contains(body, "alice") {
		t.Fatalf("GET /my = %d", resp.StatusCode)
	}
	// The home page and the sign-in page send a signed-in subscriber to /my.
	for _, path := range []string{"/", "/login"} {
		if resp, _ := byEmail.get(path); resp.Header.Get("Location") != "/my" {
			t.Fatalf("GET %s = %d %q", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	api := h.client()
	api.csrf("/login")
	var got struct{ Status, CSRF string }
	if resp := api.apiJSON("POST", "/api/v1/login", `{"username":"alice","password":"password-alice"}`, &got); resp.StatusCode != 200 || got.Status != "ok" || got.CSRF == "" {
		t.Fatalf("POST /api/v1/login = %d %+v", resp.StatusCode, got)
	}
	var my myJSON
	if resp := api.apiJSON("GET", "/api/v1/my", "", &my); resp.StatusCode != 200 || my.Username != "alice" || my.Email != "a***@example.net" || my.Phone != "+•••••••••678" {
		t.Fatalf("GET /api/v1/my = %d %+v", resp.StatusCode, my)
	}

	// Wrong password: the same answer as for staff.
	if resp, body := h.client().login("alice", "password-wrong"); resp.StatusCode != 401 || !strings.Contains(body, "wrong email or password") {
		t.Fatalf("wrong password = %d", resp.StatusCode)
	}
	// Two subscribers share an email: the email names neither; their usernames still work.
	h.mustSubscriber("bob", "family@example.net", true)
	h.mustSubscriber("carol", "family@example.net", true)
	if resp, _ := h.client().login("family@example.net", "password-bob"); resp.StatusCode != 401 {
		t.Fatalf("shared email = %d; want 401", resp.StatusCode)
	}
	h.client().mustLoginSubscriber(sub{Username: "carol"})
	// A subscriber whose email is an admin's cannot take the admin's sign-in.
	mallory := h.mustSubscriber("mallory", "admin@example.com", true)
	if resp, _ := h.client().login("admin@example.com", "password-mallory"); resp.StatusCode != 401 {
		t.Fatalf("subscriber with the admin's email signed in with its own password: %d", resp.StatusCode)
	}
	h.client().mustLogin(h.admin)
	_ = mallory
}

// TestSubscriberLockout: five wrong passwords from one address lock the subscriber at
// that address whichever name they used (username and email count as one account),
// while another address signs in.
func TestSubscriberLockout(t *testing.T) {
	h := mustHarness(t, myConfig)
	h.mustSubscriber("dave", "dave@example.net", true)
	attacker := h.client()
	for i := range 5 {
		name := "dave"
		if i%2 == 1 {
			name = "Dave@Example.net"
		}
		if resp, _ := attacker.login(name, "guess-guess-guess"); resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, _ := attacker.login("dave", "password-dave")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures = %d; want 429 with Retry-After", resp.StatusCode)
	}
	if a := h.lastAudit(); a.Action != "login.failure" || a.Actor != "dave" || !strings.Contains(a.Detail, `"locked"`) {
		t.Fatalf("audit %+v", a)
	}
	h.client().mustLoginSubscriber(sub{Username: "dave"})
}

// TestSubscriberRoutesWalk walks every route with a subscriber's session: every staff
// route (admin, reseller, any signed-in staff user, the TOTP steps) refuses it before
// its handler runs, and the subscriber routes refuse staff.
func TestSubscriberRoutesWalk(t *testing.T) {
	h := mustHarness(t, myConfig)
	subscriber := h.client().mustLoginSubscriber(h.walker())
	admin := h.client().mustLogin(h.admin)
	reseller := h.client().mustLogin(h.reseller)
	n, m := 0, 0
	for _, r := range h.p.routes {
		var who []*client
		switch r.access {
		case accessPublic, accessSession:
			continue
		case accessSubscriber:
			who = []*client{admin, reseller}
			m++
		default:
			who = []*client{subscriber}
			n++
		}
		for _, c := range who {
			before := len(h.audit())
			var body any
			var hdr map[string]string
			if unsafe(r.method) {
				body, hdr = h.form(r), map[string]string{csrfHeader: c.token()}
			}
			resp, text := c.do(r.method, h.path(r), body, hdr)
			ok := resp.StatusCode == http.StatusForbidden
			if !ok && !isAPIPath(r.path) && !unsafe(r.method) && resp.StatusCode == http.StatusSeeOther {
				ok = resp.Header.Get("Location") == "/my" && c == subscriber
			}
			if !ok {
				t.Errorf("%s %s by %s = %d %q: %.200s", r.method, r.path, c.session().Role, resp.StatusCode, resp.Header.Get("Location"), text)
			}
			if len(h.audit()) != before {
				t.Errorf("%s %s: the refused request reached its handler", r.method, r.path)
			}
		}
	}
	if n < 20 || m < 10 {
		t.Fatalf("walked %d staff and %d subscriber routes", n, m)
	}
	for _, path := range []string{"/admin/not-yet", "/reseller/not-yet"} {
		if resp, _ := subscriber.get(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/my" {
			t.Errorf("subscriber GET %s = %d %q", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := subscriber.do("GET", "/api/v1/me", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("subscriber GET /api/v1/me = %d", resp.StatusCode)
	}
}

var inviteRE = regexp.MustCompile(`https://wifi\.example\.com/account/password\?token=([A-Za-z0-9_-]{43})`)

// eventsOf returns the subscriber's outbox events of kind, oldest first.
func (h *harness) eventsOf(id int64, kind billing.EventKind) []billing.Event {
	h.t.Helper()
	all, err := billingpg.NewStore(h.pool).FindEvents(context.Background(), id, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []billing.Event
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == kind {
			out = append(out, all[i])
		}
	}
	return out
}

// setPassword posts the password form of link token from c.
func (c *client) setPassword(token, pw string) (*http.Response, string) {
	c.h.t.Helper()
	return c.post("/login", "/account/password", url.Values{"token": {token}, "password": {pw}, "confirm": {pw}})
}

// TestInviteLink: an invitation records a portal_invite event whose link sets the
// password once; the link's form needs CSRF; a second use and an expired link (the
// injected clock past 72 hours) are refused with 410; setting the password ends the
// subscriber's other sessions.
func TestInviteLink(t *testing.T) {
	h := mustHarness(t, myConfig)
	ctx := context.Background()
	eve := h.mustSubscriber("eve", "eve@example.net", false)
	links := h.p.deps.My.Links
	inv, err := links.Invite(ctx, "eve", "https://wifi.example.com")
	if err != nil {
		t.Fatal(err)
	}
	evs := h.eventsOf(eve.ID, billing.EventPortalInvite)
	if len(evs) != 1 || evs[0].Data["link"] != inv.URL || evs[0].Data["expires"] == "" || !inviteRE.MatchString(inv.URL) {
		t.Fatalf("events %+v, link %s", evs, inv.URL)
	}
	if d := inv.ExpiresAt.Sub(h.clock.Now()); d < 71*time.Hour || d > 72*time.Hour {
		t.Fatalf("expires in %s; want 72h", d)
	}
	// The token is not stored: only its hash.
	var stored int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM subscriber_links WHERE token_hash = $1`, auth.HashLinkToken(inviteRE.FindStringSubmatch(inv.URL)[1])).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("stored hash rows = %d, %v", stored, err)
	}
	token := inviteRE.FindStringSubmatch(inv.URL)[1]
	c := h.client()
	if resp, body := c.get("/account/password?token=" + token); resp.StatusCode != 200 || !strings.Contains(body, `name="token" value="`+token+`"`) {
		t.Fatalf("GET link = %d", resp.StatusCode)
	}
	// Without the CSRF field the form is refused and the link is not spent.
	if resp, _ := c.do("POST", "/account/password", url.Values{"token": {token}, "password": {"a-new-password"}, "confirm": {"a-new-password"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without CSRF = %d", resp.StatusCode)
	}
	if resp, body := c.setPassword(token, "short"); resp.StatusCode != 422 || !strings.Contains(body, "at least 10") {
		t.Fatalf("short password = %d", resp.StatusCode)
	}
	if resp, _ := c.setPassword(token, "eve-portal-pw-1"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?password=set" {
		t.Fatalf("set password = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a := h.lastAudit(); a.Action != "password.set" || a.Actor != "subscriber:eve" {
		t.Fatalf("audit %+v", a)
	}
	if resp, _ := c.login("eve", "eve-portal-pw-1"); resp.Header.Get("Location") != "/my" {
		t.Fatalf("sign in with the new password = %d", resp.StatusCode)
	}
	// Single use.
	if resp, body := h.client().setPassword(token, "eve-portal-pw-2"); resp.StatusCode != http.StatusGone || !strings.Contains(body, "expired or was used") {
		t.Fatalf("second use = %d", resp.StatusCode)
	}
	if resp, _ := h.client().get("/account/password?token=" + token); resp.StatusCode != http.StatusGone {
		t.Fatalf("GET a used link = %d", resp.StatusCode)
	}
	if resp, _ := h.client().get("/account/password?token=not-a-token"); resp.StatusCode != http.StatusGone {
		t.Fatalf("GET an unknown link = %d", resp.StatusCode)
	}

	// A second invitation, used after its 72 hours (the injected clock): refused.
	late, err := links.Invite(ctx, "eve", "https://wifi.example.com")
	if err != nil {
		t.Fatal(err)
	}
	h.clock.mu.Lock()
	h.clock.t = h.clock.t.Add(72*time.Hour + time.Second)
	h.clock.mu.Unlock()
	if resp, _ := h.client().setPassword(inviteRE.FindStringSubmatch(late.URL)[1], "eve-portal-pw-3"); resp.StatusCode != http.StatusGone {
		t.Fatalf("expired link = %d", resp.StatusCode)
	}
	// A link that works ends the subscriber's other sessions.
	signedIn := h.client()
	if resp, _ := signedIn.login("eve", "eve-portal-pw-1"); resp.Header.Get("Location") != "/my" {
		t.Fatalf("sign in = %d", resp.StatusCode)
	}
	fresh, err := links.Invite(ctx, "eve", "https://wifi.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := h.client().setPassword(inviteRE.FindStringSubmatch(fresh.URL)[1], "eve-portal-pw-4"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("fresh link = %d", resp.StatusCode)
	}
	if resp, _ := signedIn.get("/my"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the other session after a new password: GET /my = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// An unknown username is not invited.
	if _, err := links.Invite(ctx, "nobody", "https://wifi.example.com"); err == nil {
		t.Fatal("invited an unknown subscriber")
	}
}

// TestForgotPassword: the answer is the same whether the name matches a subscriber
// or not; a match records a password_reset event with a one-hour link; the address is
// limited (429 past 5 in 15 minutes), the name silently (3 an hour).
func TestForgotPassword(t *testing.T) {
	h := mustHarness(t, myConfig)
	frank := h.mustSubscriber("frank", "frank@example.net", true)
	ask := func(c *client, login string) (*http.Response, string) {
		return c.post("/login/forgot", "/login/forgot", url.Values{"login": {login}})
	}
	known, bodyKnown := ask(h.client(), "FRANK@example.net")
	unknown, bodyUnknown := ask(h.client(), "nobody@example.net")
	if known.StatusCode != 200 || unknown.StatusCode != 200 || !strings.Contains(bodyKnown, forgotNotice) || !strings.Contains(bodyUnknown, forgotNotice) {
		t.Fatalf("answers %d, %d", known.StatusCode, unknown.StatusCode)
	}
	evs := h.eventsOf(frank.ID, billing.EventPasswordReset)
	if len(evs) != 1 || !inviteRE.MatchString(evs[0].Data["link"]) {
		t.Fatalf("events %+v", evs)
	}
	link, err := h.p.deps.My.Links.Check(context.Background(), inviteRE.FindStringSubmatch(evs[0].Data["link"])[1])
	if err != nil || link.ExpiresAt.Sub(link.CreatedAt) != time.Hour || link.Purpose != auth.LinkReset {
		t.Fatalf("link %+v, %v", link, err)
	}
	// A reset link lasts one hour (the injected clock).
	h.clock.mu.Lock()
	h.clock.t = h.clock.t.Add(time.Hour + time.Second)
	h.clock.mu.Unlock()
	if resp, _ := h.client().setPassword(inviteRE.FindStringSubmatch(evs[0].Data["link"])[1], "frank-new-password"); resp.StatusCode != http.StatusGone {
		t.Fatalf("a reset link after an hour = %d; want 410", resp.StatusCode)
	}
	// A name: three an hour, then silently nothing more (the email asked once above).
	for range 4 {
		if resp, body := ask(h.client(), "frank"); resp.StatusCode != 200 || !strings.Contains(body, forgotNotice) {
			t.Fatalf("ask = %d", resp.StatusCode)
		}
	}
	if n := len(h.eventsOf(frank.ID, billing.EventPasswordReset)); n != 4 {
		t.Fatalf("%d reset events after 1 ask by email and 4 by name; want 4", n)
	}
	// The address: 5 in 15 minutes.
	c := h.client()
	for i := range 5 {
		if resp, _ := ask(c, "someone-"+strings.Repeat("x", i)); resp.StatusCode != 200 {
			t.Fatalf("ask %d = %d", i+1, resp.StatusCode)
		}
	}
	if resp, _ := ask(c, "frank"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sixth ask = %d; want 429", resp.StatusCode)
	}
	// The sign-in page links to it.
	if _, body := h.client().get("/login"); !strings.Contains(body, `href="/login/forgot"`) {
		t.Fatal("no forgot link on /login")
	}
}

// TestLinkRace: two requests racing with one link set the password once; the other is
// refused as a used link.
func TestLinkRace(t *testing.T) {
	h := mustHarness(t, myConfig)
	h.mustSubscriber("lou", "lou@example.net", false)
	inv, err := h.p.deps.My.Links.Invite(context.Background(), "lou", "https://wifi.example.com")
	if err != nil {
		t.Fatal(err)
	}
	token := inviteRE.FindStringSubmatch(inv.URL)[1]
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := h.p.deps.My.Links.SetPassword(context.Background(), token, "lou-password-"+strings.Repeat("x", i))
			errs <- err
		}()
	}
	var ok, gone int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "expired or was used"):
			gone++
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || gone != 1 {
		t.Fatalf("%d succeeded, %d refused; want one each", ok, gone)
	}
}
