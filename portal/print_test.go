package portal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"html"
	"image/png"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
	hotspotpg "tollgate/hotspot/postgres"
	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/seal"
)

// printHarness is a harness whose portal has the print views, with a hotspot plan.
type printHarness struct {
	*harness
	vouchers *hotspot.Service
	plan     *billing.Plan
}

// mustPrintHarness rebuilds the harness's portal with a PrintSource over the same
// database, and creates the plan "Day pass".
func mustPrintHarness(t *testing.T, cfg Config) *printHarness {
	t.Helper()
	h := mustHarness(t, cfg)
	sealer, err := seal.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	plans := billingpg.NewStore(h.pool)
	svc := &hotspot.Service{Store: hotspotpg.NewStore(h.pool), Plans: plans, Sealer: sealer, Codes: sealer}
	deps := h.p.deps
	deps.Prints = struct {
		*hotspot.Service
		*billingpg.Store
	}{svc, plans}
	if h.p, err = New(h.p.cfg, deps); err != nil {
		t.Fatal(err)
	}
	plan := &billing.Plan{
		Name: "Day pass", Kind: radius.KindHotspot, PriceCents: 250, Validity: 24 * time.Hour,
		UptimeLimit: 2 * time.Hour, DataLimit: 500_000_000, ValidityFrom: billing.FromFirstLogin,
	}
	if err := plans.CreatePlan(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	return &printHarness{harness: h, vouchers: svc, plan: plan}
}

// mustBatch generates n vouchers on the plan for reseller ("" for none).
func (h *printHarness) mustBatch(t *testing.T, n int, mode hotspot.Mode, reseller string) *hotspot.Generated {
	t.Helper()
	g, err := h.vouchers.Generate(context.Background(), hotspot.GenerateRequest{Plan: h.plan.Name, Count: n, Mode: mode, Reseller: reseller})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var qrImgRE = regexp.MustCompile(`<img class="qr" src="data:image/png;base64,([^"]+)"`)

// cardQRs returns the PNG of each card's QR image.
func cardQRs(t *testing.T, body string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range qrImgRE.FindAllStringSubmatch(body, -1) {
		b, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("QR data URI: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("QR is not a PNG: %v", err)
		}
		if r := img.Bounds(); r.Dx() <= 0 || r.Dy() <= 0 {
			t.Fatalf("QR image is %v", r)
		}
		out = append(out, b)
	}
	return out
}

func TestPrintA4(t *testing.T) {
	h := mustPrintHarness(t, Config{OperatorName: "Lagoon Wi-Fi", PublicURL: "https://wifi.example.com/"})
	g := h.mustBatch(t, 5, hotspot.ModeCode, "")
	admin := h.client().mustLogin(h.admin)
	resp, body := admin.get("/admin/batches/" + itoa64(g.Batch.ID) + "/print")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d: %.300s", resp.StatusCode, body)
	}
	for _, want := range []string{`href="/static/print-a4.css"`, `class="print a4"`, "Lagoon Wi-Fi", "2.50", "Day pass", "Valid 1d", "2h online", "500 MB data"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, `class="bar"`) {
		t.Error("the print view carries the navigation bar")
	}
	if n := strings.Count(body, `<section class="card">`); n != len(g.Vouchers) {
		t.Fatalf("%d cards; want %d", n, len(g.Vouchers))
	}
	qrs := cardQRs(t, body)
	if len(qrs) != len(g.Vouchers) {
		t.Fatalf("%d QR images; want one per card (%d)", len(qrs), len(g.Vouchers))
	}
	// The batch prints in the order it was made; each QR encodes its card's login URL
	// (the encoder is deterministic, so the same URL gives the same PNG).
	for i, v := range g.Vouchers {
		if !strings.Contains(body, v.Code) {
			t.Errorf("code %d missing", i)
		}
		want, err := qrPNG("https://wifi.example.com/hotspot/login?code=" + v.Code)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(qrs[i], want) {
			t.Errorf("card %d: QR does not encode its login URL", i)
		}
	}
	a := h.lastAudit()
	if a.Action != "batch.print" || a.Target != "batch:"+itoa64(g.Batch.ID) || a.Actor != h.admin.Email {
		t.Fatalf("audit %+v", a)
	}
	for _, v := range g.Vouchers {
		if strings.Contains(a.Detail, v.Code) || strings.Contains(h.logs.String(), v.Code) {
			t.Fatal("a code reached the audit log or the server log")
		}
	}
	css, err := staticFS.ReadFile("static/print-a4.css")
	if err != nil || !strings.Contains(string(css), "@page { size: A4") {
		t.Fatalf("print-a4.css: %v %s", err, css)
	}
}

func TestPrintThermal(t *testing.T) {
	h := mustPrintHarness(t, Config{})
	g := h.mustBatch(t, 3, hotspot.ModeCode, "")
	admin := h.client().mustLogin(h.admin)
	resp, body := admin.get("/admin/batches/" + itoa64(g.Batch.ID) + "/print?layout=thermal")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d: %.300s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `href="/static/print-thermal.css"`) || !strings.Contains(body, "tollgate") {
		t.Fatalf("thermal page: %.500s", body)
	}
	resp, css := admin.get("/static/print-thermal.css")
	if resp.StatusCode != http.StatusOK || !strings.Contains(css, "@page { size: 58mm auto") || !strings.Contains(css, "width: 58mm") {
		t.Fatalf("print-thermal.css = %d %s", resp.StatusCode, css)
	}
	if qrs := cardQRs(t, body); len(qrs) != 3 {
		t.Fatalf("%d QR images", len(qrs))
	}
	// Without PublicURL the QR opens the host the page was printed from.
	want, _ := qrPNG("http://example.com/hotspot/login?code=" + g.Vouchers[0].Code)
	if !bytes.Equal(cardQRs(t, body)[0], want) {
		t.Error("QR without PublicURL does not open the request's host")
	}
}

