package portal

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrowserDisableUser: in headless Chromium an admin disables a reseller on the users
// page, and the reseller's open session is gone at its next request; Enable undoes it
// (portal/e2e/users.mjs). Screenshots of the users page at 1280px and 390px go to
// E2E_SCREENSHOTS (default: a temporary directory) and are checked for their width.
func TestBrowserDisableUser(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}})
	h.mustServe(t)
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	mustRunE2E(t, node, chromium, "users.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_ADMIN_EMAIL=" + h.admin.Email, "E2E_ADMIN_PASSWORD=password-" + h.admin.Email,
			"E2E_USER_EMAIL=" + h.reseller.Email, "E2E_USER_PASSWORD=password-" + h.reseller.Email,
			"E2E_SCREENSHOTS=" + shots},
		"ok the users page fits a 390px phone",
		"ok after Disable the card says disabled",
		"ok the disabled user's next request lands on /login",
		"ok the disabled user cannot sign in again",
		"ok after Enable the card says active",
		"OK disabled a user, whose session ended, and enabled it again",
	)
	var actions []string
	for _, a := range h.audit() {
		if strings.HasPrefix(a.Action, "user.") && a.Action != "user.list" {
			actions = append(actions, a.Action+" "+a.Target)
		}
	}
	id := itoa64(h.reseller.ID)
	if got := strings.Join(actions, ","); got != "user.disable user:"+id+",user.enable user:"+id {
		t.Errorf("audit log %s", got)
	}
	for name, width := range map[string]int{"users-1280.png": 1280, "users-390.png": 390} {
		f, err := os.Open(filepath.Join(shots, name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != width {
			t.Errorf("%s: %d px wide, %v; want %d", name, cfg.Width, err, width)
		}
	}
}
