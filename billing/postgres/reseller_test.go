package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/postgres"
	"tollgate/radius"
	"tollgate/radius/radiustest"
)

// walletEnv is a ResellerService on a fresh database.
type walletEnv struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	svc   *billing.ResellerService
}

func mustWalletEnv(tb testing.TB) *walletEnv {
	tb.Helper()
	return walletEnvOn(radiustest.MustDB(tb))
}

func walletEnvOn(pool *pgxpool.Pool) *walletEnv {
	store := postgres.NewStore(pool)
	return &walletEnv{pool: pool, store: store, svc: &billing.ResellerService{Store: store, Wallets: store}}
}

// mustReseller creates a reseller with a credit limit.
func (e *walletEnv) mustReseller(tb testing.TB, name string, creditLimitCents int64) *billing.Reseller {
	tb.Helper()
	r, err := e.svc.CreateReseller(context.Background(), billing.NewReseller{Name: name, CreditLimitCents: creditLimitCents})
	if err != nil {
		tb.Fatalf("create reseller %q: %v", name, err)
	}
	return r
}

// mustCredit tops the wallet of name up with a fresh key.
func (e *walletEnv) mustCredit(tb testing.TB, name string, cents int64) billing.LedgerEntry {
	tb.Helper()
	entry, err := e.svc.Credit(context.Background(), name, cents, "cash", radiustest.RandomName("k-"), "cli")
	if err != nil {
		tb.Fatalf("credit %q %d: %v", name, cents, err)
	}
	return entry
}

// state returns the balance of reseller id as stored, and how many ledger entries it has.
func (e *walletEnv) state(tb testing.TB, id int64) (balance int64, entries int) {
	tb.Helper()
	err := e.pool.QueryRow(context.Background(),
		`SELECT w.balance_cents, (SELECT count(*) FROM ledger_entries l WHERE l.wallet_id = w.id)
		 FROM wallets w WHERE w.reseller_id = $1`, id).Scan(&balance, &entries)
	if err != nil {
		tb.Fatalf("state of reseller %d: %v", id, err)
	}
	return balance, entries
}

// wantState checks the balance and the ledger length of reseller id.
func (e *walletEnv) wantState(tb testing.TB, id, balance int64, entries int) {
	tb.Helper()
	if b, n := e.state(tb, id); b != balance || n != entries {
		tb.Fatalf("reseller %d: balance %d with %d entries, want %d with %d", id, b, n, balance, entries)
	}
}

func TestResellers(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop, err := e.svc.CreateReseller(ctx, billing.NewReseller{Name: "shop", Email: "shop@example.com", CreditLimitCents: 2500})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if shop.ID == 0 || shop.Status != billing.ResellerActive || shop.BalanceCents != 0 || shop.CreatedAt.IsZero() ||
		shop.Email != "shop@example.com" || shop.CreditLimitCents != 2500 {
		t.Fatalf("created %+v", shop)
	}
	t.Run("created with a wallet holding the credit limit", func(t *testing.T) {
		w, err := e.svc.Balance(ctx, "shop")
		if err != nil || w.ResellerID != shop.ID || w.BalanceCents != 0 || w.CreditLimitCents != 2500 || w.AvailableCents() != 2500 {
			t.Fatalf("Balance = %+v, %v", w, err)
		}
	})
	t.Run("find", func(t *testing.T) {
		got, err := e.svc.FindResellerByName(ctx, "shop")
		if err != nil || *got != *shop {
			t.Fatalf("find = %+v, %v; want %+v", got, err, shop)
		}
	})
	t.Run("find unknown", func(t *testing.T) {
		_, err := e.svc.FindResellerByName(ctx, "nobody")
		wantErr(t, err, radius.ENOTFOUND, `reseller: no reseller named "nobody"`)
	})
	t.Run("duplicate name", func(t *testing.T) {
		_, err := e.svc.CreateReseller(ctx, billing.NewReseller{Name: "shop"})
		wantErr(t, err, radius.ECONFLICT, `name: a reseller named "shop" exists`)
	})
	t.Run("store: schema refuses what validation would", func(t *testing.T) {
		for _, tc := range []struct {
			r     billing.Reseller
			field string
		}{
			{billing.Reseller{Name: ""}, "name"},
			{billing.Reseller{Name: "x", CreditLimitCents: -1}, "credit-limit"},
			{billing.Reseller{Name: "y", Email: strings.Repeat("e", 255)}, "email"},
		} {
			err := e.store.CreateReseller(ctx, &tc.r)
			wantErr(t, err, radius.EINVALID, tc.field+": value not allowed")
		}
	})
	t.Run("list by name with balances", func(t *testing.T) {
		e.mustReseller(t, "alpha", 0)
		e.mustCredit(t, "alpha", 700)
		list, err := e.svc.ListResellers(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "alpha" || list[0].BalanceCents != 700 || list[1].Name != "shop" {
			t.Fatalf("list = %+v, %v", list, err)
		}
	})
	t.Run("credit limit follows the reseller, never below the debt", func(t *testing.T) {
		if _, err := e.svc.Debit(ctx, nil, "shop", 2000, "", "", "debt", "cli"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pool.Exec(ctx, `UPDATE resellers SET credit_limit_cents = 3000 WHERE id = $1`, shop.ID); err != nil {
			t.Fatalf("raise limit: %v", err)
		}
		if w, _ := e.svc.Balance(ctx, "shop"); w.CreditLimitCents != 3000 {
			t.Fatalf("wallet limit = %d after raising it to 3000", w.CreditLimitCents)
		}
		_, err := e.pool.Exec(ctx, `UPDATE resellers SET credit_limit_cents = 1999 WHERE id = $1`, shop.ID)
		if err == nil || !strings.Contains(err.Error(), "wallets_balance_within_credit_limit") {
			t.Fatalf("lowering the limit below a debt of 20.00: %v", err)
		}
		_, err = e.pool.Exec(ctx, `UPDATE wallets SET credit_limit_cents = 99999 WHERE reseller_id = $1`, shop.ID)
		if err == nil || !strings.Contains(err.Error(), "wallets_reseller_fkey") {
			t.Fatalf("a wallet's limit apart from its reseller's: %v", err)
		}
	})
	t.Run("a reseller with a ledger cannot be deleted", func(t *testing.T) {
		if _, err := e.pool.Exec(ctx, `DELETE FROM resellers WHERE id = $1`, shop.ID); err == nil {
			t.Fatal("deleted a reseller with a wallet and a ledger")
		}
	})
}
