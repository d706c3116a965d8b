package portal

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"tollgate/billing"
	"tollgate/portal/auth"
	"tollgate/radius"
)

// The admin's API token page: make a token (shown once, on the answer to the form),
// list them (never the tokens) and revoke one. Every handler writes the audit log.

// tokenRow is one listed token, formatted.
type tokenRow struct {
	Name, Scope, State, Created, LastUsed, Expires, By string
}

func (p *Portal) registerTokens() {
	if p.deps.Tokens == nil {
		return
	}
	p.handle("GET", "/admin/tokens", accessAdmin, p.adminTokens)
	p.handle("POST", "/admin/tokens", accessAdmin, p.adminTokenCreate)
	p.handle("POST", "/admin/tokens/revoke", accessAdmin, p.adminTokenRevoke)
}

func (p *Portal) adminTokens(c *fiber.Ctx) error {
	return p.tokensPage(c, fiber.StatusOK, &pageView{Form: map[string]string{}}, "", true)
}

// tokensPage renders the page with v's form and the message msg; audit says whether it
// is a plain visit, audited as token.list.
func (p *Portal) tokensPage(c *fiber.Ctx, status int, v *pageView, msg string, audit bool) error {
	list, err := p.deps.Tokens.List(c.UserContext())
	if err != nil {
		return err
	}
	now := p.deps.Tokens.Now
	if now == nil {
		now = time.Now
	}
	at := now()
	when := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	for _, t := range list {
		v.Tokens = append(v.Tokens, tokenRow{Name: t.Name, Scope: string(t.Scope), State: t.State(at), Created: when(t.CreatedAt, "–"),
			LastUsed: when(t.LastUsedAt, "never"), Expires: when(t.ExpiresAt, "never"), By: t.CreatedBy})
	}
	if audit {
		if err := p.audit(c, "token.list", "", map[string]any{"count": len(list)}); err != nil {
			return err
		}
	}
	v.view = p.view(c, "API tokens")
	v.Error = msg
	return p.renderPage(c, status, "admin-tokens", v)
}

// adminTokenCreate makes a token from the form (name, scope, expires) and shows it once.
func (p *Portal) adminTokenCreate(c *fiber.Ctx) error {
	f := formFields(c, "name", "scope", "expires")
	var ttl time.Duration
	var err error
	if f["expires"] != "" {
		if ttl, err = billing.ParseDuration(f["expires"]); err != nil {
			err = radius.Errorf(radius.EINVALID, "expires: %s", radius.ErrorMessage(err))
		}
	}
	var tok string
	var t *auth.Token
	if err == nil {
		tok, t, err = p.deps.Tokens.Create(c.UserContext(), auth.TokenRequest{Name: f["name"], Scope: auth.Scope(f["scope"]), TTL: ttl, CreatedBy: session(c).Email})
	}
	if code := radius.ErrorCode(err); code == radius.EINVALID || code == radius.ECONFLICT {
		return p.tokensPage(c, httpStatus(err, true), &pageView{Form: f}, radius.ErrorMessage(err), false)
	}
	if err != nil {
		return err
	}
	if err := p.audit(c, "token.create", "token:"+t.Name, map[string]any{"scope": string(t.Scope), "expires": !t.ExpiresAt.IsZero()}); err != nil {
		return err
	}
	return p.tokensPage(c, fiber.StatusOK, &pageView{Form: map[string]string{}, Token: tok, Made: t.Name}, "", false)
}

// adminTokenRevoke revokes the live token of form field name.
func (p *Portal) adminTokenRevoke(c *fiber.Ctx) error {
	f := formFields(c, "name")
	t, err := p.deps.Tokens.Revoke(c.UserContext(), f["name"])
	if err != nil {
		return err
	}
	if err := p.audit(c, "token.revoke", "token:"+t.Name, nil); err != nil {
		return err
	}
	return c.Redirect("/admin/tokens", fiber.StatusSeeOther)
}
