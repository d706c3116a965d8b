package portal

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
	"tollgate/radius"
)

// errGuestCredentials is the guests' listener's answer to any refused sign-in, a staff
// account's right password included: that listener signs subscribers in only.
var errGuestCredentials = radius.Errorf(radius.EUNAUTHORIZED, "wrong username or password")

// signIn runs the password step and starts a session: complete, or pending its TOTP
// code. Success and failure are audited under the attempted email; a request refused by
// the per-IP rate limit is only counted, so a flood writes nothing. On the guests'
// listener only a subscriber signs in: a staff account is refused like a wrong
// password (and audited as a failure), so that listener tells nobody which staff
// accounts exist.
func (p *Portal) signIn(c *fiber.Ctx, email, password string) (*auth.Session, error) {
	u, err := p.deps.Auth.Login(c.UserContext(), email, password, p.clientIP(c))
	guest := p.onGuest(c)
	if err != nil {
		err = p.loginFailed(c, email, "password", err)
		if guest && errors.Is(err, auth.ErrBadCredentials) {
			err = errGuestCredentials
		}
		return nil, err
	}
	if guest && u.Role != auth.RoleSubscriber {
		p.metrics.logins.WithLabelValues("failure").Inc()
		if aerr := p.auditAs(c, u.Actor(), "login.failure", "", map[string]any{"step": "password", "reason": "staff_on_guest_listener"}); aerr != nil {
			return nil, aerr
		}
		return nil, errGuestCredentials
	}
	s, err := p.startSession(c, u, u.HasTOTP())
	if err != nil {
		return nil, err
	}
	if s.Pending {
		return s, nil
	}
	return s, p.loginSucceeded(c, u)
}

// signInTOTP completes a pending sign-in with its TOTP code, in a new session.
func (p *Portal) signInTOTP(c *fiber.Ctx, code string) (*auth.Session, error) {
	pending := session(c)
	u, err := p.deps.Auth.LoginTOTP(c.UserContext(), pending.UserID, code, p.clientIP(c))
	if err != nil {
		return nil, p.loginFailed(c, pending.Email, "totp", err)
	}
	s, err := p.startSession(c, u, false)
	if err != nil {
		return nil, err
	}
	return s, p.loginSucceeded(c, u)
}

func (p *Portal) loginSucceeded(c *fiber.Ctx, u *auth.User) error {
	p.metrics.logins.WithLabelValues("success").Inc()
	detail := map[string]any{"role": string(u.Role), "totp": u.HasTOTP()}
	return p.auditAs(c, u.Actor(), "login.success", "", detail)
}

// loginFailed counts and audits a refused sign-in step and returns err (or the audit's
// error).
func (p *Portal) loginFailed(c *fiber.Ctx, email, step string, err error) error {
	actor, nerr := auth.NormalizeEmail(email)
	if nerr != nil {
		actor = email[:min(len(email), 254)]
	}
	result := "failure"
	if le, ok := auth.IsLimit(err); ok && !le.Locked {
		p.metrics.logins.WithLabelValues("limited").Inc()
		return err
	} else if ok {
		result = "locked"
	}
	switch radius.ErrorCode(err) {
	case radius.EUNAUTHORIZED:
	case radius.EINVALID:
		p.metrics.logins.WithLabelValues("invalid").Inc()
		return err
	default:
		return err // internal: the error handler logs it
	}
	p.metrics.logins.WithLabelValues(result).Inc()
	if aerr := p.auditAs(c, actor, "login.failure", "", map[string]any{"step": step, "reason": result}); aerr != nil {
		return aerr
	}
	return err
}

// formError answers a failed form on its own page with the error's status and message;
// internal errors go to the error handler.
func (p *Portal) formError(c *fiber.Ctx, page string, v *view, err error) error {
	s := session(c)
	status := httpStatus(err, s != nil && !s.Pending)
	if status >= 500 {
		return err
	}
	setRetryAfter(c, err)
	v.Status, v.Error = status, errorMessage(err, status)
	p.metrics.errors.WithLabelValues(errorCode(err, status)).Inc()
	return p.render(c, status, page, v)
}

