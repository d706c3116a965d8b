package portal

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
	"tollgate/radius"
)

// Cookie names. The session cookie holds the session ID; the CSRF cookie holds the
// double-submit token of forms shown before sign-in.
const (
	sessionCookie = "tg_session"
	csrfCookie    = "tg_csrf"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
	sessionKey    = "portal.session" // c.Locals key
	userKey       = "portal.user"    // c.Locals key: the session's user, read this request
)

// session returns the request's session, nil when anonymous.
func session(c *fiber.Ctx) *auth.Session {
	s, _ := c.Locals(sessionKey).(*auth.Session)
	return s
}

// sessionUser returns the user of the request's session as read at the start of this
// request, nil when anonymous.
func sessionUser(c *fiber.Ctx) *auth.User {
	u, _ := c.Locals(userKey).(*auth.User)
	return u
}

// loadSession finds the session of the cookie, if any, and checks it against its user
// as stored now (auth.Service.CheckSession): a session past its absolute lifetime, of a
// disabled account, or begun before a change of role or second factor is deleted. An
// unknown, expired or ended one makes the request anonymous and its cookie is dropped.
// On the guests' listener a staff session (its cookie sent to the same host) counts for
// nothing: the request is anonymous, and the session stays for the admin listener.
func (p *Portal) loadSession(c *fiber.Ctx) error {
	id := c.Cookies(sessionCookie)
	if id == "" || p.deps.Sessions == nil || apiToken(c) != nil {
		return c.Next()
	}
	ctx := c.UserContext()
	s, err := p.deps.Sessions.FindSession(ctx, strings.Clone(id))
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		p.clearCookie(c, sessionCookie)
		return c.Next()
	case err != nil:
		return err
	}
	u, err := p.deps.Auth.CheckSession(ctx, s)
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		if err := p.deps.Sessions.DeleteSession(ctx, s.ID); err != nil {
			return err
		}
		p.clearCookie(c, sessionCookie)
	case err != nil:
		return err
	case p.onGuest(c) && s.Role != auth.RoleSubscriber:
	default:
		c.Locals(sessionKey, s)
		c.Locals(userKey, u)
	}
	return c.Next()
}

// startSession replaces any session of the request with a new one for u (a new ID
// after every step of a sign-in, so a planted cookie is worth nothing) and sets its
// cookie. pending marks the TOTP step.
func (p *Portal) startSession(c *fiber.Ctx, u *auth.User, pending bool) (*auth.Session, error) {
	if old := session(c); old != nil {
		if err := p.deps.Sessions.DeleteSession(c.UserContext(), old.ID); err != nil {
			return nil, err
		}
	}
	s := &auth.Session{
		UserID:       u.ID,
		Gen:          u.SessionGen,
		Email:        u.Actor(),
		Role:         u.Role,
		SubscriberID: u.SubscriberID,
		CSRF:         auth.NewToken(),
		Pending:      pending,
		MustEnroll:   !pending && u.TOTPRequired && !u.HasTOTP(),
		Created:      p.deps.Auth.Now(),
	}
	id, err := p.deps.Sessions.CreateSession(c.UserContext(), s)
	if err != nil {
		return nil, err
	}
	c.Locals(sessionKey, s)
	c.Locals(userKey, u)
	// Admins get SameSite=Strict: no cross-site navigation arrives signed in.
	sameSite := fiber.CookieSameSiteLaxMode
	if u.Role == auth.RoleAdmin {
		sameSite = fiber.CookieSameSiteStrictMode
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: id, Path: "/", HTTPOnly: true, Secure: secure(c), SameSite: sameSite})
	p.clearCookie(c, csrfCookie)
	return s, nil
}

// endSession deletes the request's session and its cookie.
func (p *Portal) endSession(c *fiber.Ctx) error {
	if s := session(c); s != nil {
		if err := p.deps.Sessions.DeleteSession(c.UserContext(), s.ID); err != nil {
			return err
		}
		c.Locals(sessionKey, nil)
		c.Locals(userKey, nil)
	}
	p.clearCookie(c, sessionCookie)
	return nil
}

