package portal

import (
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"tollgate/radius"
)

// /api/v1/nas: list, get, create, update. The RADIUS secret is write-only: it is sealed
// as it arrives and never returned.

type nasJSON struct {
	ID                          int64    `json:"id"`
	Name                        string   `json:"name"`
	Address                     string   `json:"address" doc:"an IP address, or a range of at most /24 (IPv4) or /56 (IPv6)"`
	CoAPort                     int      `json:"coa_port"`
	RequireMessageAuthenticator bool     `json:"require_message_authenticator"`
	LoginHosts                  []string `json:"login_hosts"`
}

func toNASJSON(n *radius.NAS) nasJSON {
	return nasJSON{ID: n.ID, Name: n.Name, Address: n.Prefix.String(), CoAPort: n.CoAPort,
		RequireMessageAuthenticator: n.RequiresMessageAuthenticator(), LoginHosts: orEmpty(n.LoginHosts)}
}

// nasInput is the body of a create (name, address and secret required) or an update
// (any field but name).
type nasInput struct {
	Name                        *string   `json:"name"`
	Address                     *string   `json:"address"`
	Secret                      *string   `json:"secret" doc:"write-only; at least 12 characters unless allow_weak_secret"`
	AllowWeakSecret             bool      `json:"allow_weak_secret,omitempty"`
	CoAPort                     *int      `json:"coa_port"`
	RequireMessageAuthenticator *bool     `json:"require_message_authenticator"`
	LoginHosts                  *[]string `json:"login_hosts"`
}

func (p *Portal) registerAPINAS() {
	if p.deps.API.NAS == nil || p.deps.Vouchers == nil {
		return
	}
	p.api("GET", "/api/v1/nas", p.apiNASList, apiDoc{Summary: "List routers by ID (never their secrets).", Params: pageParams(), Resp: page[nasJSON]{}})
	p.api("POST", "/api/v1/nas", p.apiNASCreate, apiDoc{Summary: "Add a router.", Body: nasInput{}, Resp: nasJSON{}, Status: 201})
	p.api("GET", "/api/v1/nas/:id", p.apiNAS, apiDoc{Summary: "One router.", Params: idParams(), Resp: nasJSON{}})
	p.api("PATCH", "/api/v1/nas/:id", p.apiNASUpdate, apiDoc{Summary: "Change a router; absent fields stay. The name cannot change.", Params: idParams(), Body: nasInput{}, Resp: nasJSON{}})
}

func (p *Portal) apiNASList(c *fiber.Ctx) error {
	list, err := p.deps.API.NAS.ListNAS(c.UserContext())
	if err != nil {
		return err
	}
	out, err := pageByID(c, list, func(n *radius.NAS) int64 { return n.ID }, toNASJSON)
	if err != nil {
		return err
	}
	if err := p.audit(c, "nas.list", "", map[string]any{"count": len(out.Data)}); err != nil {
		return err
	}
	return c.JSON(out)
}

// findNAS returns the NAS of :id. ENOTFOUND.
func (p *Portal) findNAS(c *fiber.Ctx) (*radius.NAS, error) {
	id, err := idParam(c, "NAS")
	if err != nil {
		return nil, err
	}
	list, err := p.deps.API.NAS.ListNAS(c.UserContext())
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list, func(n radius.NAS) bool { return n.ID == id })
	if i < 0 {
		return nil, radius.Errorf(radius.ENOTFOUND, "id: no NAS with id %d", id)
	}
	return &list[i], nil
}

func (p *Portal) apiNAS(c *fiber.Ctx) error {
	n, err := p.findNAS(c)
	if err != nil {
		return err
	}
	if err := p.audit(c, "nas.show", "nas:"+n.Name, nil); err != nil {
		return err
	}
	return c.JSON(toNASJSON(n))
}

// loginHosts normalizes a list of login hosts. EINVALID naming login_hosts.
func loginHosts(l []string) ([]string, error) {
	out := []string{}
	for _, h := range l {
		n, err := radius.ParseLoginHost(h)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (p *Portal) apiNASCreate(c *fiber.Ctx) error {
	var in nasInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	switch {
	case in.Name == nil || *in.Name == "":
		return radius.Errorf(radius.EINVALID, "name: required")
	case in.Address == nil:
		return radius.Errorf(radius.EINVALID, "address: required")
	case in.Secret == nil:
		return radius.Errorf(radius.EINVALID, "secret: required")
	}
	pfx, err := parsePrefix(*in.Address)
	if err != nil {
		return radius.Errorf(radius.EINVALID, "address: %q is not an IP address or CIDR", *in.Address)
	}
	n := &radius.NAS{Name: *in.Name, Prefix: pfx, Secret: []byte(*in.Secret), RequireMessageAuthenticator: true}
	if err := radius.CheckNASSecret(n.Secret, in.AllowWeakSecret); err != nil {
		return err
	}
	setPtr(&n.CoAPort, in.CoAPort)
	setPtr(&n.RequireMessageAuthenticator, in.RequireMessageAuthenticator)
	if in.LoginHosts != nil {
		if n.LoginHosts, err = loginHosts(*in.LoginHosts); err != nil {
			return err
		}
	}
	ctx := c.UserContext()
	d := p.deps.API.NAS
	if n.ID, err = d.NextNASID(ctx); err != nil {
		return err
	}
	if err := d.CreateNAS(ctx, n, p.deps.Vouchers.Sealer.Seal(n.Secret, radius.SealNASSecret.AD(n.ID))); err != nil {
		return err
	}
	if err := p.notify(ctx, "nas"); err != nil {
		return err
	}
	weak := len(n.Secret) < radius.MinNASSecret
	if err := p.audit(c, "nas.create", "nas:"+n.Name, map[string]any{"address": n.Prefix.String(), "weak_secret": weak}); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(toNASJSON(n))
}

func (p *Portal) apiNASUpdate(c *fiber.Ctx) error {
	n, err := p.findNAS(c)
	if err != nil {
		return err
	}
	var in nasInput
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	if in.Name != nil && *in.Name != n.Name {
		return radius.Errorf(radius.EINVALID, "name: cannot change")
	}
	var upd radius.NASUpdate
	if in.Address != nil {
		pfx, err := parsePrefix(*in.Address)
		if err != nil {
			return radius.Errorf(radius.EINVALID, "address: %q is not an IP address or CIDR", *in.Address)
		}
		upd.Prefix = &pfx
	}
	if in.Secret != nil {
		if err := radius.CheckNASSecret([]byte(*in.Secret), in.AllowWeakSecret); err != nil {
			return err
		}
		upd.SealedSecret = p.deps.Vouchers.Sealer.Seal([]byte(*in.Secret), radius.SealNASSecret.AD(n.ID))
	}
	upd.CoAPort, upd.RequireMessageAuthenticator = in.CoAPort, in.RequireMessageAuthenticator
	if in.LoginHosts != nil {
		hosts, err := loginHosts(*in.LoginHosts)
		if err != nil {
			return err
		}
		upd.LoginHosts = &hosts
	}
	ctx := c.UserContext()
	if !upd.Empty() {
		if n, err = p.deps.API.NAS.UpdateNAS(ctx, n.Name, upd); err != nil {
			return err
		}
		if err := p.notify(ctx, "nas"); err != nil {
			return err
		}
	}
	if err := p.audit(c, "nas.update", "nas:"+n.Name, map[string]any{"secret": in.Secret != nil, "id": strconv.FormatInt(n.ID, 10)}); err != nil {
		return err
	}
	return c.JSON(toNASJSON(n))
}
