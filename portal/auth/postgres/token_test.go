package postgres

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// TestTokens runs the token service on the real table: a token authenticates once made,
// only its hash is stored, a wrong secret, an expired and a revoked token are refused,
// and a live name is unique while a revoked one can be reused.
func TestTokens(t *testing.T) {
	pool := radiustest.MustDB(t)
	ctx := context.Background()
	now := time.Now()
	svc := &auth.Tokens{Store: New(pool), Key: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return now }}

	tok, stored, err := svc.Create(ctx, auth.TokenRequest{Name: "billing-sync", Scope: auth.ScopeWrite, TTL: 90 * 24 * time.Hour, CreatedBy: "cli:root"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "tg_"+stored.Lookup+"_") || len(tok) != 3+16+1+43 {
		t.Fatalf("token %q lookup %q", tok, stored.Lookup)
	}
	var inDB []byte
	var row string
	if err := pool.QueryRow(ctx, `SELECT hash, t::text FROM api_tokens t WHERE id = $1`, stored.ID).Scan(&inDB, &row); err != nil {
		t.Fatal(err)
	}
	if secret := tok[len(tok)-43:]; strings.Contains(row, secret) || len(inDB) != 32 {
		t.Fatalf("the row holds the secret or no hash: %s", row)
	}

	got, err := svc.Authenticate(ctx, tok)
	if err != nil || got.ID != stored.ID || got.Scope != auth.ScopeWrite || got.Actor() != "token:billing-sync" {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if got, _ := svc.Store.FindTokenByLookup(ctx, stored.Lookup); got.LastUsedAt.IsZero() {
		t.Fatal("last use not recorded")
	}

	bad := []struct{ name, token, msg string }{
		{"empty", "", "not valid"},
		{"no prefix", strings.TrimPrefix(tok, "tg_"), "not valid"},
		{"wrong secret", tok[:len(tok)-1] + flip(tok[len(tok)-1]), "not valid"},
		{"unknown lookup", "tg_aaaaaaaaaaaaaaaa_" + tok[len(tok)-43:], "not valid"},
		{"truncated", tok[:len(tok)-2], "not valid"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Authenticate(ctx, tc.token)
			if radius.ErrorCode(err) != radius.EUNAUTHORIZED || !strings.Contains(radius.ErrorMessage(err), tc.msg) {
				t.Fatalf("= %v", err)
			}
		})
	}

	// Expired: the clock passes the end.
	later := *svc
	later.Now = func() time.Time { return now.Add(91 * 24 * time.Hour) }
	if _, err := later.Authenticate(ctx, tok); radius.ErrorCode(err) != radius.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired = %v", err)
	}

	if _, _, err := svc.Create(ctx, auth.TokenRequest{Name: "billing-sync", Scope: auth.ScopeRead}); radius.ErrorCode(err) != radius.ECONFLICT {
		t.Fatalf("second live token of the name = %v", err)
	}
	for _, in := range []auth.TokenRequest{
		{Name: "", Scope: auth.ScopeRead},
		{Name: "a b", Scope: auth.ScopeRead},
		{Name: "x", Scope: "admin"},
		{Name: "x", Scope: auth.ScopeRead, TTL: -time.Hour},
		{Name: "x", Scope: auth.ScopeRead, TTL: 11 * 365 * 24 * time.Hour},
	} {
		if _, _, err := svc.Create(ctx, in); radius.ErrorCode(err) != radius.EINVALID {
			t.Errorf("Create(%+v) = %v", in, err)
		}
	}

	r, err := svc.Revoke(ctx, "billing-sync")
	if err != nil || r.RevokedAt.IsZero() {
		t.Fatalf("Revoke = %+v, %v", r, err)
	}
	if _, err := svc.Authenticate(ctx, tok); !strings.Contains(radius.ErrorMessage(err), "revoked") {
		t.Fatalf("revoked = %v", err)
	}
	if _, err := svc.Revoke(ctx, "billing-sync"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("second revoke = %v", err)
	}
	tok2, _, err := svc.Create(ctx, auth.TokenRequest{Name: "billing-sync", Scope: auth.ScopeRead})
	if err != nil {
		t.Fatalf("a revoked token's name is free again: %v", err)
	}
	if got, err := svc.Authenticate(ctx, tok2); err != nil || got.Scope != auth.ScopeRead || !got.ExpiresAt.IsZero() {
		t.Fatalf("new token = %+v, %v", got, err)
	}
	list, err := svc.List(ctx)
	if err != nil || len(list) != 2 || !list[0].RevokedAt.IsZero() || list[1].RevokedAt.IsZero() {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
