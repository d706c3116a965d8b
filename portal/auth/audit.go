package auth

import "context"

// AuditEntry is one line of the audit log: who did what to what, from where.
type AuditEntry struct {
	// Actor is the portal user's email, the attempted email of a failed sign-in, or
	// "cli:<user>" for the command line.
	Actor  string
	Action string // dotted verb: "login.success", "user.create", "admin.dashboard"
	Target string // what was acted on ("user:12"), or ""
	Detail map[string]any
	IP     string // "" when not from the network
}

// AuditLog appends entries to the audit log (auth/postgres). It is append-only.
type AuditLog interface {
	// Audit writes e.
	Audit(ctx context.Context, e AuditEntry) error
}