func (p *Portal) loginPage(c *fiber.Ctx) error {
	if s := session(c); s != nil && !s.Pending {
		return c.Redirect(homeOf(s), fiber.StatusSeeOther)
	}
	v := p.view(c, "Sign in")
	if c.Query("password") == "set" {
		v.Notice = "Your password is set: sign in with it."
	}
	v.Forgot = p.deps.My != nil && p.cfg.PublicURL != ""
	return p.render(c, fiber.StatusOK, "login", v)
}

func (p *Portal) loginSubmit(c *fiber.Ctx) error {
	email := strings.Clone(c.FormValue("email"))
	s, err := p.signIn(c, email, c.FormValue("password"))
	if err != nil {
		v := p.view(c, "Sign in")
		v.Email, v.Forgot = email, p.deps.My != nil && p.cfg.PublicURL != ""
		return p.formError(c, "login", v, err)
	}
	return c.Redirect(homeOf(s), fiber.StatusSeeOther)
}

func (p *Portal) totpPage(c *fiber.Ctx) error {
	return p.render(c, fiber.StatusOK, "totp", p.view(c, "Two-factor code"))
}

func (p *Portal) totpSubmit(c *fiber.Ctx) error {
	s, err := p.signInTOTP(c, c.FormValue("totp"))
	if err != nil {
		return p.formError(c, "totp", p.view(c, "Two-factor code"), err)
	}
	return c.Redirect(homeOf(s), fiber.StatusSeeOther)
}

func (p *Portal) logout(c *fiber.Ctx) error {
	if err := p.signOut(c); err != nil {
		return err
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}

// signOut audits and ends the session.
func (p *Portal) signOut(c *fiber.Ctx) error {
	if err := p.audit(c, "logout", "", nil); err != nil {
		return err
	}
	return p.endSession(c)
}

// credentials is the body of POST /api/v1/login (JSON or a form): a staff email, or a
// subscriber's username or email in either field.
type credentials struct {
	Email    string `json:"email" form:"email"`
	Username string `json:"username" form:"username"`
	Password string `json:"password" form:"password"`
}

// totpCode is the body of POST /api/v1/login/totp.
type totpCode struct {
	TOTP string `json:"totp" form:"totp"`
}

// loginStatus says what a session still needs.
func loginStatus(s *auth.Session) string {
	switch {
	case s.Pending:
		return "totp_required"
	case s.MustEnroll:
		return "enroll_required"
	}
	return "ok"
}

func (p *Portal) apiCSRF(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"csrf": p.csrfToken(c)})
}

func (p *Portal) apiLogin(c *fiber.Ctx) error {
	var in credentials
	if err := c.BodyParser(&in); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "the body is not a JSON object or form with email and password")
	}
	email := strings.Clone(in.Email)
	if email == "" {
		email = strings.Clone(in.Username)
	}
	s, err := p.signIn(c, email, in.Password)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": loginStatus(s), "csrf": s.CSRF})
}

func (p *Portal) apiLoginTOTP(c *fiber.Ctx) error {
	var in totpCode
	if err := c.BodyParser(&in); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "the body is not a JSON object or form with totp")
	}
	s, err := p.signInTOTP(c, in.TOTP)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": loginStatus(s), "csrf": s.CSRF})
}

func (p *Portal) apiLogout(c *fiber.Ctx) error {
	if err := p.signOut(c); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": "signed_out"})
}

// me is the body of GET /api/v1/me.
type me struct {
	ID           int64  `json:"id"`
	Email        string `json:"email"`
	Role         string `json:"role"`
	ResellerName string `json:"reseller_name,omitempty"`
	TOTP         bool   `json:"totp"`
	TOTPRequired bool   `json:"totp_required"`
	Status       string `json:"status"`
	// CSRF is the token unsafe API calls of this session carry in X-CSRF-Token.
	CSRF string `json:"csrf"`
}

func (p *Portal) apiMe(c *fiber.Ctx) error {
	s, u := session(c), sessionUser(c)
	return c.JSON(me{ID: u.ID, Email: u.Email, Role: string(u.Role), ResellerName: u.ResellerName,
		TOTP: u.HasTOTP(), TOTPRequired: u.TOTPRequired, Status: loginStatus(s), CSRF: s.CSRF})
}
