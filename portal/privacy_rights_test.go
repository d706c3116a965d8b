package portal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate/billing"
)

// mailbox is an email sender that keeps what it is given (billing.Sender); fail makes
// the next sends fail.
type mailbox struct {
	mu   sync.Mutex
	sent []billing.Notification
	fail bool
}

func (m *mailbox) Send(_ context.Context, n *billing.Notification) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return "", errors.New("451 try again later")
	}
	m.sent = append(m.sent, *n)
	return "<id>", nil
}

func (m *mailbox) all() []billing.Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]billing.Notification(nil), m.sent...)
}

// withMail turns the notices' email channel on, into a mailbox.
func (h *harness) withMail() *mailbox {
	m := &mailbox{}
	h.p.deps.My.Emails.Notices.Email = m
	return m
}

// queuedTo returns the messages queued to recipient, oldest first.
func (h *harness) queuedTo(recipient string) []billing.Notification {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT kind, subject, body, state FROM notifications WHERE recipient = $1 ORDER BY id`, recipient)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []billing.Notification
	for rows.Next() {
		var n billing.Notification
		var kind, state string
		if err := rows.Scan(&kind, &n.Subject, &n.Body, &state); err != nil {
			h.t.Fatal(err)
		}
		n.Kind, n.State = billing.EventKind(kind), billing.NotificationState(state)
		out = append(out, n)
	}
	return out
}

// TestMyExport: GET /api/v1/my/export and the download button of /my/privacy give one
// JSON document of the subscriber's data (and none of another's) as an attachment,
// audited with the source; no policy to accept stands in the way.
func TestMyExport(t *testing.T) {
	h := mustHarness(t, myConfig)
	hal := h.mustPaying("hal", 5000)
	h.mustPaying("ivy", 5000)
	h.mustSession("hal", "hal-1", h.clock.Now().Add(-time.Hour), h.clock.Now().Add(-30*time.Minute), 1000, 9000)
	h.mustSession("ivy", "ivy-1", h.clock.Now().Add(-time.Hour), time.Time{}, 1, 2)
	c := h.client().mustLoginSubscriber(hal)
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO policy_versions (version, body, published_at, effective_at, minor) VALUES (1, 'v1', now() - interval '1 day', now() - interval '1 day', true)`); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/my/export", "/my/privacy/export"} {
		resp, body := c.get(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="tollgate-export-`) ||
			!strings.Contains(resp.Header.Get("Content-Type"), "json") {
			t.Fatalf("GET %s = %d %v", path, resp.StatusCode, resp.Header)
		}
		var doc billing.Export
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Format != billing.ExportFormat || doc.Profile.Username != "hal" || doc.Profile.Email != "hal@example.net" ||
			len(doc.Invoices) != 2 || len(doc.Wallet.Entries) != 2 || doc.Wallet.BalanceCents != 3000 || doc.Subscription == nil ||
			len(doc.Sessions) != 1 || doc.Sessions[0].Download != 9000 || doc.PortalAccount == nil || len(doc.Sources) < 20 {
			t.Fatalf("GET %s: %+v", path, doc)
		}
		if strings.Contains(body, "ivy") || strings.Contains(body, "$argon2id") || strings.Contains(body, "pppoe-secret") {
			t.Fatalf("GET %s holds another's data or a secret: %.3000s", path, body)
		}
		source := "api"
		if !strings.HasPrefix(path, "/api/") {
			source = "web"
		}
		if a := h.lastAudit(); a.Action != "privacy.export" || a.Actor != "subscriber:hal" || !strings.Contains(a.Detail, `"source": "`+source+`"`) {
			t.Fatalf("audit %+v", a)
		}
	}
	if _, page := c.get("/my/privacy"); !strings.Contains(page, `href="/my/privacy/export"`) {
		t.Fatal("/my/privacy has no download button")
	}
}

var emailLinkRE = regexp.MustCompile(`https://wifi\.example\.com/account/email\?token=([A-Za-z0-9_-]{43})`)

