package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"tollgate/billing/billingtest"
	"tollgate/billing/payments"
	"tollgate/portal/auth"
)

// TestAPIRestrictedReads: the staff API reads one restricted subscriber's data
// (profile, wallet, entries, invoices, a document, sessions) only with ?reason=, and
// answers 422 naming reason without it; the reason is in the read's audit entry. The
// lists withhold the subscriber's personal data (subscribers) and the user, IP and MAC
// (sessions), and a reason opens nothing in a list.
func TestAPIRestrictedReads(t *testing.T) {
	w := mustOpsWorld(t)
	h := w.h
	tok := h.mustToken("crm", auth.ScopeRead)
	h.exec(`UPDATE subscribers SET name = 'Alice Wanjiru', email = 'alice@example.com', phone = '+254712345678', mac = 'AA:BB:CC:00:00:01'
WHERE username = 'alice'`)
	receipt := h.mustCredit("alice", 5000).Receipt.Number
	alice := h.sqlInt(`SELECT id FROM subscribers WHERE username = 'alice'`)
	id := itoa64(alice)
	h.restrict(alice)
	reads := []string{
		"/api/v1/subscribers/" + id,
		"/api/v1/subscribers/" + id + "/wallet",
		"/api/v1/subscribers/" + id + "/wallet/entries",
		"/api/v1/invoices?subscriber_id=" + id,
		"/api/v1/invoices/" + receipt,
		"/api/v1/sessions?user=alice",
	}
	private := []string{"Alice Wanjiru", "alice@example.com", "+254712345678", "AA:BB:CC:00:00:01", "100.64.0.1", "50.00"}

	for _, u := range reads {
		for _, path := range []string{u, withQuery(u, "reason=++")} {
			resp, body := h.bearer(tok, "GET", path, "", nil)
			wantError(t, resp, body, http.StatusUnprocessableEntity, "invalid", "reason")
			for _, p := range private {
				if strings.Contains(body, p) {
					t.Errorf("GET %s refused, and shows %q", path, p)
				}
			}
		}
	}

	reason := "customer called about a payment (ticket 7)"
	for _, u := range reads {
		resp, body := h.bearer(tok, "GET", withQuery(u, "reason="+url.QueryEscape(reason)), "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with a reason = %d %s", u, resp.StatusCode, body)
		}
		if a := h.lastAudit(); a.Actor != "token:crm" || !strings.Contains(a.Detail, `"reason": "`+reason+`"`) || !strings.Contains(a.Detail, `"restricted": true`) {
			t.Errorf("GET %s: audit %+v", u, a)
		}
	}
	_, body := h.bearer(tok, "GET", "/api/v1/subscribers/"+id+"?reason=x", "", nil)
	if !strings.Contains(body, "Alice Wanjiru") || !strings.Contains(body, `"restricted":true`) {
		t.Errorf("the profile under a reason: %s", body)
	}
	_, body = h.bearer(tok, "GET", "/api/v1/sessions?user=alice&reason=x", "", nil)
	if !strings.Contains(body, "100.64.0.1") || !strings.Contains(body, `"username":"alice"`) {
		t.Errorf("the sessions under a reason: %s", body)
	}
	if a := h.lastAudit(); a.Target != "subscriber:"+id {
		t.Errorf("sessions read: audit %+v", a)
	}

	// A subscriber who did not restrict anything needs no reason.
	bob := itoa64(h.sqlInt(`SELECT id FROM subscribers WHERE username = 'bob'`))
	for _, u := range []string{"/api/v1/subscribers/" + bob, "/api/v1/sessions?user=bob"} {
		if resp, body := h.bearer(tok, "GET", u, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %s", u, resp.StatusCode, body)
		}
	}

	// The lists withhold, with a reason or not.
	for _, u := range []string{"/api/v1/subscribers", "/api/v1/subscribers?reason=x", "/api/v1/sessions", "/api/v1/sessions?online=true&reason=x"} {
		resp, body := h.bearer(tok, "GET", u, "", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"restricted":true`) || !strings.Contains(body, `"restricted":false`) {
			t.Fatalf("GET %s = %d %s", u, resp.StatusCode, body)
		}
		for _, p := range private[:5] {
			if strings.Contains(body, p) {
				t.Errorf("GET %s shows %q", u, p)
			}
		}
		if strings.Contains(u, "sessions") && (strings.Contains(body, `"username":"alice"`) || !strings.Contains(body, "100.64.0.2")) {
			t.Errorf("GET %s: alice's sessions not withheld, or bob's too: %s", u, body)
		}
	}

	// The document describes the parameter on every read of one subscriber.
	c := h.client()
	c.admin = true
	_, text := c.get("/api/v1/openapi.json")
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct{ Name, In string } `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/subscribers/{id}", "/api/v1/subscribers/{id}/wallet", "/api/v1/subscribers/{id}/wallet/entries",
		"/api/v1/invoices", "/api/v1/invoices/{number}", "/api/v1/sessions"} {
		if !slices.ContainsFunc(doc.Paths[path]["get"].Parameters, func(p struct{ Name, In string }) bool { return p.Name == "reason" && p.In == "query" }) {
			t.Errorf("openapi: GET %s has no reason parameter", path)
		}
	}
}

