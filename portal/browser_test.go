package portal

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mustBrowser returns node and chromium, or skips (fails under CI=true) when the browser
// test's tools are missing: scripts/install-deps.sh installs them.
func mustBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format+" (scripts/install-deps.sh installs it)", args...)
		}
		t.Skipf(format+" (run scripts/install-deps.sh)", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not installed")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("chromium not installed at %s", chromium)
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		missing("playwright-core not installed in portal/e2e")
	}
	return node, chromium
}

// TestBrowserLogin signs an admin in through /login in headless Chromium on a phone-sized
// screen, checks the dashboard and signs out (portal/e2e/login.mjs).
// E2E_SCREENSHOTS=DIR keeps a PNG of each page.
func TestBrowserLogin(t *testing.T) {
	node, chromium := mustBrowser(t)
	h := mustHarness(t, Config{Addr: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1"}})
	h.mustServe(t)
	out := mustRunE2E(t, node, chromium, "login.mjs", []string{"http://" + h.p.Addr().String()},
		[]string{"E2E_EMAIL=" + h.admin.Email, "E2E_PASSWORD=password-" + h.admin.Email},
		"ok the login page fits a 390px phone",
		"ok a wrong password shows an error",
		"ok the dashboard shows: Signed in as admin@example.com (admin).",
		"ok the session cookie is HttpOnly, SameSite=Strict, Path=/",
		"OK dashboard shown and signed out",
	)
	if strings.Contains(out, "FAIL") {
		t.Error("login.mjs reported a failure")
	}
	var actions []string
	for _, a := range h.audit() {
		if a.IP != "127.0.0.1" {
			t.Errorf("audit %+v: want the browser's address", a)
		}
		actions = append(actions, a.Action)
	}
	if got := strings.Join(actions, ","); got != "login.failure,login.success,admin.dashboard,user.list,logout" {
		t.Errorf("audit log %s", got)
	}
}

// mustServe starts the harness's portal on its address and stops it when the test ends.
func (h *harness) mustServe(t *testing.T) {
	t.Helper()
	if err := h.p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.p.Shutdown(ctx)
	})
}

// mustRunE2E runs node e2e/script with args, env added to the environment (and CHROMIUM),
// bounded to two minutes. It logs the output, stops the test when the script fails, and
// reports each line of want the script did not print. It returns the output.
func mustRunE2E(t *testing.T, node, chromium, script string, args, env []string, want ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join("e2e", script)}, args...)...)
	cmd.Env = append(append(os.Environ(), "CHROMIUM="+chromium), env...)
	b, err := cmd.CombinedOutput()
	out := string(b)
	t.Logf("%s:\n%s", script, out)
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s did not print %q", script, w)
		}
	}
	return out
}
