package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/postgres"
	"tollgate/radius"
	"tollgate/radius/pg"
	"tollgate/radius/radiustest"
)

func TestWalletCreditDebitBalance(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 0)
	top, err := e.svc.Credit(ctx, "shop", 2000, "cash at the counter", "top-1", "admin@example.com")
	if err != nil {
		t.Fatalf("credit: %v", err)
	}
	if top.ID == 0 || top.At.IsZero() || top.ResellerID != shop.ID || top.AmountCents != 2000 || top.BalanceAfterCents != 2000 ||
		top.Kind != billing.EntryTopup || top.Note != "cash at the counter" || top.Actor != "admin@example.com" || top.Replayed {
		t.Fatalf("credit entry = %+v", top)
	}
	buy, err := e.svc.Debit(ctx, nil, "shop", 550, "batch 17", "10 vouchers", "buy-1", "cli")
	if err != nil {
		t.Fatalf("debit: %v", err)
	}
	if buy.AmountCents != -550 || buy.BalanceAfterCents != 1450 || buy.Kind != billing.EntryPurchase || buy.Ref != "batch 17" {
		t.Fatalf("debit entry = %+v", buy)
	}
	w, err := e.svc.Balance(ctx, "shop")
	if err != nil || w.BalanceCents != 1450 || w.AvailableCents() != 1450 {
		t.Fatalf("balance = %+v, %v", w, err)
	}
	refund, err := e.svc.Post(ctx, nil, "shop", billing.Movement{Kind: billing.EntryRefund, AmountCents: 50, Ref: "batch 17", IdempotencyKey: "ref-1", Actor: "cli"})
	if err != nil || refund.BalanceAfterCents != 1500 {
		t.Fatalf("refund = %+v, %v", refund, err)
	}
	list, err := e.svc.Ledger(ctx, "shop", 0)
	if err != nil || len(list) != 3 {
		t.Fatalf("ledger = %+v, %v", list, err)
	}
	// Newest first, exactly as Credit and Debit returned them.
	buy.At, list[1].At = buy.At.UTC(), list[1].At.UTC()
	if list[0].ID != refund.ID || list[1] != buy || list[2].ID != top.ID {
		t.Fatalf("ledger = %+v\nwant refund, %+v, topup", list, buy)
	}
	if got, err := e.svc.Ledger(ctx, "shop", 1); err != nil || len(got) != 1 || got[0].ID != refund.ID {
		t.Fatalf("ledger limit 1 = %+v, %v", got, err)
	}
	if got, err := e.store.FindLedgerEntryByKey(ctx, billing.ResellerOwner(shop.ID), "buy-1"); err != nil || got.ID != buy.ID {
		t.Fatalf("find by key = %+v, %v", got, err)
	}
	_, err = e.store.FindLedgerEntryByKey(ctx, billing.ResellerOwner(shop.ID), "nope")
	wantErr(t, err, radius.ENOTFOUND, fmt.Sprintf(`idempotency-key: no entry with key "nope" for reseller %d`, shop.ID))
	_, err = e.store.FindLedgerEntryByKey(ctx, billing.ResellerOwner(shop.ID+1), "buy-1")
	wantErr(t, err, radius.ENOTFOUND, fmt.Sprintf(`idempotency-key: no entry with key "buy-1" for reseller %d`, shop.ID+1))
	_, err = e.store.FindWallet(ctx, billing.ResellerOwner(999))
	wantErr(t, err, radius.ENOTFOUND, "reseller: no wallet for reseller 999")
	_, err = e.store.Move(ctx, billing.Movement{ResellerID: 999, Kind: billing.EntryTopup, AmountCents: 1, Note: "x", IdempotencyKey: "k-999", Actor: "cli"})
	wantErr(t, err, radius.ENOTFOUND, "reseller: no wallet for reseller 999")
	e.wantState(t, shop.ID, 1500, 3)
}

