package main

import (
	"context"
	"fmt"
	"io"
	"os/user"

	"tollgate/portal/auth"
	authpg "tollgate/portal/auth/postgres"
	authredis "tollgate/portal/auth/redis"
)

// portalStores builds the portal's account service over d's Postgres and Redis, with
// the Redis session and counter store and the Postgres audit log it uses.
func portalStores(d *deps, redisPrefix string) (*auth.Service, *authredis.Store, *authpg.Store) {
	pg := authpg.New(d.pool)
	rd := authredis.New(d.rdb, redisPrefix)
	return auth.New(pg, rd, d.sealer), rd, pg
}

type portalUserJSON struct {
	ID           int64  `json:"id"`
	Email        string `json:"email"`
	Role         string `json:"role"`
	ResellerName string `json:"reseller_name,omitempty"`
	TOTPRequired bool   `json:"totp_required"`
}

func cmdAdminAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("admin add")
	email := fs.String("email", "", "sign-in email")
	role := fs.String("role", "admin", "admin or reseller")
	reseller := fs.String("reseller", "", "the reseller's name (with --role reseller)")
	totpRequired := fs.Bool("totp-required", false, "require a TOTP second factor (enrolled at the first sign-in)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "email"); err != nil {
		return err
	}
	if *role != string(auth.RoleAdmin) && *role != string(auth.RoleReseller) {
		return usagef("admin add: --role: %q is not admin or reseller", *role)
	}
	if (*role == string(auth.RoleReseller)) != (*reseller != "") {
		return usagef("admin add: --reseller NAME goes with --role reseller, and only with it")
	}
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	if err := auth.CheckPassword(pw); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	svc, _, audit := portalStores(d, e.cfg.RedisPrefix)
	u, err := svc.CreateUser(ctx, auth.NewUser{Email: *email, Password: pw, Role: auth.Role(*role), ResellerName: *reseller, TOTPRequired: *totpRequired})
	if err != nil {
		return err
	}
	err = audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "user.create", Target: fmt.Sprintf("user:%d", u.ID),
		Detail: map[string]any{"email": u.Email, "role": string(u.Role), "totp_required": u.TOTPRequired}})
	if err != nil {
		return err
	}
	out := portalUserJSON{ID: u.ID, Email: u.Email, Role: string(u.Role), ResellerName: u.ResellerName, TOTPRequired: u.TOTPRequired}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "added %s %s (id %d)\n", u.Role, u.Email, u.ID)
	})
}

// readPassword asks for the password twice at a terminal, without echo, or reads the
// first line of stdin (readSecret).
func readPassword(e *env) (string, error) { return readSecret(e, "password") }

// auditActor names the command line's user in the audit log.
func auditActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}
