// Package portal is tollgate's web front: the fiber app with its server-rendered pages
// (html/template, embedded and parsed at startup), embedded static files, the JSON API
// under /api/v1, /healthz and /metrics. It is the only package that imports fiber.
//
// Every route is registered through Portal.handle with the access it admits (public, a
// session in its TOTP step, any signed-in user, admin, reseller); /admin and /reseller
// are also guarded as prefixes, so a route added there without handle is still closed.
// Every POST, PUT, PATCH and DELETE carries a CSRF token (form field "csrf" or header
// X-CSRF-Token): the session's, or before sign-in a double-submit cookie's.
package portal

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"tollgate/portal/auth"
)

// Config tunes the portal.
type Config struct {
	// Addr is the HTTP listen address (":8080").
	Addr string
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose X-Forwarded-For
	// and X-Forwarded-Proto headers are believed (nil: loopback only, for a proxy on the
	// same host). From anyone else the headers are ignored: the client address is the
	// connection's, for the rate limit and the audit log, and cookies are Secure only
	// when the connection itself is TLS.
	TrustedProxies []string
	// RequestTimeout bounds each request's context (default 10s).
	RequestTimeout time.Duration
	// OperatorName heads every printed voucher card (default "tollgate").
	OperatorName string
	// PublicURL is the portal's address as customers reach it ("https://wifi.example.com"),
	// which printed QR codes open; "" takes the scheme and host of the print request.
	PublicURL string
}

// Deps are what the portal calls. Health reports whether the stores answer; Metrics serves
// the Prometheus registry; Auth runs sign-ins over the account stores; Sessions keeps
// portal sessions; Audit is the audit log every admin handler writes. Auth, Sessions and
// Audit are required for anything but the public pages.
type Deps struct {
	Health   func(ctx context.Context) error
	Metrics  http.Handler
	Log      *slog.Logger
	Auth     *auth.Service
	Sessions auth.SessionStore
	Audit    auth.AuditLog
	// Hotspot shows vouchers on the public /hotspot/status page (nil: unavailable).
	Hotspot HotspotStatus
	// Prints reads voucher batches for their print views and CSV exports; nil leaves
	// those routes out.
	Prints PrintSource
	// Opener opens the sealed passwords of userpass vouchers for the print views and
	// CSV exports (nil: those passwords are left out).
	Opener Opener
	// Vouchers runs the NAS, plan, voucher and reseller wallet pages; nil leaves them out
	// (the reseller's home then shows no wallet).
	Vouchers *Vouchers
	// LoginHosts lists the routers the captive login page may post to (nil: none, so
	// the page shows no form).
	LoginHosts LoginHosts
}

// access is what a route admits.
type access int

const (
	accessPublic   access = iota // anyone
	accessSession                // any session, even in its TOTP step (sign-out)
	accessPending                // a session between password and TOTP code
	accessEnroll                 // a signed-in user, also one who must enroll TOTP first
	accessUser                   // a signed-in user
	accessAdmin                  // an admin
	accessReseller               // a reseller
)

func (a access) String() string {
	return [...]string{"public", "session", "pending", "enroll", "user", "admin", "reseller"}[a]
}

// route is one registered route and the access it admits.
type route struct {
	method, path string
	access       access
}

// Portal is the web server.
type Portal struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	app     *fiber.App
	pages   pages
	proxies []netip.Prefix
	metrics *metrics
	routes  []route
	ln      net.Listener
	// statusLimit rate-limits /hotspot/status lookups per client address.
	statusLimit *bucket
	// loginHosts caches Deps.LoginHosts for the captive login page.
	loginHosts *loginHostCache
}

