package portal

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
	"tollgate/radius"
)

// The admin pages. Every handler here writes the audit log (p.audit) before it answers:
// reads of personal data as much as changes.

func (p *Portal) adminUsers(c *fiber.Ctx) error {
	return p.usersPage(c, fiber.StatusOK, map[string]string{"role": string(auth.RoleAdmin), "totp_required": "on"}, "")
}

// usersView is the portal users page: the list and the add form.
type usersView struct {
	*view
	formView
}

// MinPassword is the shortest password the form takes.
func (v *usersView) MinPassword() int { return auth.MinPasswordLen }

// userFields are the add form's fields.
var userFields = []string{"email", "password", "role", "reseller", "totp_required"}

// usersPage lists the portal users under the add form holding f, with msg as its error
// (the field it names marked).
func (p *Portal) usersPage(c *fiber.Ctx, status int, f map[string]string, msg string) error {
	users, err := p.deps.Auth.Users.FindUsers(c.UserContext())
	if err != nil {
		return err
	}
	if status == fiber.StatusOK {
		if err := p.audit(c, "user.list", "", map[string]any{"count": len(users)}); err != nil {
			return err
		}
	}
	delete(f, "password") // never sent back
	v := &usersView{view: p.view(c, "Portal users"), formView: formView{Form: f, Bad: badField(msg, userFields)}}
	v.Users, v.Now, v.Error = users, p.deps.Auth.Now(), msg
	return p.renderAny(c, status, "users", v)
}

// adminUserCreate adds an admin or a reseller's account, as `tollgate admin add`
// does: the password is the one the admin typed (the user signs in with it; two-factor,
// when required, is set up at the first sign-in).
func (p *Portal) adminUserCreate(c *fiber.Ctx) error {
	f := formFields(c, userFields...)
	password := strings.Clone(c.FormValue("password")) // as typed: spaces count
	role := auth.Role(f["role"])
	reseller := f["reseller"]
	if role == auth.RoleAdmin {
		reseller = "" // the form keeps the field for resellers only
	}
	u, err := p.deps.Auth.CreateUser(c.UserContext(), auth.NewUser{Email: f["email"], Password: password, Role: role,
		ResellerName: reseller, TOTPRequired: f["totp_required"] != ""})
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		return p.usersPage(c, httpStatus(err, true), f, radius.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	if err := p.audit(c, "user.create", "user:"+strconv.FormatInt(u.ID, 10), map[string]any{"email": u.Email, "role": string(u.Role),
		"reseller": u.ResellerName, "totp_required": u.TOTPRequired}); err != nil {
		return err
	}
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}

// userID reads the :id parameter. ENOTFOUND for anything but a positive number.
func userID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, radius.Errorf(radius.ENOTFOUND, "no such user")
	}
	return id, nil
}

// adminRequireTOTP sets whether a user must sign in with a second factor (form field
// required: "true" or "false").
func (p *Portal) adminRequireTOTP(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	required, err := strconv.ParseBool(c.FormValue("required"))
	if err != nil {
		return radius.Errorf(radius.EINVALID, "required: true or false")
	}
	if err := p.deps.Auth.RequireTOTP(c.UserContext(), id, required); err != nil {
		return err
	}
	if err := p.audit(c, "user.require_totp", "user:"+strconv.FormatInt(id, 10), map[string]any{"required": required}); err != nil {
		return err
	}
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}

// adminUnlock lifts a user's lockout.
func (p *Portal) adminUnlock(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if err := p.deps.Auth.Unlock(c.UserContext(), id); err != nil {
		return err
	}
	if err := p.audit(c, "user.unlock", "user:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}

// adminDisable disables a user at once: it can no longer sign in and its open sessions
// end now. An admin cannot disable their own account (another admin, or the command
// line, can).
func (p *Portal) adminDisable(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if id == session(c).UserID {
		return radius.Errorf(radius.EINVALID, "you cannot disable your own account; ask another admin")
	}
	if err := p.deps.Auth.Disable(c.UserContext(), id); err != nil {
		return err
	}
	if err := p.audit(c, "user.disable", "user:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}

// adminEnable lets a disabled user sign in again.
func (p *Portal) adminEnable(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if err := p.deps.Auth.Enable(c.UserContext(), id); err != nil {
		return err
	}
	if err := p.audit(c, "user.enable", "user:"+strconv.FormatInt(id, 10), nil); err != nil {
		return err
	}
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}
