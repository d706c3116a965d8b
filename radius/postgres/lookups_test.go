package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"tollgate/radius"
)

// TestLookupsBatched: lookups gathered into one query find what the single query finds
// (a subscriber over a voucher of the same name, a voucher by name or by code, the
// usage read with it) and nothing for an unknown name, however many run at once.
func TestLookupsBatched(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	direct, pool := MustStore(t)
	batched := New(pool)
	batched.StartLookups(ctx)
	plan := MustPlan(t, pool, "Batch", "hotspot")
	for i := range 20 {
		MustExec(t, pool, `INSERT INTO subscribers (username, password, plan_id) VALUES ($1, 'x', $2)`, fmt.Sprintf("sub%02d", i), plan)
	}
	MustVoucher(t, pool, plan, "SHARED-NAME-1", "sub00", []byte("v")) // a voucher named like a subscriber
	MustVoucher(t, pool, plan, "USERPASS-CODE", "vname", []byte("v"))
	MustVoucher(t, pool, plan, "ABCD-EFGH-JK", "", []byte("v"))
	type q struct {
		name string
		hash []byte
	}
	var queries []q
	for i := range 20 {
		queries = append(queries, q{fmt.Sprintf("sub%02d", i), nil})
	}
	queries = append(queries, q{"vname", codeHash("vname")}, q{"ABCD-EFGH-JK", codeHash("ABCD-EFGH-JK")}, q{"nobody", codeHash("nobody")}, q{"nobody2", nil})
	for round := range 3 {
		var wg sync.WaitGroup
		for _, qq := range queries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				want, werr := direct.FindAccountByUsername(ctx, qq.name, qq.hash)
				got, gerr := batched.FindAccountByUsername(ctx, qq.name, qq.hash)
				if radius.ErrorCode(werr) != radius.ErrorCode(gerr) || (werr == nil) != (gerr == nil) {
					t.Errorf("round %d, %s: batched %v, single %v", round, qq.name, gerr, werr)
					return
				}
				if werr != nil {
					return
				}
				if *got.StoreUsage != *want.StoreUsage {
					t.Errorf("%s: usage %+v, want %+v", qq.name, got.StoreUsage, want.StoreUsage)
				}
				g, w := *got, *want
				g.StoreUsage, w.StoreUsage = nil, nil
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("%s:\n%+v\nwant\n%+v", qq.name, g, w)
				}
			}()
		}
		wg.Wait()
	}
	if batched.gathered.Load() == 0 {
		t.Fatal("no lookup shared a query")
	}
	if a, err := batched.FindAccountByUsername(ctx, "sub00", nil); err != nil || a.VoucherID != 0 {
		t.Fatalf("sub00: %+v, %v; want the subscriber", a, err)
	}
}
