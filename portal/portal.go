// Package portal is tollgate's web front: the fiber app with its server-rendered pages
// (html/template, embedded and parsed at startup), embedded static files, the JSON API
// under /api/v1, /healthz and /metrics. It is the only package that imports fiber.
//
// Every route is registered through Portal.handle with the access it admits (public, a
// session in its TOTP step, any signed-in user, admin, reseller); /admin and /reseller
// are also guarded as prefixes, so a route added there without handle is still closed.
// Every POST, PUT, PATCH and DELETE carries a CSRF token (form field "csrf" or header
// X-CSRF-Token): the session's, or before sign-in a double-submit cookie's.
//
// With Config.AdminAddr set the portal is two fiber apps on two listeners: the guests'
// (Config.Addr) serves the captive pages, the subscribers' pages and their sign-in,
// /static and /healthz, and the staff's (AdminAddr) everything but the captive pages; a
// staff route asked for on the guests' listener is 404, and a staff account cannot sign
// in there. Which routes go where is decided in one place, surfaceOf.
package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"tollgate/portal/auth"
)

// Config tunes the portal.
type Config struct {
	// Addr is the HTTP listen address (":8080"): with AdminAddr set, the guests' one.
	Addr string
	// AdminAddr, when set, is the listen address of the admin and reseller pages,
	// /api/v1 and /metrics, which Addr then no longer serves (see surfaceOf). Operators
	// keep it on loopback or a management network, away from the hotspot.
	AdminAddr string
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
	// StatusLimit lookups a minute are allowed on /hotspot/status per client address (an
	// IPv4 address or an IPv6 /64), and StatusGlobalLimit from everyone together, counted
	// in Redis across replicas (defaults 10 and 600).
	StatusLimit       int64
	StatusGlobalLimit int64
	// StatusMinTime is the least time a status lookup takes to answer, whatever it
	// found, so that timing does not tell a known code from an unknown one (default
	// 150ms).
	StatusMinTime time.Duration
	// APIRateLimit is how many requests a minute one API token may make, counted in
	// Redis across replicas (default 600).
	APIRateLimit int64
	// Currency is the ISO 4217 code the API gives with every amount ("" leaves it out)
	// and the pages write after every amount (format.go; "" is billing.DefaultCurrency).
	Currency string
	// DashboardRefresh is how often the dashboard's live parts are fetched again
	// (default 10s).
	DashboardRefresh time.Duration
	// Location is the operator's time zone (TOLLGATE_TIMEZONE), the one the pages write
	// dates in (nil: UTC).
	Location *time.Location
}

// Deps are what the portal calls. Health reports whether the stores answer; Metrics serves
// the Prometheus registry; Auth runs sign-ins over the account stores (and its Now is the
// portal's clock); Sessions keeps portal sessions; Audit is the audit log every admin
// handler writes; Limits counts the public pages' rate limits. Auth, Sessions and Audit
// are required for anything but the public pages, Limits for the status page.
type Deps struct {
	Health   func(ctx context.Context) error
	Metrics  http.Handler
	Log      *slog.Logger
	Auth     *auth.Service
	Sessions auth.SessionStore
	Audit    auth.AuditLog
	Limits   RateLimiter
	// Hotspot shows vouchers on the public /hotspot/status page (nil: unavailable).
	Hotspot HotspotStatus
	// Prints reads voucher batches for their print views and CSV exports; nil leaves
	// those routes out.
	Prints PrintSource
	// Vouchers runs the NAS, plan, voucher and reseller wallet pages; nil leaves them out
	// (the reseller's home then shows no wallet).
	Vouchers *Vouchers
	// LoginHosts lists the routers the captive login page may post to (nil: none, so
	// the page shows no form).
	LoginHosts LoginHosts
	// Tokens authenticates bearer requests to /api/v1 and backs the admin's token page
	// (nil: no tokens).
	Tokens *auth.Tokens
	// API runs the /api/v1 resources (nil: only the sign-in routes).
	API *API
	// My runs the subscribers' pages (/my, /api/v1/my, password links, /privacy); nil
	// leaves them out.
	My *My
	// Subscribers runs the admin's subscriber pages, invoices and statements
	// (admin_subscribers.go); nil leaves them out.
	Subscribers *Subscribers
	// Payments runs the payment webhooks (/webhooks/…) and the admin's review queue
	// (/admin/payments/reviews); nil leaves them out.
	Payments PaymentService
	// Ops runs the operator's pages: the live dashboard, sessions, editing NAS, plans,
	// resellers and users, webhooks (admin_dashboard.go); nil leaves them out.
	Ops *Ops
}

// access is what a route admits.
type access int

const (
	accessPublic     access = iota // anyone
	accessSession                  // any session, even in its TOTP step (sign-out)
	accessPending                  // a session between password and TOTP code
	accessEnroll                   // a signed-in user, also one who must enroll TOTP first
	accessUser                     // a signed-in user
	accessAdmin                    // an admin
	accessReseller                 // a reseller
	accessAPIRead                  // an API token of any scope, or an admin
	accessAPIWrite                 // a write API token, or an admin
	accessSubscriber               // a subscriber (the only non-public routes it reaches, with accessSession)
)