// TestMyProfile: PATCH /api/v1/my/profile (and the details form) change the name and
// the phone at once; a new email is used only once confirmed: a one-time link goes to
// the new address (queued to it, not to the old one), the old address stays until then,
// the link's page asks to confirm (a GET changes nothing), the confirmation is
// single-use and the token is kept only hashed; a link past its 24 hours is refused.
// Without an email channel a new address is refused.
func TestMyProfile(t *testing.T) {
	h := mustHarness(t, myConfig)
	jo := h.mustSubscriber("jo", "jo@example.net", true)
	c := h.client().mustLoginSubscriber(jo)
	if resp := c.apiJSON("PATCH", "/api/v1/my/profile", `{"email":"jo@new.example"}`, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a new email without an email channel = %d", resp.StatusCode)
	}
	h.withMail()
	var out profileJSON
	if resp := c.apiJSON("PATCH", "/api/v1/my/profile", `{"name":"Jo Kamau","phone":"+254 700 000 111"}`, &out); resp.StatusCode != 200 ||
		out.Name != "Jo Kamau" || out.Phone != "+•••••••••111" || out.Email != "j***@example.net" {
		t.Fatalf("PATCH name and phone = %d %+v", resp.StatusCode, out)
	}
	if a := h.lastAudit(); a.Action != "profile.change" || !strings.Contains(a.Detail, `"name"`) || !strings.Contains(a.Detail, `"phone"`) || strings.Contains(a.Detail, "Kamau") {
		t.Fatalf("audit %+v", a)
	}
	for _, bad := range []string{`{"phone":"0712"}`, `{"email":"not-an-address"}`, `{"name":"x","nick":"y"}`} {
		if resp := c.apiJSON("PATCH", "/api/v1/my/profile", bad, nil); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("PATCH %s = %d; want 422", bad, resp.StatusCode)
		}
	}
	if resp := c.apiJSON("PATCH", "/api/v1/my/profile", `{"email":"Jo@New.Example"}`, &out); resp.StatusCode != 200 || out.Email != "j***@example.net" || out.EmailPending != "j***@new.example" {
		t.Fatalf("PATCH email = %d %+v", resp.StatusCode, out)
	}
	if pr, _ := h.p.deps.My.Privacy.Store.FindProfile(context.Background(), jo.ID); pr.Email != "jo@example.net" {
		t.Fatalf("the address changed before it was confirmed: %q", pr.Email)
	}
	msgs := h.queuedTo("jo@new.example")
	if len(msgs) != 1 || msgs[0].Kind != billing.EventEmailConfirm || len(h.queuedTo("jo@example.net")) != 0 {
		t.Fatalf("messages %+v", msgs)
	}
	m := emailLinkRE.FindStringSubmatch(msgs[0].Body)
	if m == nil {
		t.Fatalf("no link in %q", msgs[0].Body)
	}
	token := m[1]
	var stored int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM email_confirmations WHERE token_hash = sha256($1::bytea)`, token).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("the token is not stored hashed: %d, %v", stored, err)
	}
	var inData int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM billing_events WHERE data::text LIKE '%' || $1 || '%'`, token).Scan(&inData); err != nil || inData != 0 {
		t.Fatalf("the event keeps the link: %d, %v", inData, err)
	}
	if _, page := c.get("/my/privacy"); !strings.Contains(page, "Waiting for you to confirm jo@new.example") {
		t.Fatal("/my/privacy does not say the new address waits")
	}

	// The link opens anonymously (another browser): the page asks, the form confirms.
	anon := h.client()
	resp, page := anon.get("/account/email?token=" + token)
	if resp.StatusCode != 200 || !strings.Contains(page, "jo@new.example") || !strings.Contains(page, `name="token"`) {
		t.Fatalf("GET the link = %d: %.1000s", resp.StatusCode, page)
	}
	if pr, _ := h.p.deps.My.Privacy.Store.FindProfile(context.Background(), jo.ID); pr.Email != "jo@example.net" {
		t.Fatal("opening the link changed the address")
	}
	resp, page = anon.post("/account/email?token="+token, "/account/email", url.Values{"token": {token}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Your email address is now jo@new.example") {
		t.Fatalf("confirm = %d: %.1000s", resp.StatusCode, page)
	}
	if pr, _ := h.p.deps.My.Privacy.Store.FindProfile(context.Background(), jo.ID); pr.Email != "jo@new.example" {
		t.Fatalf("after the confirmation: %q", pr.Email)
	}
	if a := h.lastAudit(); a.Action != "email.confirm" || a.Actor != "subscriber:jo" {
		t.Fatalf("audit %+v", a)
	}
	if resp, _ := anon.post("/login", "/account/email", url.Values{"token": {token}}); resp.StatusCode != http.StatusGone {
		t.Fatalf("the link used twice = %d", resp.StatusCode)
	}
	if resp, _ := anon.get("/account/email?token=" + token); resp.StatusCode != http.StatusGone {
		t.Fatalf("GET a used link = %d", resp.StatusCode)
	}

	// The details form: a link for another address, which expires after 24 hours.
	resp, page = c.post("/my/privacy", "/my/profile", url.Values{"name": {"Jo K."}, "phone": {""}, "email": {"jo@third.example"}})
	if resp.StatusCode != 200 || !strings.Contains(page, "We sent a link to jo@third.example") {
		t.Fatalf("details form = %d: %.1000s", resp.StatusCode, page)
	}
	if pr, _ := h.p.deps.My.Privacy.Store.FindProfile(context.Background(), jo.ID); pr.Name != "Jo K." || pr.Phone != "" || pr.Email != "jo@new.example" {
		t.Fatalf("after the form: %+v", pr)
	}
	m = emailLinkRE.FindStringSubmatch(h.queuedTo("jo@third.example")[0].Body)
	h.advance(25 * time.Hour)
	if resp, _ := h.client().post("/login", "/account/email", url.Values{"token": {m[1]}}); resp.StatusCode != http.StatusGone {
		t.Fatalf("an expired link = %d", resp.StatusCode)
	}
}

