package portal

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// Editing resellers (email, credit limit, status) and portal users' roles. A reseller is
// never deleted: its ledger is the record of what it bought; suspending it stops its
// purchases.

// ResellerEditor changes resellers (billing.ResellerService).
type ResellerEditor interface {
	// UpdateReseller changes the reseller called name. ENOTFOUND, EINVALID naming the
	// field.
	UpdateReseller(ctx context.Context, name string, upd billing.ResellerUpdate) (*billing.Reseller, error)
}

// resellerFields are the reseller edit form's fields.
var resellerFields = []string{"email", "credit_limit", "status"}

// resellerView is the reseller edit page's data.
type resellerView struct {
	*view
	formView
	Reseller *billing.Reseller
}

// resellerByID finds reseller :id among the resellers.
func (p *Portal) resellerByID(c *fiber.Ctx) (*billing.Reseller, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, radius.Errorf(radius.ENOTFOUND, "no such reseller")
	}
	list, err := p.deps.Vouchers.Resellers.ListResellers(c.UserContext())
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i], nil
		}
	}
	return nil, radius.Errorf(radius.ENOTFOUND, "no such reseller")
}

// adminReseller is the edit page of reseller :id.
func (p *Portal) adminReseller(c *fiber.Ctx) error {
	r, err := p.resellerByID(c)
	if err != nil {
		return err
	}
	if err := p.audit(c, "reseller.show", "reseller:"+r.Name, nil); err != nil {
		return err
	}
	f := map[string]string{"email": r.Email, "credit_limit": billing.FormatCents(r.CreditLimitCents), "status": string(r.Status)}
	v := &resellerView{view: p.view(c, "Reseller "+r.Name), Reseller: r, formView: formView{Form: f}}
	return p.renderAny(c, fiber.StatusOK, "admin-reseller", v)
}

// adminResellerUpdate saves reseller :id's email, credit limit and status.
func (p *Portal) adminResellerUpdate(c *fiber.Ctx) error {
	r, err := p.resellerByID(c)
	if err != nil {
		return err
	}
	f := formFields(c, resellerFields...)
	upd := billing.ResellerUpdate{Email: ptrTo(f["email"])}
	st := billing.ResellerStatus(f["status"])
	upd.Status = &st
	if f["credit_limit"] == "" {
		f["credit_limit"] = "0"
	}
	limit, err := billing.ParseCents(f["credit_limit"])
	if err != nil {
		err = radius.Errorf(radius.EINVALID, "credit-limit: %s", radius.ErrorMessage(err))
	} else {
		upd.CreditLimitCents = &limit
		_, err = p.deps.Ops.Resellers.UpdateReseller(c.UserContext(), r.Name, upd)
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		v := &resellerView{view: p.view(c, "Reseller "+r.Name), Reseller: r, formView: formView{Form: f, Bad: badField(radius.ErrorMessage(err), resellerFields)}}
		v.Error = radius.ErrorMessage(err)
		return p.renderAny(c, httpStatus(err, true), "admin-reseller", v)
	}
	if err != nil {
		return err
	}
	if err := p.audit(c, "reseller.update", "reseller:"+r.Name, map[string]any{"email": f["email"], "credit_limit_cents": limit, "status": f["status"]}); err != nil {
		return err
	}
	return c.Redirect("/admin/resellers", fiber.StatusSeeOther)
}

// adminUserRole makes user :id an admin, or a reseller selling for form field reseller,
// and ends their open sessions. An admin cannot change their own role.
func (p *Portal) adminUserRole(c *fiber.Ctx) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if id == session(c).UserID {
		return radius.Errorf(radius.EINVALID, "role: you cannot change your own role; ask another admin")
	}
	role, reseller := auth.Role(c.FormValue("role")), ""
	switch role {
	case auth.RoleAdmin:
	case auth.RoleReseller:
		reseller = c.FormValue("reseller")
		if reseller == "" {
			return radius.Errorf(radius.EINVALID, "reseller: a reseller's account sells for a reseller; name it")
		}
	default:
		return radius.Errorf(radius.EINVALID, "role: admin or reseller")
	}
	reseller = clone(reseller)
	if err := p.deps.Auth.ChangeRole(c.UserContext(), id, role, reseller); err != nil {
		return err
	}
	if err := p.audit(c, "user.role", "user:"+strconv.FormatInt(id, 10), map[string]any{"role": string(role), "reseller": reseller}); err != nil {
		return err
	}
	return c.Redirect("/admin/users", fiber.StatusSeeOther)
}

// clone copies a string out of fiber's buffers.
func clone(s string) string { return string(append([]byte(nil), s...)) }