func (a access) String() string {
	return [...]string{"public", "session", "pending", "enroll", "user", "admin", "reseller", "api-read", "api-write", "subscriber"}[a]
}

// RateLimiter counts events in fixed windows shared by every replica (portal/auth/redis).
type RateLimiter interface {
	// Hit counts one event of the limit name in its current window and returns the count
	// so far and the time until the window ends. name is built from bounded parts.
	Hit(ctx context.Context, name string, window time.Duration) (n int64, reset time.Duration, err error)
}

// surface is the listener a route is served on when the portal has two.
type surface int

const (
	surfaceStaff surface = 1 << iota // admin and reseller pages, staff sign-in steps, /api/v1, /metrics
	surfaceGuest                     // the captive pages
	surfaceBoth  = surfaceStaff | surfaceGuest
)

// guestPaths are the subscribers' routes and their sign-in, served on both listeners
// (on the guests' one, /login and POST /api/v1/login sign subscribers in only): the
// exact paths, and the prefixes ending in "/".
var guestPaths = []string{
	"/privacy", "/login", "/login/forgot", "/logout", "/account/password", "/account/email",
	"/api/v1/csrf", "/api/v1/login", "/api/v1/logout",
	"/my", "/my/", "/api/v1/my", "/api/v1/my/",
}

// surfaceOf is where path is served when Config.AdminAddr is set: /hotspot/ and the
// payment providers' /webhooks/ on the guests' listener only; /healthz, /static/ and the subscribers' pages, their API and
// their sign-in (guestPaths) on both; anything else on the staff's only. The TOTP
// steps, /account/totp and /api/v1/me are staff routes: no subscriber has a second
// factor.
func surfaceOf(path string) surface {
	switch {
	case path == "/healthz", strings.HasPrefix(path, "/static/"):
		return surfaceBoth
	case strings.HasPrefix(path, "/hotspot/"), strings.HasPrefix(path, webhookPrefix):
		return surfaceGuest
	}
	for _, g := range guestPaths {
		if path == g || strings.HasSuffix(g, "/") && strings.HasPrefix(path, g) {
			return surfaceBoth
		}
	}
	return surfaceStaff
}

// onGuest reports whether the request came to the guests' listener of a portal that
// has two.
func (p *Portal) onGuest(c *fiber.Ctx) bool { return p.app != p.staff && c.App() == p.app }

// route is one registered route, the access it admits and where it is served.
type route struct {
	method, path string
	access       access
	surface      surface
}

// Portal is the web server.
type Portal struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	// app serves Config.Addr; staff serves Config.AdminAddr, or is app when there is none.
	app     *fiber.App
	staff   *fiber.App
	pages   pages
	proxies []netip.Prefix
	metrics *metrics
	routes  []route
	// docs describe the /api/v1 routes for the OpenAPI document (openapi.go).
	docs []apiRoute
	// openapi* hold the document, built at its first request.
	openapiOnce sync.Once
	openapiJSON []byte
	openapiErr  error
	ln          net.Listener
	adminLn     net.Listener
	// loginHosts caches Deps.LoginHosts for the captive login page.
	loginHosts *loginHostCache
	// prints are the printed documents, pages of their own without the layout
	// (invoices.go).
	prints pages
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
	if cfg.StatusLimit <= 0 {
		cfg.StatusLimit = 10
	}
	if cfg.StatusGlobalLimit <= 0 {
		cfg.StatusGlobalLimit = 600
	}
	if cfg.StatusMinTime <= 0 {
		cfg.StatusMinTime = 150 * time.Millisecond
	}
	if cfg.APIRateLimit <= 0 {
		cfg.APIRateLimit = 600
	}
	if cfg.DashboardRefresh <= 0 {
		cfg.DashboardRefresh = 10 * time.Second
	}
	p := &Portal{cfg: cfg, deps: deps, log: deps.Log, pages: mustParsePages(newFormats(cfg).funcs()), metrics: newMetrics(),
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
	p.staff = p.newApp(true)
	p.app = p.staff
	if cfg.AdminAddr != "" {
		p.app = p.newApp(false)
		// The guests' start page is the voucher status page, or a signed-in
		// subscriber's own.
		p.handleOn(surfaceGuest, "GET", "/", accessPublic, func(c *fiber.Ctx) error {
			if s := session(c); s != nil && s.Role == auth.RoleSubscriber {
				return c.Redirect("/my", fiber.StatusSeeOther)
			}
			return c.Redirect("/hotspot/status", fiber.StatusSeeOther)
		})
	}

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
	p.handle("POST", "/admin/users", accessAdmin, p.adminUserCreate)
	p.handle("POST", "/admin/users/:id/totp", accessAdmin, p.adminRequireTOTP)
	p.handle("POST", "/admin/users/:id/unlock", accessAdmin, p.adminUnlock)
	p.handle("POST", "/admin/users/:id/disable", accessAdmin, p.adminDisable)
	p.handle("POST", "/admin/users/:id/enable", accessAdmin, p.adminEnable)

	p.handle("GET", "/reseller", accessReseller, p.resellerHome)
	p.registerPrint()
	p.registerVouchers()
	p.registerMy()
	p.registerSubscribers()
	p.registerWebhooks()
	p.registerPayments()
	p.registerOps()
	p.registerAdminRequests()

	// The guest pages: public, GET only (the login form posts to the router, not to us).
	p.handle("GET", "/hotspot/login", accessPublic, p.hotspotLogin)
	p.handle("GET", "/hotspot/status", accessPublic, p.hotspotStatus)

	p.handle("GET", "/api/v1/csrf", accessPublic, p.apiCSRF)
	p.handle("POST", "/api/v1/login", accessPublic, p.apiLogin)
	p.handle("POST", "/api/v1/login/totp", accessPending, p.apiLoginTOTP)
	p.handle("POST", "/api/v1/logout", accessSession, p.apiLogout)
	p.handle("GET", "/api/v1/me", accessEnroll, p.apiMe)
	p.registerAPI()
	p.registerTokens()
	return p, nil
}

