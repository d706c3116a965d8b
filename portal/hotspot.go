package portal

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/hotspot"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// HotspotStatus shows a voucher to the guest who holds its code (hotspot.Service): by its
// code only, so the page tells nothing about user names.
type HotspotStatus interface {
	ShowCode(ctx context.Context, code string) (*hotspot.Status, error)
}

// hotspotView is the data of the guest pages: the layout's view plus the page's own.
type hotspotView struct {
	*view
	Name string // the operator's name (Config.OperatorName)

	// The login page: where the form posts and what it carries.
	Action     string // link-login-only, an http(s) URL
	ChapID     string // hex of the decoded chap-id byte, "" for PAP
	Challenge  string // hex of the decoded chap-challenge
	Dst        string
	Code       string
	MAC        string
	IP         string
	Unusable   bool // the router's parameters are missing or bad: no form
	Foreign    bool // link-login-only names no configured router: no form
	StatusLink string

	// The status page.
	Voucher  *hotspot.Status
	NotFound bool
	TimeLeft string
	DataLeft string
	Valid    string
	State    string
}

// routerErrors maps the texts RouterOS (and our RADIUS replies) put in $(error) to plain
// sentences, by a lowercase substring.
var routerErrors = []struct{ match, say string }{
	{"invalid username or password", "That code was not accepted. Check it and type it again."},
	{"invalid password", "That code was not accepted. Check it and type it again."},
	{"not found", "That code was not accepted. Check it and type it again."},
	{"uptime limit", "The time on this voucher is used up. Buy a new one to go on."},
	{"traffic limit", "The data on this voucher is used up. Buy a new one to go on."},
	{"no more sessions are allowed", "This voucher is already in use on another device. Disconnect it there first, or use another voucher."},
	{"radius server is not responding", "The login service is not answering right now. Please try again in a minute."},
	{"expired", "This voucher has expired. Buy a new one to go on."},
	{"revoked", "This voucher is no longer valid."},
	{"already authorizing", "Your login is still being checked. Please wait a moment."},
}

// friendlyError is the plain-words form of a router error ("" for none). An unknown text
// is shown as the router wrote it, shortened.
func friendlyError(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	low := strings.ToLower(raw)
	for _, e := range routerErrors {
		if strings.Contains(low, e.match) {
			return e.say
		}
	}
	if len(raw) > 200 {
		raw = raw[:200] + "…"
	}
	return "The hotspot did not log you in: " + raw
}

// decodeOctal decodes RouterOS's $(chap-id) and $(chap-challenge): JavaScript string
// escapes like "\371\010", one byte each (\ooo octal, \xHH, \\ and a few letters); any
// other character stands for its own byte.
func decodeOctal(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, errors.New("a trailing backslash")
		}
		switch c = s[i]; {
		case c >= '0' && c <= '7':
			n, j := 0, i
			for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
				n = n*8 + int(s[j]-'0')
			}
			if n > 255 {
				return nil, fmt.Errorf("escape \\%s is above 255", s[i:j])
			}
			out = append(out, byte(n))
			i = j - 1
		case c == 'x':
			if i+2 >= len(s) {
				return nil, errors.New("a short \\x escape")
			}
			b, err := hex.DecodeString(s[i+1 : i+3])
			if err != nil {
				return nil, fmt.Errorf("bad \\x escape %q", s[i:i+3])
			}
			out = append(out, b[0])
			i += 2
		default:
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// hostRE is what a link-login-only host may be: a name, an IPv4 address or a bracketed
// IPv6 one, with an optional port.
var hostRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

// loginAction validates link-login-only: an absolute http(s) URL with a plain host and
// no credentials. It returns the URL to post to.
func loginAction(s string) (string, error) {
	if s == "" {
		return "", errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("not an http or https URL")
	}
	if u.User != nil || u.Host == "" || !hostRE.MatchString(u.Host) {
		return "", errors.New("not a plain host")
	}
	return u.String(), nil
}

