package portal

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tollgate/billing"
)

// TestBrowserMy: in headless Chromium a subscriber signs in with its username, sees
// /my with its live session and the 30-day graph (inline SVG, 30 bars, fitting a 390px
// phone), and changes two consents on /my/privacy (portal/e2e/my.mjs); the change is in
// the consent history with the source web. Screenshots at 390px and 1280px go to
// E2E_SCREENSHOTS (default: a temporary directory) and are checked for their width.
func TestBrowserMy(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}, PublicURL: myConfig.PublicURL})
	h.mustServe(t)
	kim := h.mustSubscriber("kim", "kim@example.net", true)
	now := h.clock.Now()
	if _, err := h.pool.Exec(context.Background(), `UPDATE subscribers SET valid_from = $2 WHERE id = $1`, kim.ID, now.AddDate(0, 0, -30)); err != nil {
		t.Fatal(err)
	}
	// A month of use, more on weekends, and a session open now.
	for i := 1; i < 30; i++ {
		start := now.AddDate(0, 0, -i).Add(-2 * time.Hour)
		down := int64(300e6 + (i%7)*250e6)
		h.mustSession("kim", "d"+itoa64(int64(i)), start, start.Add(90*time.Minute), down/8, down)
	}
	h.mustSession("kim", "live", now.Add(-40*time.Minute), time.Time{}, 15e6, 180e6)
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	mustRunE2E(t, node, chromium, "my.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_USER=kim", "E2E_PASSWORD=password-kim", "E2E_SCREENSHOTS=" + shots},
		"ok the subscriber lands on /my",
		"ok the graph has 30 day bars",
		"ok the page runs no script",
		"ok /my fits a 390px phone",
		"ok marketing is on after a reload",
		"ok SMS reminders are off after a reload",
		"ok /my fits 1280px",
		"OK signed in, saw the graph, changed consents",
	)
	hist := h.consentHistory(kim.ID)
	if len(hist) != 1 || hist[0].Source != billing.SourceWeb || hist[0].Consents != (billing.Consents{RemindersEmail: true, Marketing: true}) {
		t.Errorf("consent history %+v", hist)
	}
	for name, width := range map[string]int{"my-1280.png": 1280, "my-390.png": 390, "privacy-390.png": 390} {
		f, err := os.Open(filepath.Join(shots, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		// The phone has a device scale factor of 2.
		if err != nil || cfg.Width != width && cfg.Width != 2*width {
			t.Errorf("%s: %d px wide, %v; want %d", name, cfg.Width, err, width)
		}
	}
}
