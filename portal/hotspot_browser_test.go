package portal

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMD5JS checks static/hotspot-md5.js against crypto/md5 on the lengths around its
// padding boundaries and on every byte value, in node.
func TestMD5JS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("node not installed")
	}
	var inputs [][]byte
	for _, n := range []int{0, 1, 3, 17, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + n)
		}
		inputs = append(inputs, b)
	}
	var js, want []string
	for _, in := range inputs {
		js = append(js, jsBytes(in))
		sum := md5.Sum(in)
		want = append(want, hex.EncodeToString(sum[:]))
	}
	script := `const fs=require('fs'),vm=require('vm'),c={};` +
		`vm.runInNewContext(fs.readFileSync(process.argv[1],'utf8'),c);` +
		`for (const b of [` + strings.Join(js, ",") + `]) console.log(c.tollgateMD5Hex(b));`
	out, err := exec.Command(node, "-e", script, filepath.Join("static", "hotspot-md5.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v: %s", err, out)
	}
	got := strings.Fields(string(out))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("hotspot-md5.js:\n got %v\nwant %v", got, want)
	}
}

// jsBytes is b as a JavaScript array literal.
func jsBytes(b []byte) string {
	s := make([]string, len(b))
	for i, c := range b {
		s[i] = itoa64(int64(c))
	}
	return "[" + strings.Join(s, ",") + "]"
}

// fakeRouter is a RouterOS link-login-only: it records each login form.
type fakeRouter struct {
	mu     sync.Mutex
	logins []url.Values
}

func (f *fakeRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		http.Error(w, "want a POSTed form", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.logins = append(f.logins, r.PostForm)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/html")
	w.Write([]byte("<!doctype html><title>router</title><p>fake router got the login</p>"))
}

// TestBrowserHotspotLogin logs a guest in through /hotspot/login in headless Chromium
// (portal/e2e/hotspot.mjs), once with CHAP and once with PAP, and checks what the fake
// router received: the CHAP response computed in the browser must be Go's
// MD5(id ‖ code ‖ challenge). The fake router's host, 127.0.0.1, is the one configured
// login host; the same router named "localhost" is not, and its page shows an error and
// no form, and a form pointed there by script is stopped by the page's CSP: the router
// gets exactly the two logins. E2E_SCREENSHOTS=DIR keeps the login and error pages at
// 390px and 1280px.
func TestBrowserHotspotLogin(t *testing.T) {
	node, chromium := mustBrowser(t)
	p, err := New(Config{Addr: "127.0.0.1:0"}, Deps{Hotspot: &fakeShow{}, LoginHosts: &fakeLoginHosts{hosts: []string{"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	router := &fakeRouter{}
	rs := httptest.NewServer(router)
	defer rs.Close()
	base := "http://" + p.Addr().String() + "/hotspot/login?"
	chap := base + routerQuery(rs.URL+"/login", `\371`, octal(testChallenge)).Encode()
	pap := base + routerQuery(rs.URL+"/login", "", "").Encode()
	foreign := base + routerQuery(strings.Replace(rs.URL, "127.0.0.1", "localhost", 1)+"/login", "", "").Encode()
	const code = "K7Q2MX9P"

	var env []string
	if dir := os.Getenv("E2E_SCREENSHOTS"); dir != "" {
		env = append(env, "E2E_SCREENSHOTS="+dir)
	}
	mustRunE2E(t, node, chromium, "hotspot.mjs", []string{code, foreign, chap, pap}, env,
		"ok a foreign router's login page has no form",
		"ok a form pointed at another host is blocked by form-action",
		"ok the error page fits 1280px",
		"OK hotspot logins posted to the router")
	router.mu.Lock()
	defer router.mu.Unlock()
	if len(router.logins) != 2 {
		t.Fatalf("the router got %d logins: %v", len(router.logins), router.logins)
	}
	c, pp := router.logins[0], router.logins[1]
	if want := chapResponse(0o371, code, testChallenge); c.Get("username") != code || c.Get("password") != want {
		t.Errorf("CHAP login: %v; want username %s password %s", c, code, want)
	}
	if c.Get("dst") != "http://example.com/" || c.Get("popup") != "true" || c.Has("csrf") {
		t.Errorf("CHAP login fields: %v", c)
	}
	if pp.Get("username") != code || pp.Get("password") != code {
		t.Errorf("PAP login: %v; want the code as username and password", pp)
	}
}
