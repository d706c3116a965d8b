package portal

import (
	"net/http"
	"strings"
	"testing"

	"tollgate/portal/auth"
)

// TestAPIMoney walks the wallet and invoice resources with tokens: a credit needs an
// idempotency key (body or header) and a retry with it credits once; entries page by
// cursor; documents list by subscriber and kind and read one by number; a read token
// reads and cannot credit; every bearer request is audited as its token.
func TestAPIMoney(t *testing.T) {
	h := mustHarness(t, Config{Currency: "USD"})
	s := h.mustSubscriber("dora", "dora@example.com", false)
	write := h.mustToken("erp", auth.ScopeWrite)
	read := h.mustToken("reports", auth.ScopeRead)
	id := itoa64(s.ID)
	ok := func(resp *http.Response, body string, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("= %d %s; want %d", resp.StatusCode, body, status)
		}
	}

	var w walletJSON
	resp, body := h.bearer(read, "GET", "/api/v1/subscribers/"+id+"/wallet", "", &w)
	ok(resp, body, 200)
	if w.Balance != "0.00" || w.Currency != "USD" || w.Username != "dora" || w.SubscriberID != s.ID {
		t.Fatalf("wallet %+v", w)
	}

	var cr walletCreditJSON
	resp, body = h.bearer(write, "POST", "/api/v1/subscribers/"+id+"/wallet/credits", `{"amount":"12.50","note":"cash","idempotency_key":"erp-1"}`, &cr)
	ok(resp, body, 201)
	if cr.Replayed || cr.Balance != "12.50" || cr.Entry.Amount != "12.50" || cr.Entry.Kind != "topup" || cr.Entry.Actor != "token:erp" ||
		!strings.HasPrefix(cr.Receipt, "RCT-") || cr.Settled == nil {
		t.Fatalf("credit %s", body)
	}
	receipt := cr.Receipt
	resp, body = h.bearer(write, "POST", "/api/v1/subscribers/"+id+"/wallet/credits", `{"amount":"12.50","note":"cash","idempotency_key":"erp-1"}`, &cr)
	ok(resp, body, 200)
	if !cr.Replayed || cr.Balance != "12.50" || cr.Receipt != receipt {
		t.Fatalf("retry %s", body)
	}
	// The key in the header.
	c := h.client()
	resp, body = c.do("POST", "/api/v1/subscribers/"+id+"/wallet/credits", `{"amount":"1.00","note":"change"}`,
		map[string]string{"Authorization": "Bearer " + write, "Idempotency-Key": "erp-2"})
	ok(resp, body, 201)
	for _, tc := range []struct{ body, hdr, code, field string }{
		{`{"amount":"1.00","note":"cash"}`, "", "invalid", "idempotency_key"},
		{`{"amount":"1.00","note":"cash","idempotency_key":"a"}`, "b", "invalid", "idempotency_key"},
		{`{"amount":"1,00","note":"cash","idempotency_key":"erp-3"}`, "", "invalid", "amount"},
		{`{"amount":"1.00","idempotency_key":"erp-3"}`, "", "invalid", "note"},
		{`{"amount":"2.00","note":"cash","idempotency_key":"erp-1"}`, "", "conflict", ""},
	} {
		hdr := map[string]string{"Authorization": "Bearer " + write}
		if tc.hdr != "" {
			hdr["Idempotency-Key"] = tc.hdr
		}
		resp, body := c.do("POST", "/api/v1/subscribers/"+id+"/wallet/credits", tc.body, hdr)
		status := map[string]int{"invalid": 422, "conflict": 409}[tc.code]
		if tc.field == "" {
			if resp.StatusCode != status || !strings.Contains(body, `"code":"conflict"`) {
				t.Fatalf("%s = %d %s", tc.body, resp.StatusCode, body)
			}
			continue
		}
		wantError(t, resp, body, status, tc.code, tc.field)
	}
	resp, body = h.bearer(read, "POST", "/api/v1/subscribers/"+id+"/wallet/credits", `{"amount":"1.00","note":"x","idempotency_key":"r"}`, nil)
	wantError(t, resp, body, 403, "forbidden", "")

	// Entries, newest first, a page of one at a time.
	var pg page[ledgerEntryJSON]
	resp, body = h.bearer(read, "GET", "/api/v1/subscribers/"+id+"/wallet/entries?limit=1", "", &pg)
	ok(resp, body, 200)
	if len(pg.Data) != 1 || pg.Data[0].Amount != "1.00" || pg.Data[0].BalanceAfter != "13.50" || pg.NextCursor == "" {
		t.Fatalf("page 1 %s", body)
	}
	next := pg.NextCursor
	pg = page[ledgerEntryJSON]{}
	resp, body = h.bearer(read, "GET", "/api/v1/subscribers/"+id+"/wallet/entries?limit=1&cursor="+next, "", &pg)
	ok(resp, body, 200)
	if len(pg.Data) != 1 || pg.Data[0].Amount != "12.50" || pg.Data[0].IdempotencyKey != "erp-1" || pg.NextCursor != "" {
		t.Fatalf("page 2 %s", body)
	}
	resp, body = h.bearer(read, "GET", "/api/v1/subscribers/999999/wallet/entries", "", nil)
	wantError(t, resp, body, 404, "not_found", "id")

	// Documents.
	var docs page[invoiceJSON]
	resp, body = h.bearer(read, "GET", "/api/v1/invoices?kind=receipt&subscriber_id="+id, "", &docs)
	ok(resp, body, 200)
	if len(docs.Data) != 2 || docs.Data[1].Number != receipt || docs.Data[1].Total != "12.50" || docs.Data[0].Kind != "receipt" || docs.Data[0].Lines != nil {
		t.Fatalf("invoices %s", body)
	}
	var inv invoiceJSON
	resp, body = h.bearer(read, "GET", "/api/v1/invoices/"+receipt, "", &inv)
	ok(resp, body, 200)
	if inv.Number != receipt || inv.Username != "dora" || len(inv.Lines) != 1 || inv.Lines[0].Total != "12.50" || inv.TaxRate != "0" {
		t.Fatalf("invoice %s", body)
	}
	for _, tc := range []struct{ path, status, code, field string }{
		{"/api/v1/invoices/RCT-1999-000001", "404", "not_found", "number"},
		{"/api/v1/invoices/bogus", "404", "not_found", "number"},
		{"/api/v1/invoices?kind=bill", "422", "invalid", "kind"},
		{"/api/v1/invoices?subscriber_id=x", "422", "invalid", "subscriber_id"},
		{"/api/v1/invoices?limit=0", "422", "invalid", "limit"},
	} {
		resp, body := h.bearer(read, "GET", tc.path, "", nil)
		wantError(t, resp, body, map[string]int{"404": 404, "422": 422}[tc.status], tc.code, tc.field)
	}
	// Audited as the tokens.
	n := 0
	for _, a := range h.audit() {
		switch {
		case a.Action == "wallet.credit" && a.Actor == "token:erp" && a.Target == "subscriber:"+id:
			n++
		case a.Action == "invoice.show" && a.Actor == "token:reports":
			n++
		}
	}
	if n != 4 { // two credits and a replay, one document
		t.Fatalf("audited %d", n)
	}
}