// TestAPIInvoiceListWithholdsRestricted: the list of every subscriber's invoices and
// receipts blanks the username and customer of a restricted subscriber's documents and
// marks them restricted, with a reason or not; his own list (?subscriber_id=) under a
// reason shows them, and the OpenAPI schema describes the flag.
func TestAPIInvoiceListWithholdsRestricted(t *testing.T) {
	w := mustOpsWorld(t)
	h := w.h
	tok := h.mustToken("crm", auth.ScopeRead)
	h.exec(`UPDATE subscribers SET name = 'Alice Wanjiru' WHERE username = 'alice'`)
	h.exec(`UPDATE subscribers SET name = 'Bob Otieno' WHERE username = 'bob'`)
	aliceReceipt := h.mustCredit("alice", 5000).Receipt.Number
	bobReceipt := h.mustCredit("bob", 3000).Receipt.Number
	alice := h.sqlInt(`SELECT id FROM subscribers WHERE username = 'alice'`)
	h.restrict(alice)

	type row struct {
		Number, Username, Customer string
		Restricted                 bool
	}
	list := func(path string) map[string]row {
		t.Helper()
		resp, body := h.bearer(tok, "GET", path, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		var out struct{ Data []row }
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		rows := map[string]row{}
		for _, r := range out.Data {
			rows[r.Number] = r
		}
		return rows
	}

	for _, u := range []string{"/api/v1/invoices", "/api/v1/invoices?reason=x", "/api/v1/invoices?kind=receipt"} {
		rows := list(u)
		if a := rows[aliceReceipt]; a.Number == "" || a.Username != "" || a.Customer != "" || !a.Restricted {
			t.Errorf("GET %s: alice's receipt %+v, want it withheld", u, a)
		}
		if b := rows[bobReceipt]; b.Username != "bob" || b.Customer != "Bob Otieno" || b.Restricted {
			t.Errorf("GET %s: bob's receipt %+v, want it whole", u, b)
		}
		if a := h.lastAudit(); a.Action != "invoice.list" || strings.Contains(a.Detail, "reason") {
			t.Errorf("GET %s: audit %+v", u, a)
		}
	}

	// His own list under a reason is a read of him: whole, and said so.
	reason := "checking a disputed receipt (ticket 9)"
	rows := list("/api/v1/invoices?subscriber_id=" + itoa64(alice) + "&reason=" + url.QueryEscape(reason))
	if a := rows[aliceReceipt]; a.Username != "alice" || a.Customer != "Alice Wanjiru" || !a.Restricted {
		t.Errorf("alice's list under a reason: %+v", a)
	}
	if _, ok := rows[bobReceipt]; ok {
		t.Errorf("alice's list holds bob's receipt")
	}
	if a := h.lastAudit(); a.Target != "subscriber:"+itoa64(alice) || !strings.Contains(a.Detail, reason) {
		t.Errorf("alice's list: audit %+v", a)
	}
	_, body := h.bearer(tok, "GET", "/api/v1/invoices/"+aliceReceipt+"?reason=x", "", nil)
	if !strings.Contains(body, "Alice Wanjiru") || !strings.Contains(body, `"restricted":true`) {
		t.Errorf("alice's receipt under a reason: %s", body)
	}

	c := h.client()
	c.admin = true
	_, text := c.get("/api/v1/openapi.json")
	if !strings.Contains(text, "a list withholds username and customer") {
		t.Errorf("openapi: the invoice schema does not describe restricted")
	}
}

// withQuery adds the query q to the path u.
func withQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// TestPagesWithholdRestricted: /admin/sessions shows a restricted subscriber's sessions
// without user, IP or MAC, linking to his page (which asks a reason); the payment
// reviews withhold the event and account of a review naming him until the admin gives
// a reason, which comes back to the reviews, shows the event and is audited.
func TestPagesWithholdRestricted(t *testing.T) {
	w := mustOpsWorld(t)
	h := w.h
	alice := h.sqlInt(`SELECT id FROM subscribers WHERE username = 'alice'`)
	h.restrict(alice)
	for _, u := range []string{"/admin/sessions", "/admin/sessions?view=history", "/admin/sessions?q=alice", "/admin/sessions?q=100.64.0.1"} {
		resp, page := w.admin.get(u)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-session="core/a1"`) ||
			!strings.Contains(page, `href="/admin/subscribers/`+itoa64(alice)+`" class="badge warn"`) {
			t.Fatalf("GET %s = %d: %s", u, resp.StatusCode, page)
		}
		if !strings.Contains(u, "q=") && !strings.Contains(page, "100.64.0.2") {
			t.Errorf("GET %s withholds bob's session too", u)
		}
		for _, p := range []string{">alice<", "<td data-label=\"IP\">100.64.0.1", "100.64.0.9", "AA:BB:CC:00:00:01"} {
			if strings.Contains(page, p) {
				t.Errorf("GET %s shows %q", u, p)
			}
		}
	}
	// The subscriber's page is where they show, after a reason.
	if _, page := w.admin.get(subscriberURL(alice)); !strings.Contains(page, "Reason needed") {
		t.Errorf("the subscriber's page asks no reason: %.300s", page)
	}

	h.exec(`UPDATE subscribers SET email = 'alice@example.com' WHERE id = $1`, alice)
	tu := h.mustTopUp("alice", 2000)
	body := billingtest.ChargeSuccess(1, tu.Reference, 1500, "USD")
	r, err := h.payments().Paystack(context.Background(), body, payments.SignPaystack([]byte(testPaystackKey), body))
	if err != nil || r.Result != payments.ResultReview {
		t.Fatalf("%+v, %v", r, err)
	}
	resp, page := w.admin.get("/admin/payments/reviews")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="withheld-`+itoa64(r.ReviewID)+`"`) || strings.Contains(page, "Event as received") ||
		strings.Contains(page, "ada@example.com") {
		t.Fatalf("reviews before a reason = %d: %s", resp.StatusCode, page)
	}
	reason := "reconciling the Paystack report"
	resp, _ = w.admin.postForm(subscriberURL(alice)+"/reason", url.Values{"reason": {reason}, "next": {"/admin/payments/reviews?state=open"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/admin/payments/reviews?state=open" {
		t.Fatalf("reason = %d %q", resp.StatusCode, loc)
	}
	_, page = w.admin.get("/admin/payments/reviews?state=open")
	if !strings.Contains(page, "Event as received") || !strings.Contains(page, "read for: "+reason) || strings.Contains(page, "withheld-") {
		t.Fatalf("reviews under a reason: %s", page)
	}
	if a := h.lastAudit(); a.Action != "payment.review.view" || a.Target != "subscriber:"+itoa64(alice) || !strings.Contains(a.Detail, reason) {
		t.Errorf("audit %+v", a)
	}
}