func TestWalletOverspendRefused(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 0)
	e.mustCredit(t, "shop", 1000)
	_, err := e.svc.Debit(ctx, nil, "shop", 1001, "", "", "over-1", "cli")
	wantErr(t, err, radius.EQUOTA, `balance: reseller "shop" needs 10.01, available 10.00 (balance 10.00, credit limit 0.00)`)
	e.wantState(t, shop.ID, 1000, 1)
	// Nothing was written, so the key is still free for a debit that fits.
	if entry, err := e.svc.Debit(ctx, nil, "shop", 1000, "", "", "over-1", "cli"); err != nil || entry.BalanceAfterCents != 0 || entry.Replayed {
		t.Fatalf("debit of the whole balance = %+v, %v", entry, err)
	}
	_, err = e.svc.Debit(ctx, nil, "shop", 1, "", "", "over-2", "cli")
	wantErr(t, err, radius.EQUOTA, `balance: reseller "shop" needs 0.01, available 0.00 (balance 0.00, credit limit 0.00)`)
	e.wantState(t, shop.ID, 0, 2)
}

func TestWalletCreditLimit(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 500)
	if entry, err := e.svc.Debit(ctx, nil, "shop", 300, "", "", "cl-1", "cli"); err != nil || entry.BalanceAfterCents != -300 {
		t.Fatalf("debit into credit = %+v, %v", entry, err)
	}
	if entry, err := e.svc.Debit(ctx, nil, "shop", 200, "", "", "cl-2", "cli"); err != nil || entry.BalanceAfterCents != -500 {
		t.Fatalf("debit to the limit = %+v, %v", entry, err)
	}
	_, err := e.svc.Debit(ctx, nil, "shop", 1, "", "", "cl-3", "cli")
	wantErr(t, err, radius.EQUOTA, `balance: reseller "shop" needs 0.01, available 0.00 (balance -5.00, credit limit 5.00)`)
	e.wantState(t, shop.ID, -500, 2)
	// The CHECK itself refuses, not only the store.
	_, err = e.pool.Exec(ctx, `UPDATE wallets SET balance_cents = -501 WHERE reseller_id = $1`, shop.ID)
	if err == nil || !strings.Contains(err.Error(), "wallets_balance_within_credit_limit") {
		t.Fatalf("balance below the limit by SQL: %v", err)
	}
	// A top-up pays the debt back first.
	if entry := e.mustCredit(t, "shop", 800); entry.BalanceAfterCents != 300 {
		t.Fatalf("credit after debt = %+v", entry)
	}
}

