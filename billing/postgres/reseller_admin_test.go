package postgres_test

import (
	"context"
	"testing"

	"tollgate/billing"
	"tollgate/radius"
)

// TestUpdateReseller changes a reseller's email, status and credit limit (which reaches
// its wallet), and refuses a limit below what the wallet owes.
func TestUpdateReseller(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	e.mustReseller(t, "Kiosk", 50_00)
	email, limit, status := "kiosk@example.com", int64(80_00), billing.ResellerSuspended
	r, err := e.svc.UpdateReseller(ctx, "Kiosk", billing.ResellerUpdate{Email: &email, CreditLimitCents: &limit, Status: &status})
	if err != nil {
		t.Fatal(err)
	}
	if r.Email != email || r.CreditLimitCents != limit || r.Status != status {
		t.Fatalf("updated %+v", r)
	}
	var walletLimit int64
	if err := e.pool.QueryRow(ctx, `SELECT credit_limit_cents FROM wallets WHERE reseller_id = $1`, r.ID).Scan(&walletLimit); err != nil || walletLimit != limit {
		t.Fatalf("wallet's limit %d, %v", walletLimit, err)
	}
	// The wallet owes 60.00: a limit of 50.00 is refused, naming the field.
	if _, err := e.pool.Exec(ctx, `UPDATE wallets SET balance_cents = -6000 WHERE reseller_id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	low := int64(50_00)
	_, err = e.svc.UpdateReseller(ctx, "Kiosk", billing.ResellerUpdate{CreditLimitCents: &low})
	if radius.ErrorCode(err) != radius.EINVALID || radius.ErrorMessage(err)[:13] != "credit-limit:" {
		t.Fatalf("limit below the debt: %v", err)
	}
	bad := "not an address"
	if _, err := e.svc.UpdateReseller(ctx, "Kiosk", billing.ResellerUpdate{Email: &bad}); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("bad email: %v", err)
	}
	if _, err := e.svc.UpdateReseller(ctx, "Nobody", billing.ResellerUpdate{Email: &email}); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown reseller: %v", err)
	}
}
