package portal

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

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

// withQuery adds the query q to the path u.
func withQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}
