package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHotspotRouterFiles(t *testing.T) {
	s := MustStack(t, true)
	s.MustRun("nas", "add", "--name", "bare", "--address", "10.9.0.3", "--secret", "bare-secret-12")
	dir := filepath.Join(t.TempDir(), "router")
	// Without a login host the captive page would refuse the router's guests: explained.
	if code, _, stderr := s.run("hotspot", "router-files", "--nas", "bare", "--out", dir, "--portal-url", "http://192.0.2.10:8080/"); code != 1 ||
		!strings.Contains(stderr, `login_host: NAS "bare" has no login host`) || !strings.Contains(stderr, "tollgate nas set --name bare --login-host HOST") {
		t.Fatalf("router-files for a NAS without a login host = %d %q", code, stderr)
	}
	s.MustRun("nas", "add", "--name", "cafe", "--address", "10.9.0.2", "--secret", `s3cr"et$x-long`, "--coa-port", "3799",
		"--login-host", "hotspot.cafe.example", "--login-host", "10.5.50.1")
	var res routerFilesJSON
	out := s.MustRun("hotspot", "router-files", "--nas", "cafe", "--out", dir, "--portal-url", "http://192.0.2.10:8080/", "--json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.LoginHTML != filepath.Join(dir, "login.html") || res.SetupRSC != filepath.Join(dir, "setup.rsc") {
		t.Fatalf("--json = %s (%v)", out, err)
	}
	login, err := os.ReadFile(res.LoginHTML)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`action="http://192.0.2.10:8080/hotspot/login" method="get"`,
		`name="link-login-only" value="$(link-login-only)"`,
		`name="chap-id" value="$(chap-id)"`,
		`name="chap-challenge" value="$(chap-challenge)"`,
		`name="mac" value="$(mac)"`,
		`name="ip" value="$(ip)"`,
		`name="dst" value="$(link-orig)"`,
		`name="error" value="$(error)"`,
		"document.tollgate.submit()",
		"<noscript><button",
	} {
		if !strings.Contains(string(login), want) {
			t.Errorf("login.html lacks %s", want)
		}
	}
	rsc, err := os.ReadFile(res.SetupRSC)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`/radius add address=192.0.2.10 secret="s3cr\"et\$x-long" service=hotspot,ppp src-address=10.9.0.2 timeout=1100ms`,
		// The first login host, a name, becomes the hotspot's DNS name: link-login-only names it.
		"link-login-only must be http://hotspot.cafe.example/login",
		`/ip hotspot profile set [find] dns-name="hotspot.cafe.example"`,
		"/radius incoming set accept=yes port=3799",
		"/ip hotspot profile set [find] use-radius=yes radius-accounting=yes radius-interim-update=received html-directory-override=hotspot-tollgate login-by=http-chap,http-pap,mac-cookie",
		`/ip hotspot walled-garden add dst-host="192.0.2.10"`,
		"/ip hotspot walled-garden ip add action=accept dst-address=192.0.2.10",
		"holds the RADIUS shared secret",
	} {
		if !strings.Contains(string(rsc), want) {
			t.Errorf("setup.rsc lacks %s:\n%s", want, rsc)
		}
	}
	if fi, err := os.Stat(res.SetupRSC); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("setup.rsc mode %v (%v); want 0600", fi.Mode().Perm(), err)
	}

	// A portal by name: the RADIUS address is given; no walled-garden ip entry.
	out = s.MustRun("hotspot", "router-files", "--nas", "cafe", "--out", dir, "--portal-url", "https://wifi.example.com", "--radius-address", "192.0.2.11")
	if !strings.Contains(out, "0600") {
		t.Errorf("text output %q does not warn about the secret", out)
	}
	rsc, _ = os.ReadFile(res.SetupRSC)
	login, _ = os.ReadFile(res.LoginHTML)
	if !strings.Contains(string(rsc), "/radius add address=192.0.2.11 ") || !strings.Contains(string(rsc), `dst-host="wifi.example.com"`) ||
		strings.Contains(string(rsc), "walled-garden ip add") || !strings.Contains(string(login), `action="https://wifi.example.com/hotspot/login"`) {
		t.Errorf("portal by name:\n%s\n%s", rsc, login)
	}

	// A login host that is an address: the hotspot's own, with no DNS name.
	s.MustRun("hotspot", "router-files", "--nas", "cafe", "--out", dir, "--portal-url", "http://192.0.2.10:8080/", "--login-host", "10.5.50.1")
	rsc, _ = os.ReadFile(res.SetupRSC)
	if !strings.Contains(string(rsc), "link-login-only must be http://10.5.50.1/login") || !strings.Contains(string(rsc), `/ip hotspot profile set [find] dns-name=""`) {
		t.Errorf("login host by address:\n%s", rsc)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--nas", "cafe", "--out", dir, "--portal-url", "http://192.0.2.10", "--login-host", "evil.example"}, 1, `login_host: "evil.example" is not a login host of NAS "cafe"`},
		{[]string{"--nas", "nope", "--out", dir, "--portal-url", "http://192.0.2.10"}, 1, `nas: no NAS named "nope"`},
		{[]string{"--out", dir}, 2, "--nas is required"},
		{[]string{"--nas", "cafe", "--out", dir, "--portal-url", "https://wifi.example.com"}, 2, "--radius-address is required"},
		{[]string{"--nas", "cafe", "--out", dir, "--portal-url", "ftp://x"}, 1, "portal-url"},
	} {
		code, _, stderr := s.run(append([]string{"hotspot", "router-files"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("router-files %v = %d %q; want %d naming %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
}