// hotspotLogin renders the guest's login page from the parameters RouterOS passes to an
// external login page (the router's login.html forwards them here; see tollgate hotspot
// router-files). The form posts to the router, never to us, so it carries no CSRF token
// of ours; the CHAP response is computed in the browser (static/hotspot.js).
func (p *Portal) hotspotLogin(c *fiber.Ctx) error {
	v := &hotspotView{view: &view{Title: "Log in"}, Name: p.cfg.OperatorName}
	v.Code = strings.TrimSpace(c.Query("code"))
	v.MAC, v.IP = c.Query("mac"), c.Query("ip")
	v.Error = friendlyError(c.Query("error"))
	v.StatusLink = "/hotspot/status"
	dst := c.Query("dst")
	if d, err := url.Parse(dst); err == nil && (d.Scheme == "http" || d.Scheme == "https") {
		v.Dst = d.String()
	}
	action, err := loginAction(c.Query("link-login-only"))
	if err != nil {
		v.Unusable = true
		return p.renderHotspot(c, fiber.StatusBadRequest, "hotspot-login", v)
	}
	// The form posts the guest's code to link-login-only: only to a router the operator
	// configured (a NAS's login host), never to whatever host a link names.
	u, _ := url.Parse(action)
	host, ok, err := p.loginHost(c.UserContext(), u.Hostname())
	if err != nil {
		return err
	}
	if !ok {
		v.Foreign = true
		return p.renderHotspot(c, fiber.StatusForbidden, "hotspot-login", v)
	}
	v.Action = action
	if id := c.Query("chap-id"); id != "" {
		idb, err1 := decodeOctal(id)
		ch, err2 := decodeOctal(c.Query("chap-challenge"))
		if err1 != nil || err2 != nil || len(idb) != 1 || len(ch) == 0 || len(ch) > 64 {
			v.Unusable = true
			return p.renderHotspot(c, fiber.StatusBadRequest, "hotspot-login", v)
		}
		v.ChapID, v.Challenge = hex.EncodeToString(idb), hex.EncodeToString(ch)
	}
	// The form posts across origins to that router and nowhere else.
	origin := u.Scheme + "://" + host
	if u.Port() != "" {
		origin += ":" + u.Port()
	}
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action "+origin+"; frame-ancestors 'none'; base-uri 'none'")
	return p.renderHotspot(c, fiber.StatusOK, "hotspot-login", v)
}

// LoginHosts lists the hosts the captive login page may post a guest's login to: the
// login hosts of every NAS (radius/postgres.Store), normalized by radius.ParseLoginHost.
type LoginHosts interface {
	LoginHosts(ctx context.Context) ([]string, error)
}

// How long the login hosts are kept before they are read again, and how long the last
// ones read serve on while reading fails.
const (
	loginHostsTTL   = 5 * time.Second
	loginHostsStale = time.Minute
)

// loginHostCache keeps the login hosts in memory: the login page is public, so whatever
// its traffic it reads the store at most once per loginHostsTTL.
type loginHostCache struct {
	src LoginHosts
	now func() time.Time

	mu       sync.Mutex
	hosts    map[string]bool
	loadedAt time.Time // when hosts were read; zero: never
	next     time.Time // when to read them again
	err      error     // the last read's error
}

func newLoginHostCache(src LoginHosts) *loginHostCache {
	return &loginHostCache{src: src, now: time.Now}
}

// loginHost normalizes host (a URL's Hostname) and reports whether it is a NAS's login
// host.
func (p *Portal) loginHost(ctx context.Context, host string) (string, bool, error) {
	h, err := radius.ParseLoginHost(host)
	if err != nil || p.loginHosts.src == nil {
		return "", false, nil
	}
	ok, err := p.loginHosts.allowed(ctx, h)
	return h, ok, err
}

// allowed reports whether h is among the hosts, reading them when they are older than
// loginHostsTTL. When reading fails, the last hosts read serve for loginHostsStale.
func (c *loginHostCache) allowed(ctx context.Context, h string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !now.Before(c.next) {
		c.next = now.Add(loginHostsTTL)
		list, err := c.src.LoginHosts(ctx)
		c.err = err
		if err == nil {
			c.hosts = make(map[string]bool, len(list))
			for _, x := range list {
				c.hosts[x] = true
			}
			c.loadedAt = now
		}
	}
	if c.err != nil && (c.loadedAt.IsZero() || now.Sub(c.loadedAt) > loginHostsStale) {
		return false, fmt.Errorf("portal: login hosts: %w", c.err)
	}
	return c.hosts[h], nil
}

