package portal

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/hotspot"
	authredis "tollgate/portal/auth/redis"
	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// fakeShow serves one voucher, "GOOD1234", and a revoked one, "REVOKED1"; a code with
// other than letters and digits is malformed.
type fakeShow struct {
	mu    sync.Mutex
	calls int
}

func (f *fakeShow) ShowCode(ctx context.Context, code string) (*hotspot.Status, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		return nil, radius.Errorf(radius.EINVALID, "code: %q is not a voucher code", code)
	}
	if code == "REVOKED1" {
		return &hotspot.Status{Voucher: hotspot.Voucher{CodeHint: radius.MaskCode(code), State: radius.VoucherRevoked}, Now: radius.VoucherRevoked}, nil
	}
	if code != "GOOD1234" {
		return nil, radius.Errorf(radius.ENOTFOUND, "code: no voucher %q", code)
	}
	return &hotspot.Status{
		Voucher: hotspot.Voucher{CodeHint: radius.MaskCode(code), UptimeLimit: 3 * time.Hour, DataLimit: 2e9, ActivatedAt: time.Now(),
			ValidUntil: time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC)},
		Usage: radius.Usage{Uptime: 55 * time.Minute, Bytes: 5e8},
		Now:   radius.VoucherActive,
	}, nil
}

// fakeLoginHosts serves fixed login hosts, or fails with err, and counts its reads.
type fakeLoginHosts struct {
	mu    sync.Mutex
	hosts []string
	err   error
	reads int
}

func (f *fakeLoginHosts) LoginHosts(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	return append([]string(nil), f.hosts...), nil
}

// guestPortal is a portal with only the guest pages' dependencies: a fake voucher
// lookup and the rate limits in Redis (no database).
func guestPortal(t *testing.T) (*Portal, *fakeShow) {
	t.Helper()
	f := &fakeShow{}
	rdb, prefix := radiustest.MustRedis(t)
	return mustGuestPortal(t, Config{StatusMinTime: time.Millisecond}, f, authredis.New(rdb, prefix)), f
}

