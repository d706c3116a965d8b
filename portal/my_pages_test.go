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
)

// mustSession stores one accounting session of username on NAS core-1 (made on first
// use): started at start, stopped at stop (zero: still open), with the NAS's input
// (upload) and output (download) octets.
func (h *harness) mustSession(username, id string, start, stop time.Time, in, out int64) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.pool.Exec(ctx, `INSERT INTO nas (name, address, secret) VALUES ('core-1', '10.9.0.1/32', '\x00') ON CONFLICT (name) DO NOTHING`); err != nil {
		h.t.Fatal(err)
	}
	var stopped any
	last := start.Add(time.Minute)
	if !stop.IsZero() {
		stopped, last = stop, stop
	}
	_, err := h.pool.Exec(ctx, `
INSERT INTO sessions (nas_id, acct_session_id, started_at, username, framed_ip, last_update, stopped_at, session_time, input_octets, output_octets)
VALUES ((SELECT id FROM nas WHERE name = 'core-1'), $1, $2, $3, '100.64.0.7', $4, $5, $6, $7, $8)`,
		id, start, username, last, stopped, int64(last.Sub(start).Seconds()), in, out)
	if err != nil {
		h.t.Fatal(err)
	}
}

// TestMyPage: /my shows the profile (email and phone masked), the open session (NAS,
// IP, bytes each way), this period's use, and the 30-day graph as inline SVG with one
// bar a day; /api/v1/my and /api/v1/my/usage give the same numbers, download being the
// NAS's output octets.
func TestMyPage(t *testing.T) {
	h := mustHarness(t, myConfig)
	alice := h.mustSubscriber("alice", "alice@example.net", true)
	now := h.clock.Now()
	loc := time.Local
	y, m, d := now.In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, loc)
	// Yesterday 10:00-12:00, closed: 4 GB down, 1 GB up. Open since an hour ago: 300 MB
	// down, 20 MB up. 40 days ago (before the graph and before the period): 9 GB.
	h.mustSession("alice", "s1", today.AddDate(0, 0, -1).Add(10*time.Hour), today.AddDate(0, 0, -1).Add(12*time.Hour), 1e9, 4e9)
	// (Not before midnight: a session that spans it is spread over both days.)
	openSince := now.Add(-time.Hour)
	if openSince.Before(today) {
		openSince = today
	}
	h.mustSession("alice", "s2", openSince, time.Time{}, 20e6, 300e6)
	h.mustSession("alice", "s0", today.AddDate(0, 0, -40), today.AddDate(0, 0, -40).Add(time.Hour), 1e9, 8e9)
	// The period starts at valid_from: move it back 35 days so yesterday counts.
	if _, err := h.pool.Exec(context.Background(), `UPDATE subscribers SET valid_from = $2 WHERE id = $1`, alice.ID, today.AddDate(0, 0, -35)); err != nil {
		t.Fatal(err)
	}
	c := h.client().mustLoginSubscriber(alice)
	resp, body := c.get("/my")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /my = %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{"Alice Wanjiru", "a***@example.net", "•••••••••678", "Home 10M", "core-1", "100.64.0.7",
		"↓ 300 MB ↑ 20 MB", `<strong class="used-data">5.3 GB</strong>`, `<svg class="usage-graph"`, "Download", "Upload"} {
		if !strings.Contains(body, want) {
			t.Errorf("/my lacks %q", want)
		}
	}
	if strings.Contains(body, "alice@example.net") || strings.Contains(body, "712345678") {
		t.Error("/my shows the email or phone in full")
	}
	if n := strings.Count(body, `<g class="day"`); n != 30 {
		t.Errorf("the graph has %d day bars; want 30", n)
	}
	yday := today.AddDate(0, 0, -1).Format("2006-01-02")
	if !regexp.MustCompile(`data-day="` + yday + `"><title>[^<]*4 GB down, 1 GB up`).MatchString(body) {
		t.Errorf("yesterday's bar lacks its numbers")
	}
	// The y axis reads in round human units.
	if !strings.Contains(body, ">2 GB</text>") || !strings.Contains(body, ">6 GB</text>") {
		t.Errorf("no round GB tick on the y axis")
	}

	var days []dayJSON
	if resp := c.apiJSON("GET", "/api/v1/my/usage?days=30", "", &days); resp.StatusCode != 200 || len(days) != 30 {
		t.Fatalf("GET /api/v1/my/usage = %d, %d days", resp.StatusCode, len(days))
	}
	if last := days[29]; last.Day != today.Format("2006-01-02") || last.Download != 300e6 || last.Upload != 20e6 {
		t.Errorf("today = %+v", last)
	}
	if d := days[28]; d.Day != yday || d.Download != 4e9 || d.Upload != 1e9 || d.Seconds != 7200 {
		t.Errorf("yesterday = %+v", d)
	}
	if resp := c.apiJSON("GET", "/api/v1/my/usage?days=0", "", nil); resp.StatusCode != 422 {
		t.Errorf("days=0 = %d", resp.StatusCode)
	}
	var my myJSON
	if resp := c.apiJSON("GET", "/api/v1/my", "", &my); resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/my = %d", resp.StatusCode)
	}
	if len(my.Sessions) != 1 || my.Sessions[0].NAS != "core-1" || my.Sessions[0].Download != 300e6 || my.Sessions[0].Upload != 20e6 ||
		my.Sessions[0].IP != "100.64.0.7" || my.Sessions[0].UptimeSeconds < int64(now.Sub(openSince).Seconds())-1 {
		t.Errorf("sessions %+v", my.Sessions)
	}
	if my.Usage.Bytes != 5.32e9 || my.Usage.Since == nil {
		t.Errorf("usage %+v", my.Usage)
	}
}

