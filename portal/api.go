package portal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/hotspot"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// The JSON API for integrators, under /api/v1.
//
// Authentication: `Authorization: Bearer <token>` (auth.Tokens), or an admin's portal
// session cookie. A bearer request is the token's alone: its cookie, if any, is not
// read, and it needs no CSRF token (a browser never adds an Authorization header to a
// cross-site request on its own); a cookie session's unsafe requests carry X-CSRF-Token
// as everywhere in the portal. A read token may only GET; anything else is 403. A
// missing or bad token is 401.
//
// Every bearer request is counted against its token in Redis (Config.APIRateLimit a
// minute, shared by every replica; past it 429 with Retry-After) and audited as
// "token:<name>": the handler's own entry (subscriber.create, …), or, when the request
// failed before the handler wrote one, an "api.request" entry with its method, route
// and status. Only the refusals past the first of a rate-limit window go unaudited
// (they are counted in tollgate_portal_api_rate_limited_total), so a runaway client
// cannot flood the log.
//
// Paging: list routes take ?limit= (1 to 1000, default 100) and ?cursor=, and answer
// {"data": [...], "next_cursor": "..."}; next_cursor is absent on the last page.
//
// Errors: {"code", "message", "field"}. code is the domain's (radius.ErrorCode), except
// that a 403 is "forbidden" and the rate limit "rate_limited"; field names the input
// the message is about, from the domain's "field: …" message convention.

// API is what the /api/v1 resources call; cmd fills it with the domain services and
// stores. Nil leaves the resources out (the sign-in routes stay). Plans, NAS and
// Vouchers also need Deps.Vouchers (its Sealer seals NAS secrets, its Notify tells the
// RADIUS servers).
type API struct {
	Plans       PlanAPI
	Subscribers SubscriberAPI
	NAS         NASAPI
	Sessions    SessionAPI
	Vouchers    VoucherAPI
	// Disconnect sends RFC 5176 Disconnect-Requests to a session's router.
	Disconnect radius.Disconnector
	// Money and MoneyPages run the wallets and invoices (api_money.go); nil leaves them
	// out.
	Money      MoneyAPI
	MoneyPages MoneyPages
}

// PlanAPI is billing.Service's plan side.
type PlanAPI interface {
	// ListPlans returns every plan, by name.
	ListPlans(ctx context.Context) ([]billing.Plan, error)
	// FindPlanByID returns plan id. ENOTFOUND.
	FindPlanByID(ctx context.Context, id int64) (*billing.Plan, error)
	// CreatePlan validates and stores p. EINVALID, ECONFLICT.
	CreatePlan(ctx context.Context, p billing.Plan) (*billing.Plan, error)
	// UpdatePlan changes plan id. ENOTFOUND, EINVALID, ECONFLICT.
	UpdatePlan(ctx context.Context, id int64, upd billing.PlanUpdate) (*billing.Plan, error)
}

// SubscriberAPI is billing.Service's subscriber side.
type SubscriberAPI interface {
	// FindSubscribers lists subscribers by ascending ID. EINVALID.
	FindSubscribers(ctx context.Context, f billing.SubscriberFilter) ([]billing.Subscriber, error)
	// FindSubscriberByID returns subscriber id. ENOTFOUND.
	FindSubscriberByID(ctx context.Context, id int64) (*billing.Subscriber, error)
	// AddSubscriber stores a new subscriber. EINVALID, ECONFLICT.
	AddSubscriber(ctx context.Context, in billing.NewSubscriber) (*billing.Subscriber, error)
	// UpdateSubscriber changes the subscriber called username. ENOTFOUND, EINVALID, ECONFLICT.
	UpdateSubscriber(ctx context.Context, username string, upd billing.SubscriberUpdate) (*billing.Subscriber, error)
}

// NASAPI is radius/postgres.Store's NAS side.
type NASAPI interface {
	NASAdmin
	// UpdateNAS changes the NAS called name. ENOTFOUND, EINVALID, ECONFLICT.
	UpdateNAS(ctx context.Context, name string, upd radius.NASUpdate) (*radius.NAS, error)
}

// SessionAPI lists accounting sessions (radius/postgres.Store).
type SessionAPI interface {
	// FindSessions lists the sessions f selects, newest start first.
	FindSessions(ctx context.Context, f radius.SessionFilter) ([]radius.Session, error)
	// FindSessionViews lists the sessions q selects with whose they are, newest start
	// first.
	FindSessionViews(ctx context.Context, q radius.SessionQuery) ([]radius.SessionView, error)
}