// mustGuestPortal is a portal for guests with cfg (test defaults filled in), show and
// limits.
func mustGuestPortal(t *testing.T, cfg Config, show HotspotStatus, limits RateLimiter) *Portal {
	t.Helper()
	if cfg.TrustedProxies == nil {
		cfg.TrustedProxies = []string{"0.0.0.0"}
	}
	if cfg.OperatorName == "" {
		cfg.OperatorName = "Cafe <Wi-Fi>"
	}
	p, err := New(cfg, Deps{Hotspot: show, Limits: limits, LoginHosts: &fakeLoginHosts{hosts: []string{"10.5.50.1", "hotspot.example.net"}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fakeShow) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func guestGet(t *testing.T, p *Portal, path, ip string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := p.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// routerQuery is what a router's login.html forwards, as tollgate hotspot router-files
// writes it: chap-id and chap-challenge as RouterOS's octal escapes.
func routerQuery(linkLoginOnly, chapID, challenge string) url.Values {
	return url.Values{
		"link-login-only": {linkLoginOnly},
		"chap-id":         {chapID},
		"chap-challenge":  {challenge},
		"mac":             {"AA:BB:CC:DD:EE:FF"},
		"ip":              {"10.5.50.7"},
		"dst":             {"http://example.com/"},
		"error":           {""},
	}
}

// octal writes b as RouterOS writes $(chap-challenge).
func octal(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteString("\\")
		sb.WriteString(string([]byte{'0' + c>>6, '0' + (c>>3)&7, '0' + c&7}))
	}
	return sb.String()
}

var testChallenge = []byte{0x12, 0xff, 0x00, 0x7f, 0x80, 0x41, 0x5c, 0x22, 0x01, 0x02, 0x03, 0x04, 0xa5, 0x5a, 0xfe, 0x10}

func TestDecodeOctal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		bad  bool
	}{
		{in: `\371`, want: []byte{0o371}},
		{in: octal(testChallenge), want: testChallenge},
		{in: `\0\12\377`, want: []byte{0, 10, 255}},
		{in: `ab\x41\\`, want: []byte("abA\\")},
		{in: `\400`, bad: true},
		{in: `\`, bad: true},
		{in: `\x4`, bad: true},
		{in: `\xZZ`, bad: true},
	} {
		got, err := decodeOctal(tc.in)
		if tc.bad != (err != nil) || (!tc.bad && string(got) != string(tc.want)) {
			t.Errorf("decodeOctal(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestFriendlyError(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "",
		"invalid username or password":          "not accepted",
		"user 7KQ2MX has reached uptime limit":  "time on this voucher is used up",
		"user 7KQ2MX has reached traffic limit": "data on this voucher is used up",
		"no more sessions are allowed for user": "already in use on another device",
		"RADIUS server is not responding":       "not answering right now",
		"something odd happened":                "did not log you in: something odd happened",
		"voucher expired":                       "has expired",
	} {
		if got := friendlyError(in); !strings.Contains(got, want) || (want == "" && got != "") {
			t.Errorf("friendlyError(%q) = %q; want it to say %q", in, got, want)
		}
	}
}

func TestLoginAction(t *testing.T) {
	for in, ok := range map[string]bool{
		"http://10.5.50.1/login":         true,
		"https://hotspot.example/login":  true,
		"http://[fe80::1]:8080/login":    true,
		"javascript:alert(1)":            false,
		"data:text/html,x":               false,
		"//evil.example/login":           false,
		"http://user:pw@10.5.50.1/login": false,
		"ftp://10.5.50.1/":               false,
		"":                               false,
		"http://a b/":                    false,
	} {
		if _, err := loginAction(in); (err == nil) != ok {
			t.Errorf("loginAction(%q) = %v; want ok=%v", in, err, ok)
		}
	}
}

func TestHotspotLoginPage(t *testing.T) {
	p, _ := guestPortal(t)
	q := routerQuery("http://10.5.50.1/login", `\371`, octal(testChallenge))
	q.Set("code", "AB12CD34")
	resp, body := guestGet(t, p, "/hotspot/login?"+q.Encode(), "10.5.50.7")
	if resp.StatusCode != 200 {
		t.Fatalf("= %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`action="http://10.5.50.1/login"`,
		`data-chap-id="f9"`,
		`data-chap-challenge="` + hex.EncodeToString(testChallenge) + `"`,
		`name="username" type="text" value="AB12CD34"`,
		`name="dst" value="http://example.com/"`,
		`name="popup" value="true"`,
		`<script src="/static/hotspot-md5.js">`,
		"Cafe &lt;Wi-Fi&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if strings.Contains(body, `name="csrf"`) {
		t.Error("the guest form posts to the router: it must not carry our CSRF token")
	}
	// The form may post to that router only.
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "default-src 'self'; img-src 'self' data:; form-action http://10.5.50.1; frame-ancestors 'none'; base-uri 'none'" {
		t.Errorf("CSP %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("the login page (a one-time challenge) must not be cached")
	}

	// PAP: no chap-id, no CHAP data.
	_, body = guestGet(t, p, "/hotspot/login?"+routerQuery("http://10.5.50.1/login", "", "").Encode(), "10.5.50.7")
	if !strings.Contains(body, `data-chap-id=""`) || !strings.Contains(body, `action="http://10.5.50.1/login"`) {
		t.Errorf("PAP page: %s", body)
	}

	// The static files are served.
	for _, f := range []string{"hotspot.js", "hotspot-md5.js", "hotspot.css"} {
		if resp, _ := guestGet(t, p, "/static/"+f, "10.5.50.7"); resp.StatusCode != 200 {
			t.Errorf("/static/%s = %d", f, resp.StatusCode)
		}
	}
}

func TestHotspotLoginRefusesBadParameters(t *testing.T) {
	p, _ := guestPortal(t)
	for name, q := range map[string]url.Values{
		"no link":         routerQuery("", `\371`, octal(testChallenge)),
		"javascript link": routerQuery("javascript:alert(1)", `\371`, octal(testChallenge)),
		"bad chap-id":     routerQuery("http://10.5.50.1/login", `\999`, octal(testChallenge)),
		"two-byte id":     routerQuery("http://10.5.50.1/login", `\371\372`, octal(testChallenge)),
		"no challenge":    routerQuery("http://10.5.50.1/login", `\371`, ""),
	} {
		resp, body := guestGet(t, p, "/hotspot/login?"+q.Encode(), "10.5.50.7")
		if resp.StatusCode != 400 || !strings.Contains(body, "login link is incomplete") || strings.Contains(body, "<form id=\"hotspot-login\"") {
			t.Errorf("%s: = %d %s", name, resp.StatusCode, body)
		}
		if strings.Contains(body, "javascript:") {
			t.Errorf("%s: the bad link is reflected", name)
		}
	}
}

// TestHotspotLoginHosts: the login page shows its form only for a link-login-only whose
// host is a configured login host, and its CSP lets the form post to that origin alone;
// any other host gets an error and no form.
func TestHotspotLoginHosts(t *testing.T) {
	p, _ := guestPortal(t)
	for _, tt := range []struct {
		link       string
		formAction string // "" means refused
	}{
		{"http://10.5.50.1/login", "http://10.5.50.1"},
		{"https://Hotspot.Example.NET:8443/login", "https://hotspot.example.net:8443"},
		{"http://10.5.50.2/login", ""},
		{"http://evil.example/login", ""},
		{"http://hotspot.example.net.evil.example/login", ""},
		{"http://[fe80::1]/login", ""},
		{"http://0x0a.5.50.1/login", ""},
	} {
		t.Run(tt.link, func(t *testing.T) {
			resp, body := guestGet(t, p, "/hotspot/login?"+routerQuery(tt.link, `\371`, octal(testChallenge)).Encode(), "10.5.50.7")
			csp := resp.Header.Get("Content-Security-Policy")
			if tt.formAction == "" {
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Wi-Fi network this page does not serve") ||
					strings.Contains(body, "<form") || !strings.Contains(csp, "form-action 'self';") {
					t.Fatalf("= %d, CSP %q: %s", resp.StatusCode, csp, body)
				}
				return
			}
			want := "form-action " + strings.ToLower(tt.formAction) + ";"
			if resp.StatusCode != 200 || !strings.Contains(body, `<form id="hotspot-login"`) || !strings.Contains(csp, want) {
				t.Fatalf("= %d, CSP %q (want %q): %s", resp.StatusCode, csp, want, body)
			}
		})
	}

	// Without a source of login hosts nothing is allowed.
	bare, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := guestGet(t, bare, "/hotspot/login?"+routerQuery("http://10.5.50.1/login", "", "").Encode(), "10.5.50.7"); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "<form") {
		t.Fatalf("no login hosts: = %d: %s", resp.StatusCode, body)
	}
}

// TestLoginHostCache: the hosts are read at most once per TTL whatever the traffic, a
// change is seen after it, and a failing read keeps the last hosts for a while, then
// fails.
func TestLoginHostCache(t *testing.T) {
	ctx := context.Background()
	src := &fakeLoginHosts{hosts: []string{"10.5.50.1"}}
	c := newLoginHostCache(src)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	check := func(h string, want bool) {
		t.Helper()
		if got, err := c.allowed(ctx, h); err != nil || got != want {
			t.Fatalf("allowed(%q) = %v, %v; want %v", h, got, err, want)
		}
	}
	for i := 0; i < 100; i++ {
		check("10.5.50.1", true)
		check("10.5.50.2", false)
	}
	if src.reads != 1 {
		t.Fatalf("%d reads for 200 lookups within the TTL", src.reads)
	}
	src.hosts = []string{"10.5.50.2"}
	now = now.Add(loginHostsTTL)
	check("10.5.50.2", true)
	check("10.5.50.1", false)

	src.err = errors.New("postgres down")
	now = now.Add(loginHostsTTL)
	check("10.5.50.2", true) // the last hosts read, still fresh enough
	check("10.5.50.2", true) // and no second read before the TTL
	if src.reads != 3 {
		t.Fatalf("reads = %d, want 3", src.reads)
	}
	now = now.Add(loginHostsStale)
	if _, err := c.allowed(ctx, "10.5.50.2"); err == nil {
		t.Fatal("hosts older than loginHostsStale still served while reads fail")
	}
	src.err = nil
	now = now.Add(loginHostsTTL)
	check("10.5.50.2", true)
}

func TestHotspotLoginEscapes(t *testing.T) {
	p, _ := guestPortal(t)
	xss := `"><script>alert(1)</script>`
	q := routerQuery("http://10.5.50.1/login", `\371`, octal(testChallenge))
	q.Set("error", xss)
	q.Set("dst", "http://example.com/"+xss)
	q.Set("code", xss)
	q.Set("mac", xss)
	resp, body := guestGet(t, p, "/hotspot/login?"+q.Encode(), "10.5.50.7")
	if resp.StatusCode != 200 {
		t.Fatalf("= %d", resp.StatusCode)
	}
	if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, `"><script`) {
		t.Fatalf("unescaped input in the page: %s", body)
	}
	if !strings.Contains(body, "did not log you in: &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the router error is not shown escaped: %s", body)
	}
	// A dst that is not http(s) is dropped.
	q.Set("dst", "javascript:alert(1)")
	_, body = guestGet(t, p, "/hotspot/login?"+q.Encode(), "10.5.50.7")
	if strings.Contains(body, "javascript:alert") || !strings.Contains(body, `name="dst" value=""`) {
		t.Errorf("javascript dst kept: %s", body)
	}
}

func TestHotspotStatusPage(t *testing.T) {
	p, f := guestPortal(t)
	resp, body := guestGet(t, p, "/hotspot/status", "192.0.2.1")
	if resp.StatusCode != 200 || !strings.Contains(body, `action="/hotspot/status"`) || f.count() != 0 {
		t.Fatalf("empty status page = %d %s", resp.StatusCode, body)
	}
	resp, body = guestGet(t, p, "/hotspot/status?code=GOOD1234", "192.0.2.1")
	if resp.StatusCode != 200 {
		t.Fatalf("= %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"In use", "2 h 5 min", "1.5 GB", "2 Jan 2030 15:04 UTC", "GOOD1234"} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q: %s", want, body)
		}
	}
	resp, body = guestGet(t, p, "/hotspot/status?code=%3Cb%3ENOPE", "192.0.2.1")
	if resp.StatusCode != 404 || !strings.Contains(body, "could not find a voucher") || strings.Contains(body, "<b>NOPE") {
		t.Fatalf("unknown code = %d %s", resp.StatusCode, body)
	}
}