// newApp returns a fiber app with the portal's settings and middleware: the sessions
// and the CSRF check; staff adds API tokens and the guards of the /admin and /reseller
// prefixes. The guests' app admits subscribers' sessions only (loadSession) and has no
// /admin or /reseller route at all, so an unknown path or method there is simply 404.
func (p *Portal) newApp(staff bool) *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage:   true,
		ReadTimeout:             15 * time.Second,
		WriteTimeout:            30 * time.Second,
		IdleTimeout:             60 * time.Second,
		BodyLimit:               1 << 20,
		ErrorHandler:            p.errorHandler,
		EnableTrustedProxyCheck: true, // c.Protocol() reads X-Forwarded-Proto from these only
		TrustedProxies:          p.cfg.TrustedProxies,
	})
	app.Use(recover.New())
	app.Use(p.base)
	if !staff {
		// Only for the guests' routes: any other path is not there (404), whatever
		// its method or token.
		served := func(h fiber.Handler) fiber.Handler {
			return func(c *fiber.Ctx) error {
				if c.Path() != "/" && surfaceOf(c.Path())&surfaceGuest == 0 {
					return c.Next()
				}
				return h(c)
			}
		}
		app.Use(served(p.loadSession))
		app.Use(served(p.checkCSRF))
		return app
	}
	app.Use(p.loadToken)
	app.Use(p.loadSession)
	app.Use(p.checkCSRF)
	app.Use("/admin", p.guard(accessAdmin))
	app.Use("/reseller", p.guard(accessReseller))
	return app
}

// handle registers h for method and path behind the guard of a, on the listeners
// surfaceOf(path) names.
func (p *Portal) handle(method, path string, a access, h fiber.Handler) {
	p.handleOn(surfaceOf(path), method, path, a, h)
}

// handleOn is handle on the listeners of s.
func (p *Portal) handleOn(s surface, method, path string, a access, h fiber.Handler) {
	p.routes = append(p.routes, route{method: method, path: path, access: a, surface: s})
	switch {
	case p.app == p.staff:
		p.app.Add(method, path, p.guard(a), h)
	default:
		if s&surfaceStaff != 0 {
			p.staff.Add(method, path, p.guard(a), h)
		}
		if s&surfaceGuest != 0 {
			p.app.Add(method, path, p.guard(a), h)
		}
	}
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
	case s.Role == auth.RoleSubscriber:
		return "/my"
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

// Start listens and serves in the background: on Config.Addr, and on Config.AdminAddr
// when set.
func (p *Portal) Start() error {
	ln, err := net.Listen("tcp", p.cfg.Addr)
	if err != nil {
		return err
	}
	if p.cfg.AdminAddr != "" {
		aln, err := net.Listen("tcp", p.cfg.AdminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
		p.adminLn = aln
		go func() { _ = p.staff.Listener(aln) }()
	}
	p.ln = ln
	go func() { _ = p.app.Listener(ln) }()
	return nil
}

// Addr returns the bound address of Config.Addr.
func (p *Portal) Addr() net.Addr {
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

// AdminAddr returns the bound address of Config.AdminAddr (nil when there is none).
func (p *Portal) AdminAddr() net.Addr {
	if p.adminLn == nil {
		return nil
	}
	return p.adminLn.Addr()
}

// Shutdown stops the server, waiting for requests in flight until ctx ends. Safe twice.
func (p *Portal) Shutdown(ctx context.Context) error {
	if p.ln == nil {
		return nil
	}
	p.ln = nil
	var err error
	if p.adminLn != nil {
		p.adminLn = nil
		err = p.staff.ShutdownWithContext(ctx)
	}
	return errors.Join(err, p.app.ShutdownWithContext(ctx))
}

// Test runs one request through the app of Config.Addr (for tests).
func (p *Portal) Test(req *http.Request) (*http.Response, error) { return p.app.Test(req, -1) }

// TestAdmin runs one request through the app of Config.AdminAddr, the same as Test's
// when there is none (for tests).
func (p *Portal) TestAdmin(req *http.Request) (*http.Response, error) { return p.staff.Test(req, -1) }