// TestMyReviews: the decisions a review may refer to are listed (grace and isolation
// events, limit rejects grouped by day, newest first, wrong passwords not among them);
// a review of one is created (due in 30 days, audited under its request), a second of
// the same decision is 409, an unknown ref or no message 422; the button on /my sits
// beside the state.
func TestMyReviews(t *testing.T) {
	h := mustHarness(t, myConfig)
	kit := h.mustPaying("kit", 0)
	ctx := context.Background()
	ref := h.mustDecision(kit)
	now := h.clock.Now()
	for _, r := range []struct {
		at     time.Time
		reason string
	}{{now.Add(-2 * time.Hour), "data_exhausted"}, {now.Add(-time.Hour), "data_exhausted"}, {now.Add(-time.Hour), "bad_password"}} {
		if _, err := h.pool.Exec(ctx, `INSERT INTO auth_log (at, username, method, reason) VALUES ($1, 'kit', 'pap', $2)`, r.at, r.reason); err != nil {
			t.Fatal(err)
		}
	}
	c := h.client().mustLoginSubscriber(kit)
	var got reviewsJSON
	if resp := c.apiJSON("GET", "/api/v1/my/reviews", "", &got); resp.StatusCode != 200 || len(got.Decisions) != 2 || len(got.Reviews) != 0 {
		t.Fatalf("GET /api/v1/my/reviews = %d %+v", resp.StatusCode, got)
	}
	var reject billing.Decision
	for _, d := range got.Decisions {
		if strings.HasPrefix(d.Ref, "reject:data_exhausted:") {
			reject = d
		}
	}
	if !strings.Contains(reject.Summary, "data limit reached") || !strings.Contains(reject.Summary, "2 times") {
		t.Fatalf("decisions %+v", got.Decisions)
	}
	if _, page := c.get("/my"); !strings.Contains(page, "Ask for a human review") || !strings.Contains(page, `name="decision" value="`) {
		t.Fatalf("/my has no review button: %.3000s", page)
	}
	var r billing.DataRequest
	if resp := c.apiJSON("POST", "/api/v1/my/reviews", `{"decision":"`+ref+`","message":"I paid on time"}`, &r); resp.StatusCode != http.StatusCreated ||
		r.Kind != billing.RequestReview || r.State != billing.RequestOpen || !r.DueAt.Equal(r.CreatedAt.Add(billing.RequestDue)) || r.DecisionRef != ref {
		t.Fatalf("POST /api/v1/my/reviews = %d %+v", resp.StatusCode, r)
	}
	if a := h.lastAudit(); a.Action != "review.request" || a.Target != billing.RequestTarget(r.ID) || a.Actor != "subscriber:kit" {
		t.Fatalf("audit %+v", a)
	}
	for body, want := range map[string]int{
		`{"decision":"` + ref + `","message":"again"}`:         http.StatusConflict,
		`{"decision":"event:999999","message":"x"}`:            http.StatusUnprocessableEntity,
		`{"decision":"` + reject.Ref + `","message":"   "}`:    http.StatusUnprocessableEntity,
		`{"decision":"` + reject.Ref + `","message":"limit?"}`: http.StatusCreated,
	} {
		if resp := c.apiJSON("POST", "/api/v1/my/reviews", body, nil); resp.StatusCode != want {
			t.Errorf("POST %s = %d; want %d", body, resp.StatusCode, want)
		}
	}
	if err := c.apiJSON("GET", "/api/v1/my/reviews", "", &got); err.StatusCode != 200 || len(got.Reviews) != 2 {
		t.Fatalf("reviews %+v", got.Reviews)
	}
	if _, page := c.get("/my/privacy"); !strings.Contains(page, "Review of renewal unpaid") || !strings.Contains(page, "answer due by") {
		t.Fatalf("/my/privacy does not list the review: %.3000s", page)
	}
}