// TestHotspotStatusRateLimit: lookups are limited per IPv4 address and per IPv6 /64 (10
// a minute by default): two addresses in one /64 share a counter, another /64 does not.
// Refused lookups never reach the voucher store.
func TestHotspotStatusRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name             string
		first, same, off string
	}{
		{"IPv4", "192.0.2.9", "192.0.2.9", "192.0.2.10"},
		{"IPv6 /64", "2001:db8:7:1::1", "2001:db8:7:1:abcd::99", "2001:db8:7:2::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, f := guestPortal(t)
			limited := 0
			for i := range 15 {
				ip := tc.first
				if i%2 == 1 {
					ip = tc.same
				}
				resp, body := guestGet(t, p, "/hotspot/status?code=GUESS"+itoa64(int64(i)), ip)
				if resp.StatusCode == http.StatusTooManyRequests {
					limited++
					if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many lookups") {
						t.Errorf("429 without Retry-After or its message: %s", body)
					}
				}
			}
			if limited != 5 || f.count() != 10 {
				t.Fatalf("15 quick lookups: %d limited, %d reached the service; want 5 and 10", limited, f.count())
			}
			if resp, _ := guestGet(t, p, "/hotspot/status?code=GOOD1234", tc.off); resp.StatusCode != 200 {
				t.Fatalf("another address = %d", resp.StatusCode)
			}
		})
	}
}