// VoucherAPI is hotspot.Service.
type VoucherAPI interface {
	// Generate makes a batch. EINVALID, ECONFLICT.
	Generate(ctx context.Context, req hotspot.GenerateRequest) (*hotspot.Generated, error)
	// FindVouchers lists vouchers, newest first. EINVALID.
	FindVouchers(ctx context.Context, f hotspot.VoucherFilter) ([]hotspot.Voucher, error)
	// ShowByID returns voucher id with its usage. ENOTFOUND.
	ShowByID(ctx context.Context, id int64) (*hotspot.Status, error)
	// RevokeByID revokes voucher id. ENOTFOUND.
	RevokeByID(ctx context.Context, id int64) (*hotspot.Voucher, error)
}

// Locals keys of a bearer request.
const (
	tokenKey   = "portal.token"   // the request's *auth.Token
	auditedKey = "portal.audited" // set once the handler wrote its audit entry
)

// apiToken returns the token a bearer request authenticated with, nil for any other.
func apiToken(c *fiber.Ctx) *auth.Token {
	t, _ := c.Locals(tokenKey).(*auth.Token)
	return t
}

// Refusals of the token middleware and the guard.
var (
	errBearer     = radius.Errorf(radius.EUNAUTHORIZED, "Authorization: use the Bearer scheme with an API token")
	errNoTokens   = radius.Errorf(radius.EUNAUTHORIZED, "API tokens are not enabled on this server")
	errScope      = fiber.NewError(fiber.StatusForbidden, "this token's scope is read: it may only GET")
	errTokenRoute = fiber.NewError(fiber.StatusForbidden, "API tokens open only the /api/v1 resources")
)

// errRateLimited is the API rate limit's refusal.
type errRateLimited struct{ retry time.Duration }

func (e *errRateLimited) Error() string {
	return "too many requests for this token; try again in " + e.retry.String()
}

// loadToken authenticates a request to /api/ that carries an Authorization header: a
// bad one is 401 at once (no fallback to the cookie), a good one is counted against its
// rate limit and audited after the rest of the chain ran.
func (p *Portal) loadToken(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" || !isAPI(c) {
		return c.Next()
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return errBearer
	}
	if p.deps.Tokens == nil {
		return errNoTokens
	}
	ctx := c.UserContext()
	t, err := p.deps.Tokens.Authenticate(ctx, strings.Clone(strings.TrimSpace(tok)))
	if err != nil {
		return err
	}
	c.Locals(tokenKey, t)
	if p.deps.Limits != nil {
		n, reset, err := p.deps.Limits.Hit(ctx, "api:"+t.Lookup, time.Minute)
		if err != nil {
			return err
		}
		if n > p.cfg.APIRateLimit {
			p.metrics.apiLimited.Inc()
			rerr := &errRateLimited{retry: max(reset, time.Second).Round(time.Second)}
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(rerr.retry.Seconds())))
			if n == p.cfg.APIRateLimit+1 {
				// The first refusal of the window is audited; the rest are counted.
				if aerr := p.auditRequest(c, t, rerr); aerr != nil {
					return aerr
				}
			}
			return rerr
		}
	}
	err = c.Next()
	if c.Locals(auditedKey) == nil {
		if aerr := p.auditRequest(c, t, err); aerr != nil {
			return aerr
		}
	}
	return err
}

// auditRequest writes the "api.request" entry of a bearer request whose handler wrote
// none (it failed, or was refused): the route, the method and the status.
func (p *Portal) auditRequest(c *fiber.Ctx, t *auth.Token, err error) error {
	status := c.Response().StatusCode()
	detail := map[string]any{"method": c.Method(), "status": status}
	if err != nil {
		status = httpStatus(err, true)
		detail["status"], detail["code"] = status, apiErrorCode(err, status)
	}
	route := c.Route().Path
	if route == "" || route == "/" {
		route = c.Path()
	}
	return p.auditAs(c, t.Actor(), "api.request", strings.Clone(route), detail)
}