func (p *Portal) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", HTTPOnly: true, Secure: secure(c), SameSite: fiber.CookieSameSiteLaxMode, MaxAge: -1, Expires: time.Unix(1, 0)})
}

// csrfToken returns the token the request's forms must carry: the session's, or the
// double-submit cookie's, which it sets when missing.
func (p *Portal) csrfToken(c *fiber.Ctx) string {
	if s := session(c); s != nil {
		return s.CSRF
	}
	if t := c.Cookies(csrfCookie); len(t) >= 32 {
		return strings.Clone(t)
	}
	t := auth.NewToken()
	c.Cookie(&fiber.Cookie{Name: csrfCookie, Value: t, Path: "/", HTTPOnly: true, Secure: secure(c), SameSite: fiber.CookieSameSiteLaxMode, MaxAge: int((2 * time.Hour).Seconds())})
	return t
}

// errCSRF refuses a request without its token.
var errCSRF = fiber.NewError(fiber.StatusForbidden, "the form expired or did not come from this site: reload the page and try again")

// checkCSRF refuses a POST, PUT, PATCH or DELETE whose token (form field csrf or header
// X-CSRF-Token) is not the session's, or without a session the CSRF cookie's.
func (p *Portal) checkCSRF(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if csrfExempt(c.Path()) {
		return c.Next() // signed by the payment provider (webhooks.go)
	}
	if apiToken(c) != nil {
		return c.Next() // a bearer request: no cookie was read, so none can be forged
	}
	want := ""
	if s := session(c); s != nil {
		want = s.CSRF
	} else {
		want = c.Cookies(csrfCookie)
	}
	got := c.Get(csrfHeader)
	if got == "" {
		got = c.FormValue(csrfField)
	}
	if len(want) < 32 || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		p.metrics.csrf.Inc()
		return errCSRF
	}
	return c.Next()
}

// Refusals of the guard.
var (
	errSignIn = radius.Errorf(radius.EUNAUTHORIZED, "sign in first")
	errRole   = radius.Errorf(radius.EUNAUTHORIZED, "this page is not for your account")
	errEnroll = radius.Errorf(radius.EUNAUTHORIZED, "set up two-factor sign-in first")
)

// guard returns the middleware that admits a request to a route of access a.
func (p *Portal) guard(a access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if t := apiToken(c); t != nil {
			switch a {
			case accessPublic:
				return c.Next()
			case accessAPIRead, accessAPIWrite:
				if !t.Scope.Allows(a == accessAPIWrite) {
					return errScope
				}
				return c.Next()
			}
			return errTokenRoute
		}
		s := session(c)
		switch {
		case a == accessPublic:
			return c.Next()
		case s == nil:
			return p.refuse(c, "/login", errSignIn)
		case a == accessSession:
			return c.Next()
		case s.Role == auth.RoleSubscriber:
			// A subscriber reaches its own routes and sign-out, nothing of the staff's.
			if a == accessSubscriber {
				return c.Next()
			}
			return p.refuse(c, "/my", errRole)
		case s.Pending != (a == accessPending):
			return p.refuse(c, homeOf(s), errSignIn)
		case a == accessPending || a == accessEnroll:
			return c.Next()
		case a == accessSubscriber:
			return errRole
		case s.MustEnroll:
			return p.refuse(c, "/account/totp", errEnroll)
		case a == accessUser,
			(a == accessAdmin || a == accessAPIRead || a == accessAPIWrite) && s.Role == auth.RoleAdmin,
			a == accessReseller && s.Role == auth.RoleReseller:
			return c.Next()
		}
		return errRole
	}
}

// refuse sends a page request to where it can go on, and any other request an error.
func (p *Portal) refuse(c *fiber.Ctx, to string, err error) error {
	if !isAPI(c) && (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) && to != c.Path() {
		return c.Redirect(to, fiber.StatusSeeOther)
	}
	return err
}
