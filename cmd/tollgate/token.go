package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"tollgate/billing"
	"tollgate/portal/auth"
	authpg "tollgate/portal/auth/postgres"
	"tollgate/radius"
)

// tokens is the API token service of the process: the Postgres store, keyed by the
// server key's "api token" subkey.
func (d *deps) tokens() *auth.Tokens {
	return &auth.Tokens{Store: authpg.New(d.pool), Key: d.sealer.Key(auth.TokenKeyPurpose), Now: time.Now}
}

type tokenJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Scope      string     `json:"scope"`
	State      string     `json:"state"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Token is the token in clear: only in the answer to token add.
	Token string `json:"token,omitempty"`
}

func toTokenJSON(t *auth.Token, now time.Time) tokenJSON {
	opt := func(v time.Time) *time.Time {
		if v.IsZero() {
			return nil
		}
		v = v.UTC()
		return &v
	}
	return tokenJSON{ID: t.ID, Name: t.Name, Scope: string(t.Scope), State: t.State(now), CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt.UTC(), ExpiresAt: opt(t.ExpiresAt), LastUsedAt: opt(t.LastUsedAt), RevokedAt: opt(t.RevokedAt)}
}

func cmdTokenAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("token add")
	name := fs.String("name", "", "what the token is for, e.g. billing-sync (the audit log names it token:NAME)")
	scope := fs.String("scope", "", "read (GET only) or write")
	expires := fs.String("expires", "0", "how long it lasts, e.g. 90d (0 = until revoked)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name", "scope"); err != nil {
		return err
	}
	ttl, err := billing.ParseDuration(*expires)
	if err != nil {
		return radius.Errorf(radius.EINVALID, "expires: %s", radius.ErrorMessage(err))
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	actor := auditActor()
	tok, t, err := d.tokens().Create(ctx, auth.TokenRequest{Name: *name, Scope: auth.Scope(*scope), TTL: ttl, CreatedBy: actor})
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: actor, Action: "token.create", Target: "token:" + t.Name,
		Detail: map[string]any{"scope": string(t.Scope), "expires": !t.ExpiresAt.IsZero()}}); err != nil {
		return err
	}
	out := toTokenJSON(t, time.Now())
	out.Token = tok
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "token %q (%s) made; it is shown only now, keep it secret:\n%s\n", t.Name, t.Scope, tok)
	})
}

func cmdTokenList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("token list")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.tokens().List(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]tokenJSON, 0, len(list))
	for i := range list {
		out = append(out, toTokenJSON(&list[i], now))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPE\tSTATE\tCREATED\tLAST USED\tEXPIRES\tBY")
		when := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.Format(time.RFC3339)
		}
		for _, t := range out {
			expires := when(t.ExpiresAt)
			if t.ExpiresAt == nil {
				expires = "never"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Scope, t.State, t.CreatedAt.Format(time.RFC3339), when(t.LastUsedAt), expires, t.CreatedBy)
		}
		tw.Flush()
	})
}

func cmdTokenRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.flags("token revoke")
	name := fs.String("name", "", "the live token to revoke")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	t, err := d.tokens().Revoke(ctx, *name)
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "token.revoke", Target: "token:" + t.Name}); err != nil {
		return err
	}
	return e.print(toTokenJSON(t, time.Now()), func(w io.Writer) { fmt.Fprintf(w, "token %q revoked\n", t.Name) })
}
