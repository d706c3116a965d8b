package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tollgate/billing"
)

// mustDecision records an automated decision about s (a grace step of the billing
// pass) and returns its ref.
func (h *harness) mustDecision(s sub) string {
	h.t.Helper()
	var id int64
	if err := h.pool.QueryRow(context.Background(), `INSERT INTO billing_events (kind, subscriber_id, key, data)
		VALUES ('grace', $1, $2, '{"until":"2026-12-10"}') RETURNING id`, s.ID, "grace:test:"+nextWalk()).Scan(&id); err != nil {
		h.t.Fatal(err)
	}
	return "event:" + itoa64(id)
}

// mustReview makes s ask for a review of a new decision, without the audit log.
func (h *harness) mustReview(s sub) *billing.DataRequest {
	h.t.Helper()
	r, err := h.p.deps.My.Rights.RequestReview(context.Background(), s.ID, h.mustDecision(s), "I paid in cash at the office", billing.SourceWeb, "subscriber:"+s.Username)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// mustErasureRequest schedules the erasure of s, without the audit log.
func (h *harness) mustErasureRequest(s sub) *billing.DataRequest {
	h.t.Helper()
	r, err := h.p.deps.My.Rights.RequestErasure(context.Background(), s.ID, billing.SourceWeb, "subscriber:"+s.Username, "", false)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func init() {
	// The queue's forms in the route walks act on subscribers of their own, never on
	// the walker.
	routeFixtures["POST /admin/requests/:id/decide"] = func(h *harness) (string, url.Values) {
		r := h.mustReview(h.mustSubscriber("review-"+nextWalk(), "", false))
		return "/admin/requests/" + itoa64(r.ID) + "/decide", url.Values{"outcome": {"upheld"}, "note": {"The invoice was unpaid on that day."}}
	}
	routeFixtures["POST /admin/requests/:id/erase"] = func(h *harness) (string, url.Values) {
		r := h.mustErasureRequest(h.mustSubscriber("erase-"+nextWalk(), "", false))
		return "/admin/requests/" + itoa64(r.ID) + "/erase", url.Values{}
	}
	routeFixtures["POST /admin/requests/erase"] = func(h *harness) (string, url.Values) {
		s := h.mustSubscriber("erase-"+nextWalk(), "", false)
		return "/admin/requests/erase", url.Values{"username": {s.Username}, "reason": {"email of 2 Dec 2026"}}
	}
}

// TestAdminRequestsQueue: /admin/requests lists the open requests by due date (30 days
// after they were made) with their audit trail, the exports answered by email, and the
// restrictions in force; an
// admin decides a review with a note (the subscriber gets a review_decided event and
// sees the outcome), carries out a pending erasure, and erases a subscriber on a
// request received by email; errors show on the page. The subscriber's and staff's
// audit entries name the request.
func TestAdminRequestsQueue(t *testing.T) {
	h := mustHarness(t, myConfig)
	ctx := context.Background()
	ann := h.mustSubscriber("ann", "ann@example.net", true)
	bob := h.mustSubscriber("bob", "bob@example.net", true)
	cy := h.mustSubscriber("cy", "cy@example.net", true)

	// Ann asks for a review through her page; Bob schedules his erasure; Cy restricts.
	ref := h.mustDecision(ann)
	annc := h.client().mustLoginSubscriber(ann)
	if resp, body := annc.post("/my/privacy", "/my/reviews", url.Values{"decision": {ref}, "message": {"I paid in cash on the 1st"}}); resp.StatusCode != 200 || !strings.Contains(body, "A person will review") {
		t.Fatalf("review request = %d: %.400s", resp.StatusCode, body)
	}
	bobc := h.client().mustLoginSubscriber(bob)
	if resp, body := bobc.post("/my/privacy", "/my/erasure", url.Values{"password": {"password-bob"}}); resp.StatusCode != 200 || !strings.Contains(body, "will be erased on") {
		t.Fatalf("erasure request = %d: %.400s", resp.StatusCode, body)
	}
	cyc := h.client().mustLoginSubscriber(cy)
	if resp, _ := cyc.post("/my/privacy", "/my/restriction", url.Values{"restrict": {"true"}}); resp.StatusCode != 200 {
		t.Fatalf("restriction = %d", resp.StatusCode)
	}

	// An export answered by email (tollgate privacy export) is listed as answered.
	if _, err := h.p.deps.My.Rights.RecordExport(ctx, cy.ID, billing.SourceCLI, "cli:root", "email of 2 Dec 2026"); err != nil {
		t.Fatal(err)
	}

	admin := h.adminClient().mustLogin(h.admin)
	resp, page := admin.get("/admin/requests")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/requests = %d", resp.StatusCode)
	}
	due := h.clock.Now().Add(billing.RequestDue).UTC().Format("2 Jan 2006")
	for _, want := range []string{`data-kind="review" data-state="open"`, `data-kind="erasure" data-state="open"`, `data-kind="export" data-state="done"`,
		"done: exported", "email of 2 Dec 2026", "I paid in cash on the 1st",
		"renewal unpaid: grace period", "due in 29 days (" + due + ")", `class="restriction">cy`, "review.request", "erasure.request", `action="/admin/requests/erase"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/admin/requests lacks %q", want)
		}
	}
	if a := h.lastAudit(); a.Action != "privacy_request.list" || a.Actor != h.admin.Email {
		t.Fatalf("audit %+v", a)
	}

	// The review: a missing note is refused on the page; with one it is decided.
	reviews, err := h.p.deps.My.Rights.Reviews(ctx, false)
	if err != nil || len(reviews) != 1 {
		t.Fatalf("reviews %+v, %v", reviews, err)
	}
	rv := reviews[0]
	if resp, body := admin.post("/admin/requests", "/admin/requests/"+itoa64(rv.ID)+"/decide", url.Values{"outcome": {"changed"}}); resp.StatusCode != 422 || !strings.Contains(body, "note:") {
		t.Fatalf("decide without a note = %d: %.300s", resp.StatusCode, body)
	}
	resp, _ = admin.post("/admin/requests", "/admin/requests/"+itoa64(rv.ID)+"/decide", url.Values{"outcome": {"changed"}, "note": {"Restored: your cash payment was found."}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "decided=") {
		t.Fatalf("decide = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a := h.lastAudit(); a.Action != "review.decide" || a.Target != billing.RequestTarget(rv.ID) {
		t.Fatalf("audit %+v", a)
	}
	evs := h.eventsOf(ann.ID, billing.EventReviewDecided)
	if len(evs) != 1 || evs[0].Data["outcome"] != "changed" || evs[0].Data["note"] != "Restored: your cash payment was found." {
		t.Fatalf("review_decided events %+v", evs)
	}
	if _, body := annc.get("/my/privacy"); !strings.Contains(body, "the decision was changed") || !strings.Contains(body, "Restored: your cash payment was found.") {
		t.Fatalf("Ann does not see the outcome: %.2000s", body)
	}
	if resp, _ := admin.post("/admin/requests", "/admin/requests/"+itoa64(rv.ID)+"/decide", url.Values{"outcome": {"upheld"}, "note": {"again"}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("deciding twice = %d", resp.StatusCode)
	}

	// Bob's erasure, now (no email channel here: no notice).
	pend, err := h.p.deps.My.Rights.PendingErasure(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = admin.post("/admin/requests", "/admin/requests/"+itoa64(pend.ID)+"/erase", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "erased=erased-") {
		t.Fatalf("erase now = %d %q: %s", resp.StatusCode, resp.Header.Get("Location"), h.logs.String())
	}
	var username string
	var email *string
	if err := h.pool.QueryRow(ctx, `SELECT username, email FROM subscribers WHERE id = $1`, bob.ID).Scan(&username, &email); err != nil ||
		!strings.HasPrefix(username, billing.PseudonymPrefix) || email != nil {
		t.Fatalf("bob after the erasure: %q %v, %v", username, email, err)
	}
	if a := h.lastAudit(); a.Action != "erasure.done" || !strings.Contains(a.Detail, username) || strings.Contains(a.Detail, "bob") {
		t.Fatalf("audit %+v", a)
	}
	// Bob's session ended with his portal account.
	if resp, _ := bobc.get("/my"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's session after the erasure: GET /my = %d", resp.StatusCode)
	}

	// Erasure on request by username: an unknown name and a missing reason show on the
	// page; then Cy is erased.
	if resp, body := admin.post("/admin/requests", "/admin/requests/erase", url.Values{"username": {"nobody"}, "reason": {"x"}}); resp.StatusCode != 404 || !strings.Contains(body, `value="nobody"`) {
		t.Fatalf("erase nobody = %d: %.300s", resp.StatusCode, body)
	}
	if resp, _ := admin.post("/admin/requests", "/admin/requests/erase", url.Values{"username": {"cy"}}); resp.StatusCode != 422 {
		t.Fatalf("erase without a reason = %d", resp.StatusCode)
	}
	resp, _ = admin.post("/admin/requests", "/admin/requests/erase", url.Values{"username": {"cy"}, "reason": {"email from cy@example.net of 2 Dec 2026"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("erase cy = %d", resp.StatusCode)
	}
	_, page = admin.get(resp.Header.Get("Location"))
	if !strings.Contains(page, "Erased: the kept records now carry erased-") || strings.Contains(page, "cy@example.net") {
		t.Fatalf("queue after erasing cy: %.3000s", page)
	}
	// The subscriber cannot reach the queue.
	if resp, _ := annc.get("/admin/requests"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/my" {
		t.Fatalf("subscriber GET /admin/requests = %d", resp.StatusCode)
	}
}