// TestUsageSpreadsLongSessions: a session that lasted three days shows on each of them
// in proportion to its time there.
func TestUsageSpreadsLongSessions(t *testing.T) {
	h := mustHarness(t, myConfig)
	gina := h.mustSubscriber("gina", "", true)
	loc := time.Local
	y, m, d := h.clock.Now().In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, loc)
	// From noon three days ago to noon yesterday: half a day, a day, half a day.
	h.mustSession("gina", "long", today.AddDate(0, 0, -3).Add(12*time.Hour), today.AddDate(0, 0, -1).Add(12*time.Hour), 400e6, 4e9)
	c := h.client().mustLoginSubscriber(gina)
	var days []dayJSON
	c.apiJSON("GET", "/api/v1/my/usage?days=5", "", &days)
	want := []int64{0, 1e9, 2e9, 1e9, 0}
	if len(days) != 5 {
		t.Fatalf("%d days", len(days))
	}
	for i, w := range want {
		// A day of 23 or 25 hours (summer time) moves the split a little.
		if diff := days[i].Download - w; diff < -100e6 || diff > 100e6 {
			t.Errorf("day %s download %d; want about %d", days[i].Day, days[i].Download, w)
		}
	}
}

// consentRows returns the subscriber's consent history.
func (h *harness) consentHistory(id int64) []billing.ConsentChange {
	h.t.Helper()
	list, err := h.p.deps.My.Privacy.Store.FindConsentHistory(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

// TestConsents: the API and the page change the consents; each change is one history
// row with its time, source and values; a request that changes nothing writes none;
// the outbox rule sees the change at once.
func TestConsents(t *testing.T) {
	h := mustHarness(t, myConfig)
	hana := h.mustSubscriber("hana", "hana@example.net", true)
	c := h.client().mustLoginSubscriber(hana)
	var got struct {
		Consents billing.Consents
		Changed  bool
	}
	if resp := c.apiJSON("PUT", "/api/v1/my/consents", `{"reminders_email":false,"reminders_sms":true,"marketing":true}`, &got); resp.StatusCode != 200 || !got.Changed ||
		got.Consents != (billing.Consents{RemindersSMS: true, Marketing: true}) {
		t.Fatalf("PUT consents = %d %+v", resp.StatusCode, got)
	}
	// A field left out keeps its value; the same values again change nothing.
	if resp := c.apiJSON("PUT", "/api/v1/my/consents", `{"marketing":true}`, &got); resp.StatusCode != 200 || got.Changed {
		t.Fatalf("PUT the same = %d %+v", resp.StatusCode, got)
	}
	// Without the CSRF header: refused.
	if resp, _ := c.do("PUT", "/api/v1/my/consents", `{"marketing":false}`, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("PUT without CSRF = %d", resp.StatusCode)
	}
	// The page: one form, unchecked boxes are off.
	resp, body := c.post("/my/privacy", "/my/privacy", url.Values{"reminders_email": {"on"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Your choices are saved") {
		t.Fatalf("POST /my/privacy = %d", resp.StatusCode)
	}
	hist := h.consentHistory(hana.ID)
	if len(hist) != 2 || hist[0].Source != billing.SourceAPI || hist[1].Source != billing.SourceWeb ||
		hist[0].Consents != (billing.Consents{RemindersSMS: true, Marketing: true}) || hist[1].Consents != (billing.Consents{RemindersEmail: true}) ||
		hist[1].At.IsZero() {
		t.Fatalf("history %+v", hist)
	}
	if !strings.Contains(body, "(api)") || !strings.Contains(body, "(web)") {
		t.Error("the page does not show the history")
	}
	pr, err := h.p.deps.My.Privacy.Store.FindProfile(context.Background(), hana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if billing.MayNotify(billing.EventKind("marketing.offer"), billing.ChannelEmail, pr.NotifyState()) || !billing.MayNotify(billing.EventReminder, billing.ChannelEmail, pr.NotifyState()) ||
		billing.MayNotify(billing.EventReminder, billing.ChannelSMS, pr.NotifyState()) {
		t.Fatalf("MayNotify on %+v", pr.NotifyState())
	}
	if a := h.lastAudit(); a.Action != "consent.change" || a.Actor != "subscriber:hana" {
		t.Fatalf("audit %+v", a)
	}
}

// TestRestriction: POST restricts and DELETE lifts, each recorded with its time; while
// restricted, optional reminders and marketing stop but account notices go on.
func TestRestriction(t *testing.T) {
	h := mustHarness(t, myConfig)
	ivan := h.mustSubscriber("ivan", "ivan@example.net", true)
	c := h.client().mustLoginSubscriber(ivan)
	c.apiJSON("PUT", "/api/v1/my/consents", `{"marketing":true}`, nil)
	var got struct{ Restricted, Changed bool }
	if resp := c.apiJSON("POST", "/api/v1/my/restriction", "", &got); resp.StatusCode != 200 || !got.Restricted || !got.Changed {
		t.Fatalf("POST restriction = %d %+v", resp.StatusCode, got)
	}
	pr, _ := h.p.deps.My.Privacy.Store.FindProfile(context.Background(), ivan.ID)
	st := pr.NotifyState()
	if !st.Restricted || billing.MayNotify(billing.EventKind("marketing.offer"), billing.ChannelEmail, st) || billing.MayNotify(billing.EventReminder, billing.ChannelEmail, st) ||
		!billing.MayNotify(billing.EventIsolated, billing.ChannelEmail, st) || !billing.MayNotify(billing.EventPasswordReset, billing.ChannelEmail, st) {
		t.Fatalf("MayNotify while restricted: %+v", st)
	}
	if _, body := c.get("/my/privacy"); !strings.Contains(body, "Lift the restriction") {
		t.Error("the page does not show the restriction")
	}
	if resp := c.apiJSON("DELETE", "/api/v1/my/restriction", "", &got); resp.StatusCode != 200 || got.Restricted || !got.Changed {
		t.Fatalf("DELETE restriction = %d %+v", resp.StatusCode, got)
	}
	c.post("/my/privacy", "/my/restriction", url.Values{"restrict": {"true"}})
	hist, err := h.p.deps.My.Privacy.Store.FindRestrictionHistory(context.Background(), ivan.ID)
	if err != nil || len(hist) != 3 || !hist[0].Restricted || hist[1].Restricted || !hist[2].Restricted || hist[2].Source != billing.SourceWeb || hist[0].At.IsZero() {
		t.Fatalf("history %+v, %v", hist, err)
	}
}

// TestPolicyGate: once a version is in effect, /my redirects to /my/policy and the API
// answers 403 policy_not_accepted until the subscriber accepts (recorded with its
// time and address), while the privacy controls stay open; a material version
// published for 30 days ahead gates again from its day on, a minor one does not.
func TestPolicyGate(t *testing.T) {
	h := mustHarness(t, myConfig)
	ctx := context.Background()
	jane := h.mustSubscriber("jane", "jane@example.net", true)
	c := h.client().mustLoginSubscriber(jane)
	if resp, _ := c.get("/my"); resp.StatusCode != 200 {
		t.Fatalf("no policy yet: GET /my = %d", resp.StatusCode)
	}
	pol := h.p.deps.My.Policies
	today := h.clock.Now().Format("2006-01-02")
	if _, err := pol.Publish(ctx, "# Our policy\n\nWe keep **little**.", today, true, ""); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.get("/my"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/my/policy" {
		t.Fatalf("GET /my = %d %q; want /my/policy", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := c.do("GET", "/api/v1/my", nil, nil)
	var refusal struct {
		Code    string
		Version int
	}
	if json.Unmarshal([]byte(body), &refusal); resp.StatusCode != 403 || refusal.Code != "policy_not_accepted" || refusal.Version != 1 {
		t.Fatalf("GET /api/v1/my = %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.do("GET", "/api/v1/my/usage", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("GET /api/v1/my/usage = %d", resp.StatusCode)
	}
	if resp, _ := c.get("/my/privacy"); resp.StatusCode != 200 {
		t.Fatalf("GET /my/privacy = %d; the privacy controls stay open", resp.StatusCode)
	}
	resp, body = c.get("/my/policy")
	if resp.StatusCode != 200 || !strings.Contains(body, "<h2>Our policy</h2>") || !strings.Contains(body, "<strong>little</strong>") || !strings.Contains(body, "I accept version 1") {
		t.Fatalf("GET /my/policy = %d: %s", resp.StatusCode, body)
	}
	// The page form accepts.
	if resp, _ := c.post("/my/policy", "/my/policy", url.Values{"version": {"1"}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/my" {
		t.Fatalf("accept = %d", resp.StatusCode)
	}
	if resp, _ := c.get("/my"); resp.StatusCode != 200 {
		t.Fatalf("after accepting: GET /my = %d", resp.StatusCode)
	}
	var at time.Time
	var ip string
	if err := h.pool.QueryRow(ctx, `SELECT at, host(ip) FROM policy_acceptances WHERE subscriber_id = $1 AND version = 1`, jane.ID).Scan(&at, &ip); err != nil || ip != c.ip || at.IsZero() {
		t.Fatalf("acceptance at %v from %q (%v); want %s", at, ip, err, c.ip)
	}

	// A minor version in effect does not ask again.
	if _, err := pol.Publish(ctx, "# Our policy\n\nWe keep **little**, typo fixed.", today, true, ""); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.get("/my"); resp.StatusCode != 200 {
		t.Fatalf("after a minor version: GET /my = %d", resp.StatusCode)
	}
	// A material one, 30 days ahead: nothing until then, then the gate.
	ahead := h.clock.Now().AddDate(0, 0, 30).Format("2006-01-02")
	if _, err := pol.Publish(ctx, "# Our policy\n\nWe keep more.", ahead, false, ""); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.get("/my"); resp.StatusCode != 200 {
		t.Fatalf("before the material version's day: GET /my = %d", resp.StatusCode)
	}
	h.clock.mu.Lock()
	h.clock.t = h.clock.t.AddDate(0, 0, 31)
	h.clock.mu.Unlock()
	api := h.client().mustLoginSubscriber(jane)
	if resp, _ := api.do("GET", "/api/v1/my", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("after the material version's day: GET /api/v1/my = %d", resp.StatusCode)
	}
	var shown struct {
		MustAccept bool `json:"must_accept"`
		Policy     struct{ Version int }
	}
	if api.apiJSON("GET", "/api/v1/my/policy", "", &shown); !shown.MustAccept || shown.Policy.Version != 3 {
		t.Fatalf("GET /api/v1/my/policy = %+v", shown)
	}
	if resp := api.apiJSON("POST", "/api/v1/my/policy/accept", `{"version":1}`, nil); resp.StatusCode != 422 {
		t.Fatalf("accepting an old version = %d", resp.StatusCode)
	}
	if resp := api.apiJSON("POST", "/api/v1/my/policy/accept", `{"version":3}`, nil); resp.StatusCode != 200 {
		t.Fatalf("accept 3 = %d", resp.StatusCode)
	}
	if resp, _ := api.do("GET", "/api/v1/my", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("after accepting 3: GET /api/v1/my = %d", resp.StatusCode)
	}
}

// TestPrivacyPublic: /privacy needs no sign-in, on the one listener and on the guests'
// one too; it renders the policy's Markdown with anything else escaped, and lists the
// versions and the one to come.
func TestPrivacyPublic(t *testing.T) {
	for _, cfg := range []Config{myConfig, {PublicURL: myConfig.PublicURL, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", TrustedProxies: []string{"0.0.0.0"}}} {
		h := mustHarness(t, cfg)
		c := h.client() // on the guests' listener when there are two
		if resp, body := c.get("/privacy"); resp.StatusCode != 200 || !strings.Contains(body, "No privacy policy is published yet") {
			t.Fatalf("GET /privacy = %d", resp.StatusCode)
		}
		pol := h.p.deps.My.Policies
		now := h.clock.Now()
		body := "# Privacy\n\nWe are [Example ISP](https://isp.example) <script>alert(1)</script>.\n\n- one\n- [bad](javascript:alert(1))"
		if _, err := pol.Publish(context.Background(), body, now.Format("2006-01-02"), true, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := pol.Publish(context.Background(), "# Privacy v2", now.AddDate(0, 0, 40).Format("2006-01-02"), false, ""); err != nil {
			t.Fatal(err)
		}
		resp, page := c.get("/privacy")
		if resp.StatusCode != 200 {
			t.Fatalf("GET /privacy = %d", resp.StatusCode)
		}
		for _, want := range []string{"<h2>Privacy</h2>", `<a href="https://isp.example" rel="nofollow noopener">Example ISP</a>`,
			"&lt;script&gt;alert(1)&lt;/script&gt;", "<li>one</li>", "Version 2 takes effect on", `href="/privacy?version=2"`, "minor"} {
			if !strings.Contains(page, want) {
				t.Errorf("/privacy lacks %q", want)
			}
		}
		if strings.Contains(page, "<script>") || strings.Contains(page, `href="javascript:`) {
			t.Error("/privacy let markup through")
		}
		if resp, page := c.get("/privacy?version=2"); resp.StatusCode != 200 || !strings.Contains(page, "<h2>Privacy v2</h2>") {
			t.Errorf("GET /privacy?version=2 = %d", resp.StatusCode)
		}
	}
}
