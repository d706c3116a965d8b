package portal

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"tollgate/portal/auth"
)

// audit writes one audit entry for the signed-in user's action from the request's
// client address. Every admin handler calls it; its error fails the request, so an
// action that cannot be recorded is reported as failed.
func (p *Portal) audit(c *fiber.Ctx, action, target string, detail map[string]any) error {
	actor := ""
	if t := apiToken(c); t != nil {
		actor = t.Actor()
	} else if s := session(c); s != nil {
		actor = s.Email
	}
	c.Locals(auditedKey, true)
	return p.auditAs(c, actor, action, target, detail)
}

// auditAs is audit with the actor given: the attempted email of a sign-in.
func (p *Portal) auditAs(c *fiber.Ctx, actor, action, target string, detail map[string]any) error {
	// Request strings are fiber's buffers: copy what the entry keeps.
	return p.deps.Audit.Audit(c.UserContext(), auth.AuditEntry{
		Actor:  strings.Clone(actor),
		Action: action,
		Target: strings.Clone(target),
		Detail: detail,
		IP:     p.clientIP(c),
	})
}
