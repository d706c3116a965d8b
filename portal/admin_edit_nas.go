package portal

import (
	"context"
	"encoding/hex"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/radius"
)

// The NAS pages: the list with each router's state, the add form, and one NAS's page:
// what this process's RADIUS server saw from it (last request, requests, accepts,
// rejects, accounting, drops), its RouterOS health (version, uptime, CPU, memory,
// board, up or down, last poll, last error, the latest transitions), and the forms that
// change it, its RouterOS API included, or delete it. Secrets are write-only: a form
// never shows one, and an empty secret field keeps the stored one.

// NASEditor finds, changes and deletes NASes and their RouterOS API settings
// (radius/postgres.Store).
type NASEditor interface {
	// FindNASByName returns the NAS, secret sealed. ENOTFOUND.
	FindNASByName(ctx context.Context, name string) (*radius.NAS, error)
	// UpdateNAS changes the NAS. ENOTFOUND, EINVALID, ECONFLICT.
	UpdateNAS(ctx context.Context, name string, upd radius.NASUpdate) (*radius.NAS, error)
	// DeleteNAS removes the NAS. ENOTFOUND.
	DeleteNAS(ctx context.Context, name string) error
	// FindRouterTarget returns the NAS's API settings, password sealed. ENOTFOUND when
	// it has none.
	FindRouterTarget(ctx context.Context, name string) (*radius.RouterTarget, error)
	// UpdateRouterAPI changes the NAS's API settings. ENOTFOUND, EINVALID.
	UpdateRouterAPI(ctx context.Context, name string, upd radius.RouterAPIUpdate) (*radius.RouterTarget, error)
}

// nasFields are the NAS forms' fields.
var nasFields = []string{"name", "address", "secret", "coa_port", "require_ma", "login_hosts", "confirm",
	"api_address", "api_user", "api_password", "api_tls", "api_tls_fingerprint", "api_remove"}

// nasRow is one NAS as the list shows it.
type nasRow struct {
	radius.NAS
	API      string // "host:port (tls)" or ""
	Activity *radius.NASActivity
	Router   *radius.RouterState
}

// nasView is the data of the NAS list and of one NAS's page.
type nasView struct {
	*view
	formView
	NAS    []nasRow
	One    *nasRow
	Target *radius.RouterTarget
	Events []radius.RouterEvent
	// Counting says this process runs the RADIUS server whose counters the page shows.
	Counting bool
	Now      time.Time
	loc      *time.Location
}

// Ago writes how long before the page t was.
func (v *nasView) Ago(t time.Time) string { return ago(v.Now, t) }

// When writes t in the operator's time zone, to the second.
func (v *nasView) When(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(v.loc).Format("2 Jan 2006 15:04:05")
}

// Escape writes a NAS name for a path.
func (v *nasView) Escape(s string) string { return url.PathEscape(s) }

// nasRows joins the NASes with this process's counters and the routers' heartbeats.
func (p *Portal) nasRows(ctx context.Context, list []radius.NAS) ([]nasRow, bool, error) {
	rows := make([]nasRow, len(list))
	for i, n := range list {
		rows[i].NAS = n
	}
	o := p.deps.Ops
	if o == nil {
		return rows, false, nil
	}
	byName := map[string]*nasRow{}
	for i := range rows {
		byName[rows[i].Name] = &rows[i]
	}
	counting := o.RADIUS != nil
	if counting {
		for _, a := range o.RADIUS.NASActivity() {
			if r := byName[a.NASName]; r != nil {
				a := a
				r.Activity = &a
			}
		}
	}
	if o.Routers != nil {
		states, err := o.Routers.FindRouterStates(ctx)
		if err != nil {
			return nil, false, err
		}
		for _, s := range states {
			if r := byName[s.NASName]; r != nil {
				s := s
				r.Router = &s
			}
		}
	}
	return rows, counting, nil
}

func (p *Portal) adminNAS(c *fiber.Ctx) error {
	return p.nasPage(c, fiber.StatusOK, map[string]string{"require_ma": "on"}, "")
}

func (p *Portal) nasPage(c *fiber.Ctx, status int, f map[string]string, msg string) error {
	ctx := c.UserContext()
	list, err := p.deps.Vouchers.NAS.ListNAS(ctx)
	if err != nil {
		return err
	}
	rows, counting, err := p.nasRows(ctx, list)
	if err != nil {
		return err
	}
	if o := p.deps.Ops; o != nil && o.NAS != nil {
		for i := range rows {
			if t, err := o.NAS.FindRouterTarget(ctx, rows[i].Name); err == nil {
				rows[i].API = apiText(t)
			}
		}
	}
	if status == fiber.StatusOK {
		if err := p.audit(c, "nas.list", "", map[string]any{"count": len(list)}); err != nil {
			return err
		}
	}
	v := &nasView{view: p.view(c, "NAS"), NAS: rows, Counting: counting, formView: formView{Form: f, Bad: badField(msg, nasFields)},
		Now: time.Now(), loc: p.format().loc}
	if p.deps.Ops != nil {
		v.Now = p.deps.Ops.now()
	}
	v.Error = msg
	return p.renderAny(c, status, "admin-nas", v)
}

