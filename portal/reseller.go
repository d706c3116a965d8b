package portal

import "github.com/gofiber/fiber/v2"

// resellerHome is the reseller's first page (wallet and voucher sales come later).
func (p *Portal) resellerHome(c *fiber.Ctx) error {
	u, err := p.deps.Auth.Users.FindUserByID(c.UserContext(), session(c).UserID)
	if err != nil {
		return err
	}
	v := p.view(c, "Reseller")
	v.User = u
	return p.render(c, fiber.StatusOK, "reseller", v)
}
