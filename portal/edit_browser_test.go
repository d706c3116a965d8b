package portal

import (
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// TestBrowserEdit: in headless Chromium an admin goes through the list, add, edit and
// delete pages (portal/e2e/edit.mjs): a NAS's page shows this server's counters and the
// router's health; a NAS, a plan, a reseller's limit, a portal user and a webhook URL
// refused with the bad field named and marked, then saved; a NAS and an unused plan
// deleted, a plan in use kept; vouchers generated and one revoked; a token shown once and
// revoked; sessions searched online and in the history. The database holds the result.
func TestBrowserEdit(t *testing.T) {
	node, chromium := mustBrowser(t)
	w := mustOpsWorldWith(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}})
	h := w.h
	h.mustServe(t)
	h.p.deps.Ops.RADIUS.(*fakeRADIUS).set(radius.NASActivity{NASID: w.core.ID, NASName: "core", LastSeen: time.Now().Add(-12 * time.Second),
		Requests: 40, Accepts: 30, Rejects: 6, Accounting: 3, Drops: 1})
	h.exec(`UPDATE nas SET api_address = '127.0.0.1:8729', api_user = 'tollgate', api_password = '\x00', api_tls = true WHERE id = $1`, w.core.ID)
	code := h.seed().code // a voucher of the hotspot plan "walk"

	out := mustRunE2E(t, node, chromium, "edit.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_EMAIL=" + h.admin.Email, "E2E_PASSWORD=password-" + h.admin.Email, "E2E_CODE=" + code, "E2E_VOUCHER_PLAN=walk"},
		"ok the NAS page shows #nas-requests 40", "ok the NAS page shows #router-state up",
		"ok a CoA port of 70000: the error names coa_port", "ok the NAS is saved with CoA port 1700",
		"ok a short secret: the error names secret", "ok the NAS is deleted once its name is typed",
		"ok a price of abc: the error names price", "ok the new plan is listed as people read it", "ok the unused plan is deleted",
		"ok a plan in use is kept, with the reason",
		"ok a credit limit of lots: the error names credit-limit", "ok the reseller is saved",
		"ok the batch of 3 is listed", "ok the voucher is revoked",
		"ok a bad email: the error names email", "ok the new reseller account is listed",
		"ok the token is shown once it is made", "ok the token is not shown again", "ok the token is revoked",
		"ok an ftp URL: the error names url", "ok the endpoint is listed, its secret not shown again",
		"ok searching bob online finds his session", "ok the history finds alice's two sessions",
		"OK lists, adds, edits and deletes")
	if strings.Contains(out, "FAIL") {
		t.Fatal("edit.mjs reported a failure")
	}

	for what, sql := range map[string]string{
		"core's CoA port 1700":          `SELECT count(*) FROM nas WHERE name = 'core' AND coa_port = 1700`,
		"branch deleted":                `SELECT 1 - count(*) FROM nas WHERE name = 'branch'`,
		"night deleted, gold kept":      `SELECT count(*) FILTER (WHERE name = 'gold') - count(*) FILTER (WHERE name = 'night') FROM plans`,
		"Kiosk suspended at 10.00":      `SELECT count(*) FROM resellers WHERE name = 'Kiosk' AND email = 'kiosk@example.com' AND credit_limit_cents = 1000 AND status = 'suspended'`,
		"a batch of 3 vouchers":         `SELECT count(*) FROM voucher_batches b JOIN plans p ON p.id = b.plan_id WHERE p.name = 'walk' AND b.count = 3 AND (SELECT count(*) FROM vouchers v WHERE v.batch_id = b.id) = 3`,
		"the voucher revoked":           `SELECT count(*) FROM vouchers WHERE state = 'revoked' AND revoked_at IS NOT NULL`,
		"Kiosk's account":               `SELECT count(*) FROM portal_users u JOIN resellers r ON r.id = u.reseller_id WHERE u.email = 'kiosk-staff@example.com' AND u.role = 'reseller' AND r.name = 'Kiosk'`,
		"the token revoked":             `SELECT count(*) FROM api_tokens WHERE name = 'erp' AND scope = 'write' AND revoked_at IS NOT NULL AND expires_at > now() + interval '89 days'`,
		"the endpoint with both events": `SELECT count(*) FROM webhook_endpoints WHERE url = 'https://hooks.example.com/tollgate' AND events @> '{session.start,payment.received}'`,
	} {
		if n := h.sqlInt(sql); n != 1 {
			t.Errorf("%s: the database says %d", what, n)
		}
	}
	var actions []string
	for _, a := range h.audit() {
		switch a.Action {
		case "nas.create", "nas.update", "nas.delete", "plan.create", "plan.delete", "reseller.create", "reseller.update",
			"voucher.generate", "voucher.revoke", "user.create", "token.create", "token.revoke", "webhook.create":
			actions = append(actions, a.Action)
		}
	}
	if got := strings.Join(actions, ","); got != "nas.update,nas.create,nas.delete,plan.create,plan.delete,reseller.create,reseller.update,voucher.generate,voucher.revoke,user.create,token.create,token.revoke,webhook.create" {
		t.Errorf("audit log %s", got)
	}
}
