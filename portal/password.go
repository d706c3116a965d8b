package portal

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
	"tollgate/radius"
)

// "Forgot password" and the one-time links (auth.Links) that set a subscriber's portal
// password. The links point at Config.PublicURL, never at the Host a request named: a
// reset asked for with a forged Host must not mail the victim a link to someone
// else's server. Without PublicURL the sign-in page offers no reset.

// Limits of "forgot password": per client address (answered 429, which says nothing
// about any account), and per name asked for (silent: the answer stays the same, the
// subscriber's inbox is not flooded).
const (
	forgotAddrLimit  = 5
	forgotNameLimit  = 3
	forgotAddrWindow = 15 * time.Minute
	forgotNameWindow = time.Hour
)

// forgotNotice is the one answer to every "forgot password" request.
const forgotNotice = "If an account matches what you typed and has an email address, a link to set a new password is on its way. It works once, for one hour."

func (p *Portal) forgotPage(c *fiber.Ctx) error {
	v := &myView{view: p.view(c, "Forgot password")}
	return p.renderMy(c, fiber.StatusOK, "forgot", v)
}

func (p *Portal) forgotSubmit(c *fiber.Ctx) error {
	if p.cfg.PublicURL == "" {
		return fiber.NewError(fiber.StatusNotFound, "password links are not set up here (TOLLGATE_PUBLIC_URL); ask your operator")
	}
	ctx := c.UserContext()
	addr := auth.AddrKey(p.clientIP(c))
	n, reset, err := p.deps.Limits.Hit(ctx, "forgot:"+addr, forgotAddrWindow)
	if err != nil {
		return err
	}
	if n > forgotAddrLimit {
		v := &myView{view: p.view(c, "Forgot password")}
		return p.formErrorMy(c, "forgot", v, auth.NewLimitError(reset, false))
	}
	login := strings.TrimSpace(strings.Clone(c.FormValue("login")))
	v := &myView{view: p.view(c, "Forgot password")}
	v.Notice = forgotNotice
	if login == "" {
		return p.renderMy(c, fiber.StatusOK, "forgot", v)
	}
	h := sha256.Sum256([]byte(strings.ToLower(login)))
	n, _, err = p.deps.Limits.Hit(ctx, "forgot-name:"+hex.EncodeToString(h[:12]), forgotNameWindow)
	if err != nil {
		return err
	}
	if n <= forgotNameLimit {
		issued, err := p.deps.My.Links.RequestReset(ctx, login, p.cfg.PublicURL)
		if err != nil {
			return err
		}
		if issued != nil {
			if err := p.auditAs(c, auth.SubscriberActor(issued.Username), "password.reset_request", "subscriber:"+itoa(issued.SubscriberID), nil); err != nil {
				return err
			}
		}
	}
	return p.renderMy(c, fiber.StatusOK, "forgot", v)
}

// formErrorMy is formError for the pages of myView.
func (p *Portal) formErrorMy(c *fiber.Ctx, page string, v *myView, err error) error {
	s := session(c)
	status := httpStatus(err, s != nil && !s.Pending)
	if status >= 500 {
		return err
	}
	setRetryAfter(c, err)
	v.Error = errorMessage(err, status)
	p.metrics.errors.WithLabelValues(errorCode(err, status)).Inc()
	return p.renderMy(c, status, page, v)
}

// passwordPage shows the form of a link that can still be used.
func (p *Portal) passwordPage(c *fiber.Ctx) error {
	token := strings.Clone(c.Query("token"))
	if _, err := p.deps.My.Links.Check(c.UserContext(), token); err != nil {
		return err
	}
	v := &myView{view: p.view(c, "Set your password"), Token: token}
	return p.renderMy(c, fiber.StatusOK, "password", v)
}

// passwordSubmit sets the password and spends the link, then sends the browser to sign
// in with it.
func (p *Portal) passwordSubmit(c *fiber.Ctx) error {
	token := strings.Clone(c.FormValue("token"))
	pw := c.FormValue("password")
	v := &myView{view: p.view(c, "Set your password"), Token: token}
	if pw != c.FormValue("confirm") {
		return p.formErrorMy(c, "password", v, radius.Errorf(radius.EINVALID, "password: the two entries differ"))
	}
	u, err := p.deps.My.Links.SetPassword(c.UserContext(), token, pw)
	switch {
	case radius.ErrorCode(err) == radius.EINVALID:
		return p.formErrorMy(c, "password", v, err)
	case err != nil:
		return err
	}
	if err := p.auditAs(c, u.Actor(), "password.set", "subscriber:"+itoa(u.SubscriberID), map[string]any{"by": "link"}); err != nil {
		return err
	}
	if s := session(c); s != nil {
		if err := p.endSession(c); err != nil {
			return err
		}
	}
	return c.Redirect("/login?password=set", fiber.StatusSeeOther)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
