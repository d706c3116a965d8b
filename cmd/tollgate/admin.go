package main

import (
	"context"
	"fmt"
	"io"
	"os/user"

	"tollgate/portal/auth"
	authpg "tollgate/portal/auth/postgres"
	authredis "tollgate/portal/auth/redis"
	"tollgate/radius"
)

// portalStores builds the portal's account service over d's Postgres and Redis, with
// the Redis session and counter store and the Postgres audit log it uses. Sessions live
// at most cfg.PortalSessionMax.
func portalStores(d *deps, cfg *Config) (*auth.Service, *authredis.Store, *authpg.Store) {
	pg := authpg.New(d.pool)
	rd := authredis.New(d.rdb, cfg.RedisPrefix)
	svc := auth.New(pg, rd, d.sealer)
	svc.Sessions = rd // account changes end open sessions at once
	if cfg.PortalSessionMax > 0 {
		svc.SessionMax, rd.Max = cfg.PortalSessionMax, cfg.PortalSessionMax
	}
	return svc, rd, pg
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
	svc, _, audit := portalStores(d, e.cfg)
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

// adminUser opens the portal's stores and finds the user of --email.
func adminUser(ctx context.Context, e *env, email string) (*auth.Service, *authpg.Store, *auth.User, error) {
	norm, err := auth.NormalizeEmail(email)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := e.open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	svc, _, audit := portalStores(d, e.cfg)
	u, err := svc.Users.FindUserByEmail(ctx, norm)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, nil, nil, radius.Errorf(radius.ENOTFOUND, "email: no portal user %s", norm)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return svc, audit, u, nil
}

// cmdAdminDisable disables a portal account and ends its open sessions at once; `admin
// enable` undoes it.
func cmdAdminDisable(ctx context.Context, e *env, args []string) error {
	return adminSetDisabled(ctx, e, "admin disable", args, true)
}

// cmdAdminEnable lets a disabled portal account sign in again.
func cmdAdminEnable(ctx context.Context, e *env, args []string) error {
	return adminSetDisabled(ctx, e, "admin enable", args, false)
}

func adminSetDisabled(ctx context.Context, e *env, name string, args []string, disable bool) error {
	fs := e.flags(name)
	email := fs.String("email", "", "the account's sign-in email")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "email"); err != nil {
		return err
	}
	svc, audit, u, err := adminUser(ctx, e, *email)
	if err != nil {
		return err
	}
	action, verb := "user.enable", "enabled"
	if disable {
		action, verb = "user.disable", "disabled"
		err = svc.Disable(ctx, u.ID)
	} else {
		err = svc.Enable(ctx, u.ID)
	}
	if err != nil {
		return err
	}
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: action, Target: fmt.Sprintf("user:%d", u.ID),
		Detail: map[string]any{"email": u.Email}}); err != nil {
		return err
	}
	return e.print(map[string]any{"id": u.ID, "email": u.Email, "disabled": disable}, func(w io.Writer) {
		if disable {
			fmt.Fprintf(w, "%s %s; its open sessions are ended\n", verb, u.Email)
		} else {
			fmt.Fprintf(w, "%s %s\n", verb, u.Email)
		}
	})
}

// cmdAdminRole changes a portal account's role (and reseller), ending its open sessions.
func cmdAdminRole(ctx context.Context, e *env, args []string) error {
	fs := e.flags("admin role")
	email := fs.String("email", "", "the account's sign-in email")
	role := fs.String("role", "", "admin or reseller")
	reseller := fs.String("reseller", "", "the reseller's name (with --role reseller)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "email", "role"); err != nil {
		return err
	}
	if *role != string(auth.RoleAdmin) && *role != string(auth.RoleReseller) {
		return usagef("admin role: --role: %q is not admin or reseller", *role)
	}
	if (*role == string(auth.RoleReseller)) != (*reseller != "") {
		return usagef("admin role: --reseller NAME goes with --role reseller, and only with it")
	}
	svc, audit, u, err := adminUser(ctx, e, *email)
	if err != nil {
		return err
	}
	if err := svc.ChangeRole(ctx, u.ID, auth.Role(*role), *reseller); err != nil {
		return err
	}
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "user.role", Target: fmt.Sprintf("user:%d", u.ID),
		Detail: map[string]any{"email": u.Email, "role": *role, "reseller": *reseller}}); err != nil {
		return err
	}
	return e.print(portalUserJSON{ID: u.ID, Email: u.Email, Role: *role, ResellerName: *reseller, TOTPRequired: u.TOTPRequired}, func(w io.Writer) {
		fmt.Fprintf(w, "%s is now %s; its open sessions are ended\n", u.Email, *role)
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