// New builds the app and its routes. It fails on a TrustedProxies entry that is not an
// address or CIDR.
func New(cfg Config, deps Deps) (*Portal, error) {
	if cfg.TrustedProxies == nil {
		cfg.TrustedProxies = []string{"127.0.0.1", "::1"}
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.OperatorName == "" {
		cfg.OperatorName = "tollgate"
	}
	p := &Portal{cfg: cfg, deps: deps, log: deps.Log, pages: mustParsePages(), metrics: newMetrics(), statusLimit: newBucket(10, 10),
		loginHosts: newLoginHostCache(deps.LoginHosts)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, s := range cfg.TrustedProxies {
		pfx, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("portal: trusted proxy %q: %w", s, err)
		}
		p.proxies = append(p.proxies, pfx)
	}
	p.app = fiber.New(fiber.Config{
		DisableStartupMessage:   true,
		ReadTimeout:             15 * time.Second,
		WriteTimeout:            30 * time.Second,
		IdleTimeout:             60 * time.Second,
		BodyLimit:               1 << 20,
		ErrorHandler:            p.errorHandler,
		EnableTrustedProxyCheck: true, // c.Protocol() reads X-Forwarded-Proto from these only
		TrustedProxies:          cfg.TrustedProxies,
	})
	p.app.Use(recover.New())
	p.app.Use(p.base)
	p.app.Use(p.loadSession)
	p.app.Use(p.checkCSRF)
	p.app.Use("/admin", p.guard(accessAdmin))
	p.app.Use("/reseller", p.guard(accessReseller))

	p.handle("GET", "/healthz", accessPublic, p.healthz)
	if deps.Metrics != nil {
		p.handle("GET", "/metrics", accessPublic, adaptor.HTTPHandler(deps.Metrics))
	}
	p.handle("GET", "/static/:name", accessPublic, serveStatic)
	p.handle("GET", "/", accessPublic, p.home)

	p.handle("GET", "/login", accessPublic, p.loginPage)
	p.handle("POST", "/login", accessPublic, p.loginSubmit)
	p.handle("GET", "/login/totp", accessPending, p.totpPage)
	p.handle("POST", "/login/totp", accessPending, p.totpSubmit)
	p.handle("POST", "/logout", accessSession, p.logout)
	p.handle("GET", "/account/totp", accessEnroll, p.enrollPage)
	p.handle("POST", "/account/totp", accessEnroll, p.enrollSubmit)

	p.handle("GET", "/admin", accessAdmin, p.adminDashboard)
	p.handle("GET", "/admin/users", accessAdmin, p.adminUsers)
	p.handle("POST", "/admin/users/:id/totp", accessAdmin, p.adminRequireTOTP)
	p.handle("POST", "/admin/users/:id/unlock", accessAdmin, p.adminUnlock)

	p.handle("GET", "/reseller", accessReseller, p.resellerHome)
	p.registerPrint()
	p.registerVouchers()

	// The guest pages: public, GET only (the login form posts to the router, not to us).
	p.handle("GET", "/hotspot/login", accessPublic, p.hotspotLogin)
	p.handle("GET", "/hotspot/status", accessPublic, p.hotspotStatus)

	p.handle("GET", "/api/v1/csrf", accessPublic, p.apiCSRF)
	p.handle("POST", "/api/v1/login", accessPublic, p.apiLogin)
	p.handle("POST", "/api/v1/login/totp", accessPending, p.apiLoginTOTP)
	p.handle("POST", "/api/v1/logout", accessSession, p.apiLogout)
	p.handle("GET", "/api/v1/me", accessEnroll, p.apiMe)
	return p, nil
}

// handle registers h for method and path behind the guard of a.
func (p *Portal) handle(method, path string, a access, h fiber.Handler) {
	p.routes = append(p.routes, route{method: method, path: path, access: a})
	p.app.Add(method, path, p.guard(a), h)
}

// parsePrefix reads "10.0.0.1" or "10.0.0.0/8".
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// base gives each request a context with a deadline and the security headers every
// answer carries.
func (p *Portal) base(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), p.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	return c.Next()
}

func (p *Portal) healthz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if p.deps.Health != nil {
		if err := p.deps.Health(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "error": err.Error()})
		}
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// home sends each visitor where they belong.
func (p *Portal) home(c *fiber.Ctx) error {
	return c.Redirect(homeOf(session(c)), fiber.StatusSeeOther)
}

// homeOf is the first page of a session.
func homeOf(s *auth.Session) string {
	switch {
	case s == nil:
		return "/login"
	case s.Pending:
		return "/login/totp"
	case s.MustEnroll:
		return "/account/totp"
	case s.Role == auth.RoleAdmin:
		return "/admin"
	case s.Role == auth.RoleReseller:
		return "/reseller"
	}
	return "/login"
}

// clientIP is the connection's address, or behind a trusted proxy the right-most
// X-Forwarded-For entry that is not itself a trusted proxy (the left ones are whatever
// the client wrote).
func (p *Portal) clientIP(c *fiber.Ctx) string {
	remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	remote = remote.Unmap()
	if !p.trusted(remote) {
		return remote.String()
	}
	parts := strings.Split(c.Get(fiber.HeaderXForwardedFor), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			break
		}
		if a = a.Unmap(); !p.trusted(a) {
			return a.String()
		}
	}
	return remote.String()
}

func (p *Portal) trusted(a netip.Addr) bool {
	for _, pfx := range p.proxies {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// secure reports whether the request reached us over TLS: directly, or through a
// trusted proxy that says so in X-Forwarded-Proto (fiber's Protocol checks the proxy).
func secure(c *fiber.Ctx) bool { return c.Protocol() == "https" }

// isAPI reports whether the request is for the JSON API.
func isAPI(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/api/") }

// Start listens and serves in the background.
func (p *Portal) Start() error {
	ln, err := net.Listen("tcp", p.cfg.Addr)
	if err != nil {
		return err
	}
	p.ln = ln
	go func() { _ = p.app.Listener(ln) }()
	return nil
}

// Addr returns the bound address.
func (p *Portal) Addr() net.Addr {
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

// Shutdown stops the server, waiting for requests in flight until ctx ends. Safe twice.
func (p *Portal) Shutdown(ctx context.Context) error {
	if p.ln == nil {
		return nil
	}
	p.ln = nil
	return p.app.ShutdownWithContext(ctx)
}

// Test runs one request through the app (for tests).
func (p *Portal) Test(req *http.Request) (*http.Response, error) { return p.app.Test(req, -1) }