func TestPrintUserPass(t *testing.T) {
	h := mustPrintHarness(t, Config{})
	g := h.mustBatch(t, 2, hotspot.ModeUserPass, "")
	admin := h.client().mustLogin(h.admin)
	for _, layout := range []string{"a4", "thermal"} {
		_, body := admin.get("/admin/batches/" + itoa64(g.Batch.ID) + "/print?layout=" + layout)
		for _, v := range g.Vouchers {
			if !strings.Contains(body, `<b class="username">`+v.Username+"</b>") || !strings.Contains(body, v.Code) ||
				!strings.Contains(body, `<b class="password">`+v.Password+"</b>") {
				t.Fatalf("%s: userpass card lacks its username, password or code:\n%s", layout, body)
			}
		}
	}
	resp, body := admin.get("/admin/batches/" + itoa64(g.Batch.ID) + "/vouchers.csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK || len(rows) != 1+len(g.Vouchers) {
		t.Fatalf("CSV = %d, %v:\n%s", resp.StatusCode, err, body)
	}
	for i, v := range g.Vouchers {
		if r := rows[i+1]; r[0] != v.Code || r[1] != v.Username || r[2] != v.Password || v.Password == "" || v.Password == v.Code {
			t.Errorf("row %d = %q; want code, username and password of %s", i, r, v.Code)
		}
	}
	// The passwords never reach the server log or the audit log.
	for _, v := range g.Vouchers {
		if strings.Contains(h.logs.String(), v.Password) || strings.Contains(h.lastAudit().Detail, v.Password) {
			t.Fatal("a password reached a log")
		}
	}
}

func TestPrintReseller(t *testing.T) {
	h := mustPrintHarness(t, Config{})
	// Batch reseller names are single words; the harness's reseller is "Corner Shop".
	if _, err := h.p.deps.Vouchers.Resellers.CreateReseller(context.Background(), billing.NewReseller{Name: "kiosk-7"}); err != nil {
		t.Fatal(err)
	}
	shop, err := h.p.deps.Auth.CreateUser(context.Background(), auth.NewUser{Email: "kiosk@example.com", Password: "password-kiosk@example.com", Role: auth.RoleReseller, ResellerName: "kiosk-7"})
	if err != nil {
		t.Fatal(err)
	}
	own := h.mustBatch(t, 2, hotspot.ModeCode, shop.ResellerName)
	other := h.mustBatch(t, 2, hotspot.ModeCode, "other-shop")
	none := h.mustBatch(t, 2, hotspot.ModeCode, "")
	reseller := h.client().mustLogin(shop)
	resp, body := reseller.get("/reseller/batches/" + itoa64(own.Batch.ID) + "/print")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, own.Vouchers[0].Code) || len(cardQRs(t, body)) != 2 {
		t.Fatalf("own batch = %d: %.300s", resp.StatusCode, body)
	}
	if resp, body := reseller.get("/reseller/batches/" + itoa64(own.Batch.ID) + "/vouchers.csv"); resp.StatusCode != http.StatusOK || !strings.Contains(body, own.Vouchers[1].Code) {
		t.Fatalf("own CSV = %d: %.300s", resp.StatusCode, body)
	}
	for _, path := range []string{
		"/reseller/batches/" + itoa64(other.Batch.ID) + "/print",
		"/reseller/batches/" + itoa64(other.Batch.ID) + "/vouchers.csv",
		"/reseller/batches/" + itoa64(none.Batch.ID) + "/print",
		"/reseller/batches/999999/print",
		"/reseller/batches/x/print",
	} {
		resp, body := reseller.get(path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", path, resp.StatusCode)
		}
		if strings.Contains(body, other.Vouchers[0].Code) || strings.Contains(body, none.Vouchers[0].Code) {
			t.Errorf("GET %s shows another's code", path)
		}
	}
	// The admin routes stay closed to the reseller, the reseller's to the admin.
	if resp, _ := reseller.get("/admin/batches/" + itoa64(own.Batch.ID) + "/print"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("reseller on the admin print view = %d", resp.StatusCode)
	}
	admin := h.client().mustLogin(h.admin)
	if resp, _ := admin.get("/reseller/batches/" + itoa64(own.Batch.ID) + "/print"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin on the reseller print view = %d", resp.StatusCode)
	}
	if resp, _ := h.client().get("/admin/batches/" + itoa64(own.Batch.ID) + "/vouchers.csv"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("anonymous CSV = %d", resp.StatusCode)
	}
}