// TestMyErasure: an erasure needs the portal password (a wrong one is 403, audited,
// and counts towards the sign-in lock); it is scheduled TOLLGATE_ERASURE_GRACE ahead
// (7 days), shown on /my/privacy with its date, cannot be asked twice, and is
// cancelled by DELETE or the page's button; nothing is erased before its time. With
// TOLLGATE_ERASURE_GRACE=0 it is due at once.
func TestMyErasure(t *testing.T) {
	h := mustHarness(t, myConfig)
	lu := h.mustSubscriber("lu", "lu@example.net", true)
	c := h.client().mustLoginSubscriber(lu)
	var st erasureJSON
	if resp := c.apiJSON("GET", "/api/v1/my/erasure", "", &st); resp.StatusCode != 200 || st.Scheduled {
		t.Fatalf("GET /api/v1/my/erasure = %d %+v", resp.StatusCode, st)
	}
	if resp := c.apiJSON("POST", "/api/v1/my/erasure", `{"password":"wrong-password"}`, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("erasure with a wrong password = %d", resp.StatusCode)
	}
	if a := h.lastAudit(); a.Action != "erasure.refused" {
		t.Fatalf("audit %+v", a)
	}
	if resp := c.apiJSON("POST", "/api/v1/my/erasure", `{}`, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("erasure without a password = %d", resp.StatusCode)
	}
	if resp, _ := c.do("POST", "/api/v1/my/erasure", `{"password":"password-lu"}`, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("erasure without the CSRF header = %d", resp.StatusCode)
	}
	resp := c.apiJSON("POST", "/api/v1/my/erasure", `{"password":"password-lu"}`, &st)
	want := h.clock.Now().Add(7 * 24 * time.Hour)
	if resp.StatusCode != http.StatusAccepted || !st.Scheduled || st.RunAt == nil || st.RunAt.Sub(want).Abs() > time.Second {
		t.Fatalf("POST /api/v1/my/erasure = %d %+v; want run at %v", resp.StatusCode, st, want)
	}
	if a := h.lastAudit(); a.Action != "erasure.request" || a.Target != billing.RequestTarget(st.Request) {
		t.Fatalf("audit %+v", a)
	}
	if resp := c.apiJSON("POST", "/api/v1/my/erasure", `{"password":"password-lu"}`, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("a second erasure = %d", resp.StatusCode)
	}
	if _, page := c.get("/my/privacy"); !strings.Contains(page, "will be erased on") || !strings.Contains(page, `id="cancel-erasure"`) {
		t.Fatalf("/my/privacy does not show the erasure: %.3000s", page)
	}
	// Not due yet: a run now erases nothing.
	run, err := h.p.deps.My.Erasure.RunDue(context.Background(), h.clock.Now())
	if err != nil || len(run.Erased) != 0 {
		t.Fatalf("run before the grace: %+v, %v", run, err)
	}
	if resp := c.apiJSON("DELETE", "/api/v1/my/erasure", "", &st); resp.StatusCode != 200 || !st.Changed {
		t.Fatalf("DELETE /api/v1/my/erasure = %d %+v", resp.StatusCode, st)
	}
	if resp := c.apiJSON("DELETE", "/api/v1/my/erasure", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE again = %d", resp.StatusCode)
	}
	// The page's forms: ask, then keep the account.
	if resp, page := c.post("/my/privacy", "/my/erasure", url.Values{"password": {"password-lu"}}); resp.StatusCode != 200 || !strings.Contains(page, "will be erased on") {
		t.Fatalf("erasure form = %d", resp.StatusCode)
	}
	if resp, page := c.post("/my/privacy", "/my/erasure/cancel", nil); resp.StatusCode != 200 || !strings.Contains(page, "The erasure is cancelled") || !strings.Contains(page, `id="request-erasure"`) {
		t.Fatalf("cancel form = %d: %.2000s", resp.StatusCode, page)
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM privacy_requests WHERE subscriber_id = $1 AND kind = 'erasure' AND state = 'cancelled'`, lu.ID).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d cancelled erasures, %v", n, err)
	}
	// Still there, still signed in.
	if resp, _ := c.get("/my"); resp.StatusCode != 200 {
		t.Fatalf("GET /my = %d", resp.StatusCode)
	}
	if _, page := c.get("/my/privacy"); !strings.Contains(page, "erased 7 days after you ask") {
		t.Fatalf("/my/privacy does not say the grace: %.3000s", page)
	}
	// TOLLGATE_ERASURE_GRACE=0: due at once (the next run carries it out), and the page
	// says so.
	h.p.deps.My.Rights.Grace = 0
	if _, page := c.get("/my/privacy"); !strings.Contains(page, "erased within the hour after you ask") {
		t.Fatalf("/my/privacy with no grace: %.3000s", page)
	}
	if resp := c.apiJSON("POST", "/api/v1/my/erasure", `{"password":"password-lu"}`, &st); resp.StatusCode != http.StatusAccepted || st.RunAt == nil || st.RunAt.Sub(h.clock.Now()).Abs() > time.Second {
		t.Fatalf("POST /api/v1/my/erasure with no grace = %d %+v", resp.StatusCode, st)
	}
}

// TestErasureEmailWaits: with an email channel, an erasure that is due sends the
// "erased" notice to the old address before anything is erased; while the mail server
// refuses it, the erasure waits (it stays due, nothing is removed), and the next run
// erases once the notice went.
func TestErasureEmailWaits(t *testing.T) {
	h := mustHarness(t, myConfig)
	mo := h.mustSubscriber("mo", "mo@example.net", true)
	box := h.withMail()
	h.mustErasureRequest(mo)
	later := h.clock.Now().Add(8 * 24 * time.Hour)
	box.fail = true
	run, err := h.p.deps.My.Erasure.RunDue(context.Background(), later)
	if err != nil || len(run.Erased) != 0 || len(run.Postponed) != 1 || !strings.Contains(run.Postponed[0], "postponed until its notice") {
		t.Fatalf("run with the mail server down: %+v, %v", run, err)
	}
	if pr, err := h.p.deps.My.Privacy.Store.FindProfile(context.Background(), mo.ID); err != nil || pr.Email != "mo@example.net" {
		t.Fatalf("erased before the notice went: %+v, %v", pr, err)
	}
	box.fail = false
	run, err = h.p.deps.My.Erasure.RunDue(context.Background(), later)
	if err != nil || len(run.Erased) != 1 || !run.Erased[0].Notified {
		t.Fatalf("run with the mail server up: %+v, %v", run, err)
	}
	sent := box.all()
	if len(sent) != 1 || sent[0].Recipient != "mo@example.net" || sent[0].Kind != billing.EventErasureDone || !strings.Contains(sent[0].Body, "erased") {
		t.Fatalf("sent %+v", sent)
	}
	if n := h.queuedTo("mo@example.net"); len(n) != 0 {
		t.Fatalf("the old address is still in the queue: %+v", n)
	}
	var attempts int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM notification_log WHERE recipient = 'erased'`).Scan(&attempts); err != nil || attempts != 2 {
		t.Fatalf("%d attempts logged (recipient dropped), %v", attempts, err)
	}
}
