package portal

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"tollgate/radius"
)

// The admin pages. Every handler here writes the audit log (p.audit) before it answers:
// reads of personal data as much as changes.

func (p *Portal) adminUsers(c *fiber.Ctx) error {
	users, err := p.deps.Auth.Users.FindUsers(c.UserContext())
	if err != nil {
		return err
	}
	if err := p.audit(c, "user.list", "", map[string]any{"count": len(users)}); err != nil {
		return err
	}
	v := p.view(c, "Portal users")
	v.Users, v.Now = users, p.deps.Auth.Now()
	return p.render(c, fiber.StatusOK, "users", v)
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
