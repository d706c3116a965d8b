package portal

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"tollgate/hotspot"
)

// TestBrowserPrint signs an admin in, opens the A4 print view of a batch in headless
// Chromium, checks that every card and QR image rendered and saves the page as a PDF
// (portal/e2e/print.mjs).
func TestBrowserPrint(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustPrintHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}})
	g := h.mustBatch(t, 30, hotspot.ModeCode, "") // more than one A4 sheet of 24
	h.mustServe(t)
	pdf := filepath.Join(t.TempDir(), "batch.pdf")
	mustRunE2E(t, node, chromium, "print.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_EMAIL=" + h.admin.Email, "E2E_PASSWORD=password-" + h.admin.Email,
			"E2E_BATCH=" + itoa64(g.Batch.ID), "E2E_COUNT=" + strconv.Itoa(len(g.Vouchers)), "E2E_PDF=" + pdf},
		"ok the page shows 30 cards",
		"ok every QR image is an inline PNG that rendered (naturalWidth > 0)",
		"ok the navigation is hidden in print",
		"OK print view rendered and saved as PDF",
	)
	b, err := os.ReadFile(pdf)
	if err != nil || len(b) == 0 || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("PDF: %v, %d bytes", err, len(b))
	}
	if !containsAction(h.audit(), "batch.print") {
		t.Error("the print view was not audited")
	}
}