// api registers an /api/v1 resource route with its OpenAPI description: GET needs a
// read token, anything else a write token (or an admin's session either way).
func (p *Portal) api(method, path string, h fiber.Handler, d apiDoc) {
	a := accessAPIWrite
	if method == fiber.MethodGet {
		a = accessAPIRead
	}
	d.access = a
	p.handle(method, path, a, h)
	p.docs = append(p.docs, apiRoute{method: method, path: path, doc: d})
}

// fieldRE finds the field a domain message is about: "rate-limit: …" → rate_limit.
var fieldRE = regexp.MustCompile(`^([a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*): `)

// fieldAliases map the domain's name of a field to the API's where they differ.
var fieldAliases = map[string]string{"hotspot_server": "hotspot_servers", "login_host": "login_hosts"}

// errorField derives the input field of an error message, "" for none.
func errorField(msg string) string {
	m := fieldRE.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	f := strings.ReplaceAll(m[1], "-", "_")
	if a, ok := fieldAliases[f]; ok {
		return a
	}
	return f
}

// apiErrorCode is the code of an error in the API's answers: the domain's, but 403 is
// "forbidden" and the API rate limit "rate_limited".
func apiErrorCode(err error, status int) string {
	var rl *errRateLimited
	switch {
	case errors.As(err, &rl):
		return "rate_limited"
	case status == fiber.StatusForbidden:
		return "forbidden"
	}
	return errorCode(err, status)
}

// apiError is the body of every error answer under /api/.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Paging.
const (
	defaultPage = 100
	maxPage     = 1000
)

// page is a list answer.
type page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// pageLimit reads ?limit=. EINVALID naming "limit".
func pageLimit(c *fiber.Ctx) (int, error) {
	s := c.Query("limit")
	if s == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPage {
		return 0, radius.Errorf(radius.EINVALID, "limit: a number from 1 to %d", maxPage)
	}
	return n, nil
}

// cursor reads ?cursor= into v (the position a previous page ended at); false when
// there is none. EINVALID naming "cursor".
func cursor(c *fiber.Ctx, v any) (bool, error) {
	s := c.Query("cursor")
	if s == "" {
		return false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, v) != nil {
		return false, radius.Errorf(radius.EINVALID, "cursor: not a cursor this API gave")
	}
	return true, nil
}

// makeCursor encodes a position for next_cursor.
func makeCursor(v any) string {
	b, _ := json.Marshal(v) // positions are plain structs
	return base64.RawURLEncoding.EncodeToString(b)
}

// idCursor is the position of listings ordered by ID.
type idCursor struct {
	ID int64 `json:"id"`
}

// bodyJSON decodes the request's JSON object into v, refusing unknown fields.
// EINVALID naming "body".
func bodyJSON(c *fiber.Ctx, v any) error {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return radius.Errorf(radius.EINVALID, "body: send a JSON object with Content-Type: application/json")
	}
	dec := json.NewDecoder(strings.NewReader(string(c.Body()))) // a copy: v outlives the handler
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return radius.Errorf(radius.EINVALID, "%s: not a field of this resource", strings.Trim(f, `"`))
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return radius.Errorf(radius.EINVALID, "%s: must be a %s", te.Field, te.Type.Kind())
		}
		return radius.Errorf(radius.EINVALID, "body: not a JSON object: %s", msg)
	}
	return nil
}

// idParam reads the :id parameter. ENOTFOUND for anything but a positive number.
func idParam(c *fiber.Ctx, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, radius.Errorf(radius.ENOTFOUND, "id: no %s with id %q", what, c.Params("id"))
	}
	return id, nil
}

// timeOrNil is a JSON time that is null when zero.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// notify tells the RADIUS servers what changed, when the portal can.
func (p *Portal) notify(ctx context.Context, payload string) error {
	if p.deps.Vouchers == nil || p.deps.Vouchers.Notify == nil {
		return nil
	}
	return p.deps.Vouchers.Notify(ctx, payload)
}

// registerAPI adds the /api/v1 resources when the portal has them.
func (p *Portal) registerAPI() {
	p.registerOpenAPI()
	if p.deps.API == nil {
		return
	}
	p.registerAPIPlans()
	p.registerAPINAS()
	p.registerAPISubscribers()
	p.registerAPISessions()
	p.registerAPIVouchers()
	// Wallets (credit) and invoices: declared with p.api like the others, so they are
	// under the token scopes, the rate limit, the audit and the OpenAPI document.
	p.registerAPIMoney()
	// Outgoing webhooks read billing's event outbox and need no route here.
}