// TestResellerPrintLinks: the reseller's page links each batch to its print views and
// CSV, and the links open.
func TestResellerPrintLinks(t *testing.T) {
	h := mustPrintHarness(t, Config{})
	h.mustSetup()
	shop := h.client().mustLogin(h.reseller)
	resp, body, _ := buy(t, shop, "2")
	m := regexp.MustCompile(`Bought batch (\d+)`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("buy = %d: %.2000s", resp.StatusCode, body)
	}
	_, page := shop.get("/reseller")
	base := "/reseller/batches/" + m[1]
	for _, link := range []string{base + "/print?layout=a4", base + "/print?layout=thermal", base + "/vouchers.csv"} {
		if !strings.Contains(page, `href="`+html.EscapeString(link)+`"`) {
			t.Fatalf("the page lacks a link to %s: %.3000s", link, page)
		}
		resp, body := shop.get(link)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d: %.300s", link, resp.StatusCode, body)
		}
		if strings.Contains(link, "print") && strings.Count(body, `<section class="card">`) != 2 {
			t.Fatalf("GET %s: want 2 cards: %.2000s", link, body)
		}
	}
}

func TestBatchCSV(t *testing.T) {
	h := mustPrintHarness(t, Config{})
	g := h.mustBatch(t, 7, hotspot.ModeCode, "")
	admin := h.client().mustLogin(h.admin)
	resp, body := admin.get("/admin/batches/" + itoa64(g.Batch.ID) + "/vouchers.csv")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d: %.300s", resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".csv") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "code,username,password,plan,state,valid_until" {
		t.Fatalf("header %q", got)
	}
	if len(rows) != 1+len(g.Vouchers) {
		t.Fatalf("%d rows; want %d", len(rows)-1, len(g.Vouchers))
	}
	for i, v := range g.Vouchers {
		r := rows[i+1]
		if r[0] != v.Code || r[1] != v.Code || r[2] != v.Code || r[3] != "Day pass" || r[4] != "new" || r[5] != "" {
			t.Errorf("row %d = %q", i, r)
		}
	}
	a := h.lastAudit()
	if a.Action != "batch.export" || a.Target != "batch:"+itoa64(g.Batch.ID) || strings.Contains(a.Detail, g.Vouchers[0].Code) {
		t.Fatalf("audit %+v", a)
	}
}

// TestPrintRoutes: the print routes are declared with the access their prefix demands.
func TestPrintRoutes(t *testing.T) {
	h := mustPrintHarness(t, Config{})
	want := map[string]access{
		"/admin/batches/:id/print":           accessAdmin,
		"/admin/batches/:id/vouchers.csv":    accessAdmin,
		"/reseller/batches/:id/print":        accessReseller,
		"/reseller/batches/:id/vouchers.csv": accessReseller,
	}
	for _, r := range h.p.routes {
		if a, ok := want[r.path]; ok {
			if r.access != a || r.method != http.MethodGet {
				t.Errorf("%s %s admits %s", r.method, r.path, r.access)
			}
			delete(want, r.path)
		}
	}
	if len(want) != 0 {
		t.Errorf("not registered: %v", want)
	}
}

func TestPrintFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{formatPrice(250), "2.50"},
		{formatPrice(0), "0.00"},
		{formatPrice(123405), "1234.05"},
		{formatDuration(36 * time.Hour), "1d 12h"},
		{formatDuration(30 * time.Minute), "30m"},
		{formatDuration(0), "0m"},
		{formatBytes(500_000_000), "500 MB"},
		{formatBytes(1_500_000_000), "1.5 GB"},
		{formatBytes(999), "999 B"},
		{csvCell("=cmd"), "'=cmd"},
		{csvCell("ABC"), "ABC"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q; want %q", tc.got, tc.want)
		}
	}
}