// TestWalletConcurrentDebits races 50 debits of 1.00 against 20.00: the wallet's row
// lock queues them, and the CHECK refuses every one after the twentieth.
func TestWalletConcurrentDebits(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(radiustest.MustDBURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20 // enough to race, few enough to share the server with other packages' tests
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := walletEnvOn(pool)
	shop := e.mustReseller(t, "shop", 0)
	e.mustCredit(t, "shop", 2000)
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	entries := make([]billing.LedgerEntry, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			entries[i], errs[i] = e.svc.Debit(ctx, nil, "shop", 100, "", "", fmt.Sprintf("race-%d", i), "cli")
		}()
	}
	close(start)
	wg.Wait()
	ok, after := 0, map[int64]bool{}
	for i, err := range errs {
		switch radius.ErrorCode(err) {
		case "":
			ok++
			after[entries[i].BalanceAfterCents] = true
		case radius.EQUOTA:
		default:
			t.Fatalf("debit %d: %v", i, err)
		}
	}
	if ok != 20 || len(after) != 20 {
		t.Fatalf("%d debits succeeded with %d distinct balances, want 20 and 20", ok, len(after))
	}
	for b := int64(0); b < 2000; b += 100 {
		if !after[b] {
			t.Fatalf("no debit left the balance at %d: %v", b, after)
		}
	}
	var purchases int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE kind = 'purchase'`).Scan(&purchases); err != nil || purchases != 20 {
		t.Fatalf("purchase rows = %d, %v; want 20", purchases, err)
	}
	e.wantState(t, shop.ID, 0, 21)
}

func TestWalletIdempotency(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 0)
	other := e.mustReseller(t, "other", 0)
	first, err := e.svc.Credit(ctx, "shop", 1250, "cash", "same-key", "cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("same key twice: one row, the same entry", func(t *testing.T) {
		again, err := e.svc.Credit(ctx, "shop", 1250, "cash, sent twice", "same-key", "cli")
		if err != nil || !again.Replayed {
			t.Fatalf("replay = %+v, %v", again, err)
		}
		again.Replayed = false
		if again.ID != first.ID || !again.At.Equal(first.At) || again.BalanceAfterCents != 1250 || again.Note != "cash" {
			t.Fatalf("replay = %+v, want %+v", again, first)
		}
		e.wantState(t, shop.ID, 1250, 1)
	})
	conflicts := []struct {
		name string
		call func() error
	}{
		{"different amount", func() error { _, err := e.svc.Credit(ctx, "shop", 1251, "cash", "same-key", "cli"); return err }},
		{"different kind", func() error { _, err := e.svc.Debit(ctx, nil, "shop", 1250, "", "", "same-key", "cli"); return err }},
	}
	for _, tc := range conflicts {
		t.Run("same key, "+tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), radius.ECONFLICT,
				`idempotency-key: "same-key" was already used for another movement (a different reseller, kind or amount)`)
			e.wantState(t, shop.ID, 1250, 1)
			e.wantState(t, other.ID, 0, 0)
		})
	}
	t.Run("a refused debit leaves its key free until a debit fits", func(t *testing.T) {
		_, err := e.svc.Debit(ctx, nil, "shop", 2000, "", "", "buy-big", "cli")
		wantErr(t, err, radius.EQUOTA, `balance: reseller "shop" needs 20.00, available 12.50 (balance 12.50, credit limit 0.00)`)
		e.mustCredit(t, "shop", 750)
		first, err := e.svc.Debit(ctx, nil, "shop", 2000, "", "", "buy-big", "cli")
		if err != nil || first.BalanceAfterCents != 0 {
			t.Fatalf("debit = %+v, %v", first, err)
		}
		// A retry after the money is gone is still answered with the original entry.
		again, err := e.svc.Debit(ctx, nil, "shop", 2000, "", "", "buy-big", "cli")
		if err != nil || again.ID != first.ID || !again.Replayed {
			t.Fatalf("replayed debit = %+v, %v", again, err)
		}
		e.wantState(t, shop.ID, 0, 3)
	})
	t.Run("concurrent requests with one key move money once", func(t *testing.T) {
		const n = 20
		var wg sync.WaitGroup
		got := make([]billing.LedgerEntry, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = e.svc.Credit(ctx, "other", 300, "webhook", "evt-1", "cli")
			}()
		}
		close(start)
		wg.Wait()
		fresh := 0
		for i := range n {
			if errs[i] != nil || got[i].ID != got[0].ID || got[i].BalanceAfterCents != 300 {
				t.Fatalf("request %d = %+v, %v; request 0 = %+v", i, got[i], errs[i], got[0])
			}
			if !got[i].Replayed {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d requests claim to have moved the money, want 1", fresh)
		}
		e.wantState(t, other.ID, 300, 1)
	})
	t.Run("store: schema refuses a movement validation would", func(t *testing.T) {
		_, err := e.store.Move(ctx, billing.Movement{ResellerID: other.ID, Kind: billing.EntryTopup, AmountCents: -1,
			IdempotencyKey: "neg-topup", Actor: "cli"})
		wantErr(t, err, radius.EINVALID, "amount: value not allowed")
		_, err = e.store.Move(ctx, billing.Movement{ResellerID: other.ID, Kind: billing.EntryTopup, AmountCents: 1,
			IdempotencyKey: "no-actor"})
		wantErr(t, err, radius.EINVALID, "actor: value not allowed")
		e.wantState(t, other.ID, 300, 1)
	})
}

// TestWalletIdempotencyPerWallet: idempotency keys are unique per wallet. A key reused
// on another wallet is a new movement there; the same key on the same wallet still
// moves money once; each wallet's statement finds its own entry by the key.
func TestWalletIdempotencyPerWallet(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 0)
	other := e.mustReseller(t, "other", 0)
	a, err := e.svc.Credit(ctx, "shop", 1000, "cash", "receipt-7", "cli")
	if err != nil || a.Replayed {
		t.Fatalf("shop = %+v, %v", a, err)
	}
	b, err := e.svc.Credit(ctx, "other", 400, "cash", "receipt-7", "cli")
	if err != nil || b.Replayed || b.ID == a.ID || b.BalanceAfterCents != 400 {
		t.Fatalf("the same key on another wallet = %+v, %v; want a new movement", b, err)
	}
	for _, tc := range []struct {
		name     string
		reseller string
		amount   int64
		want     billing.LedgerEntry
	}{{"shop", "shop", 1000, a}, {"other", "other", 400, b}} {
		again, err := e.svc.Credit(ctx, tc.reseller, tc.amount, "cash, again", "receipt-7", "cli")
		if err != nil || !again.Replayed || again.ID != tc.want.ID {
			t.Fatalf("%s retry = %+v, %v; want the first entry replayed", tc.name, again, err)
		}
		got, err := e.store.FindLedgerEntryByKey(ctx, billing.ResellerOwner(tc.want.ResellerID), "receipt-7")
		if err != nil || got.ID != tc.want.ID {
			t.Fatalf("%s find by key = %+v, %v", tc.name, got, err)
		}
	}
	_, err = e.svc.Credit(ctx, "other", 401, "cash", "receipt-7", "cli")
	wantErr(t, err, radius.ECONFLICT,
		`idempotency-key: "receipt-7" was already used for another movement (a different reseller, kind or amount)`)
	e.wantState(t, shop.ID, 1000, 1)
	e.wantState(t, other.ID, 400, 1)
	// The schema holds it, not only the store.
	_, err = e.pool.Exec(ctx, `INSERT INTO ledger_entries (wallet_id, amount_cents, balance_after_cents, kind, idempotency_key, actor)
		SELECT id, 1, 401, 'topup', 'receipt-7', 'sql' FROM wallets WHERE reseller_id = $1`, other.ID)
	if err == nil || !strings.Contains(err.Error(), "ledger_entries_wallet_idempotency_key") {
		t.Fatalf("a second row of one key in one wallet by SQL: %v", err)
	}
}

func TestLedgerAppendOnly(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 0)
	entry := e.mustCredit(t, "shop", 1000)
	for _, sql := range []string{
		`UPDATE ledger_entries SET amount_cents = 1000000 WHERE id = $1`,
		`UPDATE ledger_entries SET note = 'edited' WHERE id = $1`,
		`DELETE FROM ledger_entries WHERE id = $1`,
	} {
		_, err := e.pool.Exec(ctx, sql, entry.ID)
		if err == nil || !strings.Contains(err.Error(), "ledger_entries is append-only") {
			t.Fatalf("%s: err = %v, want the append-only trigger", sql, err)
		}
	}
	if _, err := e.pool.Exec(ctx, `TRUNCATE ledger_entries CASCADE`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("truncate: err = %v, want the append-only trigger", err)
	}
	list, err := e.svc.Ledger(ctx, "shop", 10)
	if err != nil || len(list) != 1 || list[0].AmountCents != 1000 || list[0].Note != "cash" {
		t.Fatalf("ledger after refused edits = %+v, %v", list, err)
	}
	e.wantState(t, shop.ID, 1000, 1)
}

// errAlreadyBought rolls back a purchase whose debit was a replay.
var errAlreadyBought = errors.New("already bought")

// TestWalletInTransaction composes a debit with another store's write in one transaction,
// as a voucher purchase does; a plan stands in for the voucher batch.
func TestWalletInTransaction(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 0)
	e.mustCredit(t, "shop", 1000)
	// purchase creates the "batch" and debits for it in one transaction.
	purchase := func(batch string, cents int64, key string) (billing.LedgerEntry, error) {
		var entry billing.LedgerEntry
		err := pg.WithTx(ctx, e.pool, func(tx pgx.Tx) error {
			store := postgres.NewStore(tx)
			if err := store.CreatePlan(ctx, &billing.Plan{Name: batch, Kind: radius.KindHotspot}); err != nil {
				return err
			}
			var err error
			if entry, err = e.svc.Debit(ctx, store, "shop", cents, batch, "", key, "cli"); err != nil {
				return err
			}
			if entry.Replayed {
				return errAlreadyBought
			}
			return nil
		})
		return entry, err
	}
	batchExists := func(name string) bool {
		_, err := e.store.FindPlanByName(ctx, name)
		return err == nil
	}
	t.Run("both commit", func(t *testing.T) {
		entry, err := purchase("batch-1", 400, "p-1")
		if err != nil || entry.Ref != "batch-1" || entry.BalanceAfterCents != 600 || !batchExists("batch-1") {
			t.Fatalf("purchase = %+v, %v", entry, err)
		}
		e.wantState(t, shop.ID, 600, 2)
	})
	t.Run("EQUOTA rolls the batch back", func(t *testing.T) {
		_, err := purchase("batch-2", 601, "p-2")
		wantErr(t, err, radius.EQUOTA, `balance: reseller "shop" needs 6.01, available 6.00 (balance 6.00, credit limit 0.00)`)
		if batchExists("batch-2") {
			t.Fatal("batch-2 exists after a refused debit")
		}
		e.wantState(t, shop.ID, 600, 2)
	})
	t.Run("a failed batch rolls the debit back", func(t *testing.T) {
		err := pg.WithTx(ctx, e.pool, func(tx pgx.Tx) error {
			store := postgres.NewStore(tx)
			if _, err := e.svc.Debit(ctx, store, "shop", 100, "batch-1", "", "p-3", "cli"); err != nil {
				return err
			}
			return store.CreatePlan(ctx, &billing.Plan{Name: "batch-1", Kind: radius.KindHotspot}) // taken
		})
		if radius.ErrorCode(err) != radius.ECONFLICT {
			t.Fatalf("err = %v, want ECONFLICT", err)
		}
		e.wantState(t, shop.ID, 600, 2)
		if _, err := e.store.FindLedgerEntryByKey(ctx, billing.ResellerOwner(shop.ID), "p-3"); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("entry p-3 after rollback: %v", err)
		}
	})
	t.Run("a replayed purchase returns the first batch", func(t *testing.T) {
		entry, err := purchase("batch-1-again", 400, "p-1")
		if !errors.Is(err, errAlreadyBought) || entry.Ref != "batch-1" || !entry.Replayed {
			t.Fatalf("replay = %+v, %v", entry, err)
		}
		if batchExists("batch-1-again") {
			t.Fatal("the replay's batch was kept")
		}
		e.wantState(t, shop.ID, 600, 2)
	})
	t.Run("a refused debit leaves the caller's transaction usable", func(t *testing.T) {
		err := pg.WithTx(ctx, e.pool, func(tx pgx.Tx) error {
			store := postgres.NewStore(tx)
			if _, err := e.svc.Debit(ctx, store, "shop", 10000, "", "", "p-4", "cli"); radius.ErrorCode(err) != radius.EQUOTA {
				return fmt.Errorf("big debit: %v, want EQUOTA", err)
			}
			_, err := e.svc.Debit(ctx, store, "shop", 100, "", "", "p-5", "cli")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		e.wantState(t, shop.ID, 500, 3)
	})
}

// waitForLockWaiters waits until n sessions of this database wait on a lock.
func waitForLockWaiters(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	for range 500 {
		var waiting int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			tb.Fatalf("pg_stat_activity: %v", err)
		}
		if waiting >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("no session waits on a lock")
}

// TestWalletKeyRace holds a movement's transaction open while a second request with the
// same key arrives, so the second one cannot see the first and must wait for it: on the
// wallet's row lock (same reseller); a request with the key to another wallet does not
// wait at all.
func TestWalletKeyRace(t *testing.T) {
	ctx := context.Background()
	e := mustWalletEnv(t)
	shop := e.mustReseller(t, "shop", 0)
	other := e.mustReseller(t, "other", 0)
	e.mustCredit(t, "shop", 1000)
	// race runs first in an open transaction, then second concurrently, then commits.
	race := func(first func(store *postgres.Store) error, second func() (billing.LedgerEntry, error)) (billing.LedgerEntry, error) {
		t.Helper()
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := first(postgres.NewStore(tx)); err != nil {
			t.Fatalf("first: %v", err)
		}
		type result struct {
			entry billing.LedgerEntry
			err   error
		}
		done := make(chan result, 1)
		go func() {
			entry, err := second()
			done <- result{entry, err}
		}()
		waitForLockWaiters(t, e.pool, 1)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		r := <-done
		return r.entry, r.err
	}
	t.Run("same reseller: the second waits on the wallet, then replays", func(t *testing.T) {
		var first billing.LedgerEntry
		got, err := race(func(store *postgres.Store) (err error) {
			first, err = e.svc.Debit(ctx, store, "shop", 300, "", "", "k-wallet", "cli")
			return err
		}, func() (billing.LedgerEntry, error) {
			return e.svc.Debit(ctx, nil, "shop", 300, "", "", "k-wallet", "cli")
		})
		if err != nil || got.ID != first.ID || !got.Replayed || got.BalanceAfterCents != 700 {
			t.Fatalf("second = %+v, %v; first %+v", got, err, first)
		}
		e.wantState(t, shop.ID, 700, 2)
	})
	t.Run("same reseller, balance gone: the second replays instead of EQUOTA", func(t *testing.T) {
		var first billing.LedgerEntry
		got, err := race(func(store *postgres.Store) (err error) {
			first, err = e.svc.Debit(ctx, store, "shop", 700, "", "", "k-drain", "cli")
			return err
		}, func() (billing.LedgerEntry, error) {
			return e.svc.Debit(ctx, nil, "shop", 700, "", "", "k-drain", "cli")
		})
		if err != nil || got.ID != first.ID || !got.Replayed || got.BalanceAfterCents != 0 {
			t.Fatalf("second = %+v, %v; first %+v", got, err, first)
		}
		e.wantState(t, shop.ID, 0, 3)
	})
	t.Run("another reseller: the key does not hold the second up; each wallet moves once", func(t *testing.T) {
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := e.svc.Post(ctx, postgres.NewStore(tx), "shop", billing.Movement{Kind: billing.EntryTopup, AmountCents: 100,
			Note: "cash", IdempotencyKey: "k-index", Actor: "cli"}); err != nil {
			t.Fatal(err)
		}
		// The first transaction is still open: a request with its key to another wallet
		// is another request, and neither waits for nor conflicts with it.
		done := make(chan error, 1)
		go func() {
			entry, err := e.svc.Credit(ctx, "other", 100, "cash", "k-index", "cli")
			if err == nil && (entry.Replayed || entry.BalanceAfterCents != 100) {
				err = fmt.Errorf("entry %+v", entry)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("other wallet: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a movement of another wallet waited for the key")
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		e.wantState(t, shop.ID, 100, 4)
		e.wantState(t, other.ID, 100, 1)
	})
}