// apiText is a NAS's API in a few words.
func apiText(t *radius.RouterTarget) string {
	if t == nil || !t.API.Configured() {
		return ""
	}
	if t.API.TLS {
		return t.API.Address + " (TLS)"
	}
	return t.API.Address
}

// adminNASCreate adds a NAS: name, address (an IP or CIDR), secret, coa_port,
// require_ma ("on" when checked) and login hosts, and optionally its RouterOS API. A
// refused form comes back with its message.
func (p *Portal) adminNASCreate(c *fiber.Ctx) error {
	f := formFields(c, nasFields...)
	ctx := c.UserContext()
	n, err := parseNAS(f)
	var api *radius.RouterAPIUpdate
	var apiPassword []byte
	if err == nil && f["api_address"] != "" {
		if p.deps.Ops == nil || p.deps.Ops.NAS == nil {
			err = radius.Errorf(radius.EINVALID, "api_address: the RouterOS API is not available here")
		} else {
			api, apiPassword, err = parseRouterAPI(f, nil)
		}
	}
	if err == nil {
		n.ID, err = p.deps.Vouchers.NAS.NextNASID(ctx)
	}
	if err == nil {
		err = p.deps.Vouchers.NAS.CreateNAS(ctx, n, p.deps.Vouchers.Sealer.Seal(n.Secret, radius.SealNASSecret.AD(n.ID)))
	}
	if err == nil && api != nil {
		api.SealedPassword = p.deps.Vouchers.Sealer.Seal(apiPassword, radius.SealNASAPIPassword.AD(n.ID))
		_, err = p.deps.Ops.NAS.UpdateRouterAPI(ctx, n.Name, *api)
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		f["secret"], f["api_password"] = "", ""
		return p.nasPage(c, httpStatus(err, true), f, radius.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	if err := p.notifyNAS(ctx); err != nil {
		return err
	}
	if err := p.audit(c, "nas.create", "nas:"+n.Name, map[string]any{"address": n.Prefix.String(), "require_ma": n.RequireMessageAuthenticator, "api": api != nil}); err != nil {
		return err
	}
	return c.Redirect("/admin/nas", fiber.StatusSeeOther)
}

// notifyNAS tells the RADIUS servers that the NAS table changed.
func (p *Portal) notifyNAS(ctx context.Context) error {
	if p.deps.Vouchers.Notify == nil {
		return nil
	}
	return p.deps.Vouchers.Notify(ctx, "nas")
}

// parseNAS reads the NAS form. EINVALID naming the field.
func parseNAS(f map[string]string) (*radius.NAS, error) {
	n := &radius.NAS{Name: f["name"], Secret: []byte(f["secret"]), RequireMessageAuthenticator: f["require_ma"] != ""}
	if n.Name == "" {
		return nil, radius.Errorf(radius.EINVALID, "name: required")
	}
	pfx, err := parsePrefix(f["address"])
	if err != nil {
		return nil, radius.Errorf(radius.EINVALID, "address: %q is not an IP address or CIDR", f["address"])
	}
	n.Prefix = pfx.Masked()
	if err := radius.CheckNASSecret(n.Secret, false); err != nil {
		return nil, err
	}
	if f["coa_port"] != "" {
		if n.CoAPort, err = strconv.Atoi(f["coa_port"]); err != nil || n.CoAPort < 1 || n.CoAPort > 65535 {
			return nil, radius.Errorf(radius.EINVALID, "coa_port: 1 to 65535")
		}
	}
	if n.LoginHosts, err = parseLoginHosts(f["login_hosts"]); err != nil {
		return nil, err
	}
	return n, nil
}

// parseLoginHosts reads the hotspot's login hosts, separated by commas or spaces.
func parseLoginHosts(s string) ([]string, error) {
	var out []string
	for _, h := range splitList(s) {
		h, err := radius.ParseLoginHost(h)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// parseRouterAPI reads the API fields of a NAS form as a change of had (nil: the NAS
// has no API yet): the address, user, TLS and pinned fingerprint as typed, and the
// password in clear when one was typed (needed for a new API). EINVALID naming the
// field.
func parseRouterAPI(f map[string]string, had *radius.RouterTarget) (*radius.RouterAPIUpdate, []byte, error) {
	tls := f["api_tls"] != ""
	addr, err := radius.ParseAPIAddress(f["api_address"], tls)
	if err != nil {
		return nil, nil, err
	}
	if err := radius.CheckAPIUser(f["api_user"]); err != nil {
		return nil, nil, err
	}
	upd := &radius.RouterAPIUpdate{Address: &addr, User: ptrTo(f["api_user"]), TLS: &tls}
	var fp []byte
	if f["api_tls_fingerprint"] != "" {
		if fp, err = radius.ParseFingerprint(f["api_tls_fingerprint"]); err != nil {
			return nil, nil, err
		}
		if !tls {
			return nil, nil, radius.Errorf(radius.EINVALID, "api_tls_fingerprint: a pinned certificate needs TLS (api-ssl)")
		}
	}
	upd.Fingerprint = &fp
	var pw []byte
	if f["api_password"] != "" {
		pw = []byte(f["api_password"])
		if err := radius.CheckAPIPassword(pw); err != nil {
			return nil, nil, err
		}
	} else if had == nil {
		return nil, nil, radius.Errorf(radius.EINVALID, "api_password: required for a new API")
	}
	return upd, pw, nil
}

func ptrTo[T any](v T) *T { return &v }

// nasName reads :name.
func nasName(c *fiber.Ctx) (string, error) {
	name, err := url.PathUnescape(c.Params("name"))
	if err != nil || name == "" {
		return "", radius.Errorf(radius.ENOTFOUND, "no such NAS")
	}
	return strings.Clone(name), nil
}

// adminNASShow is the page of NAS :name.
func (p *Portal) adminNASShow(c *fiber.Ctx) error {
	name, err := nasName(c)
	if err != nil {
		return err
	}
	n, err := p.deps.Ops.NAS.FindNASByName(c.UserContext(), name)
	if err != nil {
		return err
	}
	if err := p.audit(c, "nas.show", "nas:"+n.Name, nil); err != nil {
		return err
	}
	notice := ""
	if c.Query("saved") != "" {
		notice = "Saved. The RADIUS servers reload the NAS table now."
	}
	return p.nasOnePage(c, fiber.StatusOK, n, nil, "", notice)
}

// nasOnePage renders NAS n's page with form f (nil: the stored values), an error or a
// notice.
func (p *Portal) nasOnePage(c *fiber.Ctx, status int, n *radius.NAS, f map[string]string, msg, notice string) error {
	ctx := c.UserContext()
	o := p.deps.Ops
	rows, counting, err := p.nasRows(ctx, []radius.NAS{*n})
	if err != nil {
		return err
	}
	v := &nasView{view: p.view(c, "NAS "+n.Name), One: &rows[0], Counting: counting, Now: o.now(), loc: p.format().loc}
	t, err := o.NAS.FindRouterTarget(ctx, n.Name)
	switch {
	case err == nil:
		v.Target = t
		v.One.API = apiText(t)
	case radius.ErrorCode(err) != radius.ENOTFOUND:
		return err
	}
	if o.Routers != nil {
		if v.Events, err = o.Routers.FindRouterEvents(ctx, n.Name, 10); err != nil {
			return err
		}
	}
	if f == nil {
		f = map[string]string{"address": n.Prefix.String(), "coa_port": strconv.Itoa(n.CoAPort), "login_hosts": strings.Join(n.LoginHosts, ", ")}
		if n.RequireMessageAuthenticator {
			f["require_ma"] = "on"
		}
		if t != nil {
			f["api_address"], f["api_user"] = t.API.Address, t.API.User
			if t.API.TLS {
				f["api_tls"] = "on"
			}
			if t.API.Fingerprint != nil {
				f["api_tls_fingerprint"] = hex.EncodeToString(t.API.Fingerprint)
			}
		}
	}
	v.formView = formView{Form: f, Bad: badField(msg, nasFields)}
	v.Error, v.Notice = msg, notice
	return p.renderAny(c, status, "admin-nas-one", v)
}

// adminNASUpdate saves NAS :name's form: address, secret (empty keeps it), CoA port (0:
// the router takes none), Message-Authenticator, login hosts, and its RouterOS API
// (api_remove removes it; an empty password keeps the stored one).
func (p *Portal) adminNASUpdate(c *fiber.Ctx) error {
	name, err := nasName(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	o := p.deps.Ops
	n, err := o.NAS.FindNASByName(ctx, name)
	if err != nil {
		return err
	}
	f := formFields(c, nasFields...)
	had, err := o.NAS.FindRouterTarget(ctx, name)
	if err != nil && radius.ErrorCode(err) != radius.ENOTFOUND {
		return err
	}
	upd, api, apiPassword, changed, err := p.parseNASUpdate(f, n, had)
	if err == nil && !upd.Empty() {
		_, err = o.NAS.UpdateNAS(ctx, name, upd)
	}
	if err == nil && api != nil {
		if apiPassword != nil {
			api.SealedPassword = p.deps.Vouchers.Sealer.Seal(apiPassword, radius.SealNASAPIPassword.AD(n.ID))
		}
		_, err = o.NAS.UpdateRouterAPI(ctx, name, *api)
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		f["secret"], f["api_password"] = "", ""
		return p.nasOnePage(c, httpStatus(err, true), n, f, radius.ErrorMessage(err), "")
	}
	if err != nil {
		return err
	}
	if err := p.notifyNAS(ctx); err != nil {
		return err
	}
	if err := p.audit(c, "nas.update", "nas:"+name, map[string]any{"changed": changed}); err != nil {
		return err
	}
	return c.Redirect("/admin/nas/"+url.PathEscape(name)+"?saved=1", fiber.StatusSeeOther)
}

// parseNASUpdate reads NAS n's form as changes of n (and of its API had, nil for none),
// and names the fields that change. The new secret and API password come in clear;
// the secret is sealed here.
func (p *Portal) parseNASUpdate(f map[string]string, n *radius.NAS, had *radius.RouterTarget) (radius.NASUpdate, *radius.RouterAPIUpdate, []byte, []string, error) {
	var upd radius.NASUpdate
	var changed []string
	pfx, err := parsePrefix(f["address"])
	if err != nil {
		return upd, nil, nil, nil, radius.Errorf(radius.EINVALID, "address: %q is not an IP address or CIDR", f["address"])
	}
	if pfx = pfx.Masked(); pfx != n.Prefix {
		upd.Prefix, changed = &pfx, append(changed, "address")
	}
	if f["secret"] != "" {
		if err := radius.CheckNASSecret([]byte(f["secret"]), false); err != nil {
			return upd, nil, nil, nil, err
		}
		upd.SealedSecret, changed = p.deps.Vouchers.Sealer.Seal([]byte(f["secret"]), radius.SealNASSecret.AD(n.ID)), append(changed, "secret")
	}
	port := 0
	if f["coa_port"] != "" {
		if port, err = strconv.Atoi(f["coa_port"]); err != nil || port < 0 || port > 65535 {
			return upd, nil, nil, nil, radius.Errorf(radius.EINVALID, "coa_port: 0 (none: disconnect through the API) or 1 to 65535")
		}
	}
	if port != n.CoAPort {
		upd.CoAPort, changed = &port, append(changed, "coa_port")
	}
	if ma := f["require_ma"] != ""; ma != n.RequireMessageAuthenticator {
		upd.RequireMessageAuthenticator, changed = &ma, append(changed, "require_ma")
	}
	hosts, err := parseLoginHosts(f["login_hosts"])
	if err != nil {
		return upd, nil, nil, nil, err
	}
	if !slices.Equal(hosts, n.LoginHosts) {
		if hosts == nil {
			hosts = []string{}
		}
		upd.LoginHosts, changed = &hosts, append(changed, "login_hosts")
	}
	switch {
	case f["api_remove"] != "":
		if had == nil {
			return upd, nil, nil, changed, nil
		}
		none := ""
		return upd, &radius.RouterAPIUpdate{Address: &none}, nil, append(changed, "api_removed"), nil
	case f["api_address"] == "" && f["api_user"] == "" && f["api_password"] == "":
		return upd, nil, nil, changed, nil
	}
	api, pw, err := parseRouterAPI(f, had)
	if err != nil {
		return upd, nil, nil, nil, err
	}
	changed = append(changed, "api")
	if pw != nil {
		changed = append(changed, "api_password")
	}
	return upd, api, pw, changed, nil
}

// adminNASDelete deletes NAS :name when the form's confirm field repeats its name.
func (p *Portal) adminNASDelete(c *fiber.Ctx) error {
	name, err := nasName(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	n, err := p.deps.Ops.NAS.FindNASByName(ctx, name)
	if err != nil {
		return err
	}
	if strings.TrimSpace(c.FormValue("confirm")) != name {
		return p.nasOnePage(c, fiber.StatusUnprocessableEntity, n, nil, "confirm: type the NAS's name, "+name+", to delete it", "")
	}
	if err := p.deps.Ops.NAS.DeleteNAS(ctx, name); err != nil {
		return err
	}
	if err := p.notifyNAS(ctx); err != nil {
		return err
	}
	if err := p.audit(c, "nas.delete", "nas:"+name, map[string]any{"address": n.Prefix.String()}); err != nil {
		return err
	}
	return c.Redirect("/admin/nas", fiber.StatusSeeOther)
}

// MemoryUsed writes a router's memory in use: "123 MiB of 256 MiB".
func (v *nasView) MemoryUsed(h radius.RouterHealth) string {
	if h.TotalMemory == 0 {
		return "—"
	}
	return humanBytes(h.TotalMemory-h.FreeMemory) + " of " + humanBytes(h.TotalMemory)
}