// hotspotStatus shows a voucher's time and data left to the guest who holds its code.
//
// Guessing codes here is slow and tells nothing: lookups are limited per client address
// (an IPv4 address or an IPv6 /64, Config.StatusLimit a minute) and for everyone
// together (Config.StatusGlobalLimit), in Redis, so every replica counts alike; and a
// code that is unknown, malformed or revoked gets one and the same answer (404, the
// same words), sent no sooner than Config.StatusMinTime after the lookup began, like a
// known code's. A revoked voucher is answered as unknown because the page cannot tell
// its holder from someone who found the code: a revoked code is one an operator took
// back, perhaps because it leaked.
func (p *Portal) hotspotStatus(c *fiber.Ctx) error {
	v := &hotspotView{view: &view{Title: "Voucher status"}, Name: p.cfg.OperatorName}
	code := strings.TrimSpace(c.Query("code"))
	if code == "" {
		return p.renderHotspot(c, fiber.StatusOK, "hotspot-status", v)
	}
	v.Code = strings.Clone(code)
	if p.deps.Hotspot == nil || p.deps.Limits == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "voucher status is not available here")
	}
	ctx := c.UserContext()
	if wait, err := p.statusAllowed(ctx, p.clientIP(c)); err != nil {
		return err
	} else if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds())+1))
		v.Error = "Too many lookups. Please wait a minute and try again."
		return p.renderHotspot(c, fiber.StatusTooManyRequests, "hotspot-status", v)
	}
	start := time.Now()
	st, err := p.deps.Hotspot.ShowCode(ctx, v.Code)
	switch code := radius.ErrorCode(err); {
	case code == "" && st.Now == radius.VoucherRevoked,
		code == radius.ENOTFOUND, code == radius.EINVALID:
		st, err = nil, nil
	case err != nil:
		return err
	}
	// Answer no sooner than StatusMinTime after the lookup began, found or not.
	select {
	case <-time.After(time.Until(start.Add(p.cfg.StatusMinTime))):
	case <-ctx.Done():
		return ctx.Err()
	}
	if st == nil {
		v.NotFound = true
		return p.renderHotspot(c, fiber.StatusNotFound, "hotspot-status", v)
	}
	v.Voucher = st
	v.State = stateWords(st.Now)
	v.TimeLeft, v.DataLeft, v.Valid = "no limit", "no limit", "no end date"
	if st.UptimeLimit > 0 {
		v.TimeLeft = durationWords(max(st.UptimeLimit-st.Usage.Uptime, 0))
	}
	if st.DataLimit > 0 {
		v.DataLeft = bytesWords(max(st.DataLimit-st.Usage.Bytes, 0))
	}
	if !st.ValidUntil.IsZero() {
		v.Valid = st.ValidUntil.UTC().Format("2 Jan 2006 15:04 UTC")
	} else if st.ActivatedAt.IsZero() {
		v.Valid = "counted from the first login"
	}
	return p.renderHotspot(c, fiber.StatusOK, "hotspot-status", v)
}

// statusWindow is the window of the status page's rate limits.
const statusWindow = time.Minute

// statusAllowed counts one status lookup from ip and returns how long it must wait (0:
// go on). The client's address is counted first and a refused lookup is not counted
// globally, so one address over its limit cannot use up everyone's.
func (p *Portal) statusAllowed(ctx context.Context, ip string) (time.Duration, error) {
	n, reset, err := p.deps.Limits.Hit(ctx, "status:"+auth.AddrKey(ip), statusWindow)
	if err != nil {
		return 0, err
	}
	if n > p.cfg.StatusLimit {
		return max(reset, time.Second), nil
	}
	n, reset, err = p.deps.Limits.Hit(ctx, "status:*", statusWindow)
	if err != nil {
		return 0, err
	}
	if n > p.cfg.StatusGlobalLimit {
		return max(reset, time.Second), nil
	}
	return 0, nil
}

func stateWords(s radius.VoucherState) string {
	switch s {
	case radius.VoucherNew, radius.VoucherSold:
		return "Ready to use"
	case radius.VoucherActive:
		return "In use"
	case radius.VoucherExpired:
		return "Expired"
	case radius.VoucherExhausted:
		return "Used up"
	case radius.VoucherRevoked:
		return "No longer valid"
	}
	return string(s)
}

// durationWords is "2 h 5 min" or "45 min".
func durationWords(d time.Duration) string {
	d = d.Truncate(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h >= 48:
		return fmt.Sprintf("%d days %d h", h/24, h%24)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d min", m)
}

// bytesWords is "1.5 GB" (decimal units, as phones show them).
func bytesWords(n int64) string {
	switch {
	case n >= 1e9:
		return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + " GB"
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e3, 'f', 0, 64) + " kB"
}

// renderHotspot renders a guest page with its own data; like render, never cached.
func (p *Portal) renderHotspot(c *fiber.Ctx, status int, page string, v *hotspotView) error {
	t, ok := p.pages[page]
	if !ok {
		return fiber.NewError(fiber.StatusInternalServerError, "no page "+page)
	}
	if v.Name == "" {
		v.Name = "Wi-Fi"
	}
	v.view.Status = status
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}
