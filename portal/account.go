package portal

import (
	"html/template"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"tollgate/radius"
)

// enrollPage shows the otpauth:// URI of a new TOTP secret, kept sealed in the session
// until its first code is typed; a user who has TOTP already is told so.
func (p *Portal) enrollPage(c *fiber.Ctx) error {
	s, u := session(c), sessionUser(c)
	v := p.view(c, "Two-factor sign-in")
	v.User = u
	if u.HasTOTP() {
		return p.render(c, fiber.StatusOK, "enroll", v)
	}
	if s.EnrollSecret == nil {
		sealed, uri, err := p.deps.Auth.BeginEnroll(u)
		if err != nil {
			return err
		}
		s.EnrollSecret = sealed
		if err := p.deps.Sessions.UpdateSession(c.UserContext(), s); err != nil {
			return err
		}
		v.URI = template.URL(uri)
	} else {
		uri, err := p.deps.Auth.EnrollURI(u.ID, u.Email, s.EnrollSecret)
		if err != nil {
			return err
		}
		v.URI = template.URL(uri)
	}
	return p.render(c, fiber.StatusOK, "enroll", v)
}

// enrollSubmit stores the secret once the app shows the right code.
func (p *Portal) enrollSubmit(c *fiber.Ctx) error {
	s, u := session(c), sessionUser(c)
	if u.HasTOTP() || s.EnrollSecret == nil {
		return c.Redirect("/account/totp", fiber.StatusSeeOther)
	}
	uri, err := p.deps.Auth.EnrollURI(u.ID, u.Email, s.EnrollSecret)
	if err != nil {
		return err
	}
	if err := p.deps.Auth.FinishEnroll(c.UserContext(), u.ID, s.EnrollSecret, c.FormValue("totp")); err != nil {
		if radius.ErrorCode(err) == radius.EUNAUTHORIZED {
			// A wrong code here is a typing error of a signed-in user, not a refusal.
			err = radius.Errorf(radius.EINVALID, "totp: the code does not match; check the app's clock and try the next code")
		}
		v := p.view(c, "Two-factor sign-in")
		v.User, v.URI = u, template.URL(uri)
		return p.formError(c, "enroll", v, err)
	}
	// FinishEnroll ended every session of the user, this one too (a session begun with
	// the password alone must not outlive the second factor): go on in a new one, which
	// startSession begins by deleting this one if it is still there.
	if u, err = p.deps.Auth.Users.FindUserByID(c.UserContext(), u.ID); err != nil {
		return err
	}
	if s, err = p.startSession(c, u, false); err != nil {
		return err
	}
	if err := p.audit(c, "totp.enroll", "user:"+strconv.FormatInt(u.ID, 10), nil); err != nil {
		return err
	}
	return c.Redirect(homeOf(s), fiber.StatusSeeOther)
}