// TestHotspotStatusGlobalLimit: besides each address's limit, all lookups together are
// limited, and the count is in Redis, so two replicas share it. An address refused by its
// own limit does not use up everyone's.
func TestHotspotStatusGlobalLimit(t *testing.T) {
	rdb, prefix := radiustest.MustRedis(t)
	f := &fakeShow{}
	cfg := Config{StatusMinTime: time.Millisecond, StatusLimit: 3, StatusGlobalLimit: 8}
	replicas := []*Portal{
		mustGuestPortal(t, cfg, f, authredis.New(rdb, prefix)),
		mustGuestPortal(t, cfg, f, authredis.New(rdb, prefix)),
	}
	// One address goes over its own limit, on both replicas: 3 allowed.
	for i := range 6 {
		guestGet(t, replicas[i%2], "/hotspot/status?code=GUESS1", "203.0.113.1")
	}
	// Five more addresses, once each, alternating replicas: the global count reaches 8.
	for i := range 5 {
		if resp, _ := guestGet(t, replicas[i%2], "/hotspot/status?code=GUESS1", "203.0.113."+itoa64(int64(10+i))); resp.StatusCode != 404 {
			t.Fatalf("lookup %d under the global limit = %d", i+1, resp.StatusCode)
		}
	}
	for i, p := range replicas {
		resp, body := guestGet(t, p, "/hotspot/status?code=GOOD1234", "198.51.100."+itoa64(int64(i+1)))
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("replica %d past the global limit = %d %s", i+1, resp.StatusCode, body)
		}
	}
	if f.count() != 8 {
		t.Fatalf("%d lookups reached the service; want 8", f.count())
	}
}

