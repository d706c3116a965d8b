package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
	"tollgate/hotspot/postgres"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// mustPurchaser adds the plan "resale" (2.50 to resellers) and the reseller "shop" with
// balance 10.00 to e.
func (e *env) mustPurchaser(tb testing.TB) (*hotspot.Purchaser, *billing.ResellerService) {
	tb.Helper()
	ctx := context.Background()
	plans := &billing.Service{Store: billingpg.NewStore(e.pool), Sealer: e.sealer}
	if _, err := plans.CreatePlan(ctx, billing.Plan{Name: "resale", Kind: radius.KindHotspot, Validity: time.Hour, ResellerPriceCents: 250}); err != nil {
		tb.Fatal(err)
	}
	bs := billingpg.NewStore(e.pool)
	rs := &billing.ResellerService{Store: bs, Wallets: bs}
	if _, err := rs.CreateReseller(ctx, billing.NewReseller{Name: "shop"}); err != nil {
		tb.Fatal(err)
	}
	if _, err := rs.Credit(ctx, "shop", 1000, "cash", "topup-1", "admin@example.com"); err != nil {
		tb.Fatal(err)
	}
	return &hotspot.Purchaser{Service: e.svc, Resellers: rs, InTx: purchaseTx(e.pool)}, rs
}

// purchaseTx binds this package's Store and billing's wallet store to one transaction,
// as cmd/tollgate wires a purchase.
func purchaseTx(pool *pgxpool.Pool) hotspot.InTx {
	return func(ctx context.Context, fn func(hotspot.Store, billing.WalletStore) error) error {
		return pg.WithTx(ctx, pool, func(tx pgx.Tx) error {
			return fn(postgres.NewStore(tx), billingpg.NewStore(tx))
		})
	}
}

func TestPurchase(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	p, rs := e.mustPurchaser(t)
	balance := func() int64 {
		w, err := rs.Balance(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		return w.BalanceCents
	}

	got, err := p.Purchase(ctx, "shop", "resale", 3, "buy-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Replayed || len(got.Vouchers) != 3 || balance() != 1000-3*250 {
		t.Fatalf("purchase %+v, balance %d", got, balance())
	}
	if n := e.count(t, `SELECT count(*) FROM vouchers WHERE batch_id = $1 AND state = 'sold' AND sold_at = $2`, got.BatchID, e.now); n != 3 {
		t.Fatalf("%d sold vouchers", n)
	}
	if n := e.count(t, `SELECT count(*) FROM voucher_batches WHERE id = $1 AND reseller = 'shop'`, got.BatchID); n != 1 {
		t.Fatal("batch not marked for the reseller")
	}

	t.Run("same key buys once", func(t *testing.T) {
		again, err := p.Purchase(ctx, "shop", "resale", 3, "buy-1")
		if err != nil {
			t.Fatal(err)
		}
		if !again.Replayed || again.BatchID != got.BatchID || balance() != 250 || e.count(t, `SELECT count(*) FROM voucher_batches`) != 1 {
			t.Fatalf("replay %+v, balance %d", again, balance())
		}
	})
	t.Run("overspend creates nothing", func(t *testing.T) {
		_, err := p.Purchase(ctx, "shop", "resale", 2, "buy-2")
		if radius.ErrorCode(err) != radius.EQUOTA {
			t.Fatalf("err %v; want EQUOTA", err)
		}
		if balance() != 250 || e.count(t, `SELECT count(*) FROM voucher_batches`) != 1 || e.count(t, `SELECT count(*) FROM vouchers`) != 3 {
			t.Fatal("an overspend wrote something")
		}
	})
	t.Run("plan without reseller price", func(t *testing.T) {
		if _, err := p.Purchase(ctx, "shop", "1h", 1, "buy-3"); radius.ErrorCode(err) != radius.EINVALID {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("report", func(t *testing.T) {
		days, err := e.store.SalesReport(ctx, "shop", 30)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 2 && len(days) != 1 {
			t.Fatalf("days %+v", days)
		}
		sold, cents := 0, int64(0)
		for _, d := range days {
			sold += d.Sold
			cents += d.RevenueCents
		}
		if sold != 3 || cents != 750 {
			t.Fatalf("report %+v", days)
		}
		bs, err := e.store.FindBatches(ctx, "shop", 10)
		if err != nil || len(bs) != 1 || bs[0].Sold != 3 || bs[0].PlanName != "resale" {
			t.Fatalf("batches %+v %v", bs, err)
		}
		if other, _ := e.store.FindBatches(ctx, "other", 10); len(other) != 0 {
			t.Fatalf("another reseller sees %+v", other)
		}
	})
}