// TestHotspotStatusNoExistenceLeak: with the real voucher store, an unknown code, a
// malformed one and a revoked one get the same answer (status, words, and no sooner
// than StatusMinTime), so the page cannot be used to learn which codes exist; a known
// code shows its status.
func TestHotspotStatusNoExistenceLeak(t *testing.T) {
	pool := radiustest.MustDB(t)
	rdb, prefix := radiustest.MustRedis(t)
	v := mustVouchers(t, pool)
	ctx := context.Background()
	if _, err := v.Plans.CreatePlan(ctx, billing.Plan{Name: "hour", Kind: radius.KindHotspot, Validity: time.Hour, UptimeLimit: time.Hour, ValidityFrom: billing.FromFirstLogin}); err != nil {
		t.Fatal(err)
	}
	g, err := v.Hotspot.Generate(ctx, hotspot.GenerateRequest{Plan: "hour", Count: 2, Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	known, revoked := g.Vouchers[0].Code, g.Vouchers[1].Code
	if _, err := v.Hotspot.Revoke(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	const floor = 60 * time.Millisecond
	p := mustGuestPortal(t, Config{StatusMinTime: floor, StatusLimit: 100}, v.Hotspot, authredis.New(rdb, prefix))
	lookup := func(code string) (int, string, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, body := guestGet(t, p, "/hotspot/status?code="+url.QueryEscape(code), "192.0.2.44")
		// The page repeats what was typed in the form; everything else must match.
		return resp.StatusCode, strings.ReplaceAll(body, html.EscapeString(code), "CODE"), time.Since(start)
	}
	status, body, took := lookup(known)
	if status != 200 || !strings.Contains(body, `id="state">Ready to use`) || took < floor {
		t.Fatalf("known code = %d after %v: %s", status, took, body)
	}
	var first string
	for _, tc := range []struct{ name, code string }{
		{"unknown", strings.Repeat("X", 10)},
		{"malformed", "not a code!"},
		{"revoked", revoked},
		{"unknown, lower case", "abcdefghij"},
	} {
		status, body, took := lookup(tc.code)
		if status != http.StatusNotFound || !strings.Contains(body, "could not find a voucher") || strings.Contains(body, "voucher-status") {
			t.Fatalf("%s = %d: %s", tc.name, status, body)
		}
		if took < floor {
			t.Fatalf("%s answered after %v; want no sooner than %v", tc.name, took, floor)
		}
		if first == "" {
			first = body
		} else if body != first {
			t.Fatalf("%s reads differently from an unknown code:\n%s\n---\n%s", tc.name, body, first)
		}
	}
}

// chapResponse is what the router checks: lowercase hex MD5(id ‖ code ‖ challenge).
func chapResponse(id byte, code string, challenge []byte) string {
	sum := md5.Sum(append(append([]byte{id}, code...), challenge...))
	return hex.EncodeToString(sum[:])
}
