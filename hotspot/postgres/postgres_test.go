package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
	"tollgate/hotspot/postgres"
	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/radiustest"
	"tollgate/radius/seal"
)

// testSealer is the real sealer with a test key: codes and passwords are sealed to their
// rows and codes hashed as in production.
func testSealer(tb testing.TB) *seal.Sealer {
	tb.Helper()
	s, err := seal.New(bytes.Repeat([]byte{9}, seal.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

type env struct {
	pool   *pgxpool.Pool
	store  *postgres.Store
	svc    *hotspot.Service
	sealer *seal.Sealer
	now    time.Time
}

// hash is the stored hash of a code as typed.
func (e *env) hash(code string) []byte {
	return e.sealer.Hash(radius.HashVoucherCode, []byte(radius.NormalizeCode(code)))
}

// mustEnv returns a service on a fresh database with the hotspot plans "1h" (first
// login, 1 hour uptime, 1000 bytes) and "week" (7 days from the sale).
func mustEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{pool: radiustest.MustDB(tb), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), sealer: testSealer(tb)}
	e.store = postgres.NewStore(e.pool)
	plans := &billing.Service{Store: billingpg.NewStore(e.pool), Sealer: e.sealer}
	for _, p := range []billing.Plan{
		{Name: "1h", Kind: radius.KindHotspot, Validity: 24 * time.Hour, UptimeLimit: time.Hour, DataLimit: 1000, SharedUsers: 1},
		{Name: "week", Kind: radius.KindHotspot, Validity: 7 * 24 * time.Hour, ValidityFrom: billing.FromSale},
	} {
		if _, err := plans.CreatePlan(context.Background(), p); err != nil {
			tb.Fatal(err)
		}
	}
	e.svc = &hotspot.Service{
		Store: e.store, Plans: billingpg.NewStore(e.pool), Sealer: e.sealer, Codes: e.sealer, Usage: radiuspg.New(e.pool),
		Now: func() time.Time { return e.now },
	}
	return e
}

func (e *env) mustGenerate(tb testing.TB, req hotspot.GenerateRequest) *hotspot.Generated {
	tb.Helper()
	g, err := e.svc.Generate(context.Background(), req)
	if err != nil {
		tb.Fatalf("generate: %v", err)
	}
	return g
}

func (e *env) count(tb testing.TB, sql string, args ...any) int {
	tb.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestGenerateAndFind(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	g := e.mustGenerate(t, hotspot.GenerateRequest{Plan: "1h", Count: 300, Prefix: "HS-", Reseller: "kiosk-1"})
	if g.Batch.ID == 0 || g.Batch.PlanID == 0 || e.count(t, `SELECT count(*) FROM vouchers WHERE batch_id = $1`, g.Batch.ID) != 300 {
		t.Fatalf("batch %+v not stored whole", g.Batch)
	}
	if e.count(t, `SELECT count(*) FROM voucher_batches WHERE id = $1 AND reseller = 'kiosk-1' AND count = 300 AND mode = 'code'`, g.Batch.ID) != 1 {
		t.Fatal("batch row")
	}
	v0 := g.Vouchers[0]
	v, err := e.store.FindVoucherByCodeHash(ctx, e.hash(v0.Code))
	if err != nil {
		t.Fatal(err)
	}
	want := hotspot.Voucher{ID: v0.ID, BatchID: g.Batch.ID, PlanID: g.Batch.PlanID, PlanName: "1h", CodeHint: radius.MaskCode(v0.Code),
		CodeHash: e.hash(v0.Code), Username: radius.VoucherAccountName(v0.ID),
		Mode: hotspot.ModeCode, State: radius.VoucherNew, Reseller: "kiosk-1", UptimeLimit: time.Hour, DataLimit: 1000}
	want.CreatedAt = v.CreatedAt
	if !reflect.DeepEqual(*v, want) || !v.CreatedAt.Equal(e.now) {
		t.Fatalf("found %+v\nwant  %+v", *v, want)
	}
	// No code is stored in clear: the row holds its hash, its hint and its sealed form,
	// and the password (the code, in code mode) sealed to the row.
	if n := e.count(t, `SELECT count(*) FROM vouchers WHERE code IS NOT NULL OR strpos(row_to_json(vouchers)::text, $1) > 0`, v0.Code); n != 0 {
		t.Fatalf("%d voucher rows hold a code in clear", n)
	}
	var pw, sealedCode []byte
	if err := e.pool.QueryRow(ctx, `SELECT password, code_sealed FROM vouchers WHERE id = $1`, v.ID).Scan(&pw, &sealedCode); err != nil {
		t.Fatal(err)
	}
	if got, err := e.sealer.Open(pw, radius.SealVoucherPassword.AD(v.ID)); err != nil || string(got) != v0.Code {
		t.Fatalf("stored password opens to %q, %v", got, err)
	}
	if got, err := e.sealer.Open(sealedCode, radius.SealVoucherCode.AD(v.ID)); err != nil || string(got) != v0.Code {
		t.Fatalf("stored code opens to %q, %v", got, err)
	}
	// Bound to the row and column: not another voucher's, not the other column.
	if _, err := e.sealer.Open(pw, radius.SealVoucherPassword.AD(g.Vouchers[1].ID)); err == nil {
		t.Fatal("a password opened for another voucher's row")
	}
	if _, err := e.sealer.Open(pw, radius.SealVoucherCode.AD(v.ID)); err == nil {
		t.Fatal("a password opened as the code column")
	}
	if _, err := e.store.FindVoucherByCodeHash(ctx, e.hash("NOPE")); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("unknown code: %v", err)
	}
	// The account name finds it too, and the code as typed in lower case through Show.
	if u, err := e.store.FindVoucherByUsername(ctx, radius.VoucherAccountName(v0.ID)); err != nil || u.ID != v0.ID {
		t.Fatalf("by account name: %+v, %v", u, err)
	}
	if st, err := e.svc.Show(ctx, strings.ToLower(v0.Code)); err != nil || st.ID != v0.ID {
		t.Fatalf("show in lower case: %+v, %v", st, err)
	}
	creds, err := e.svc.BatchCredentials(ctx, g.Batch.ID)
	if err != nil || len(creds) != 300 || creds[v0.ID].Code != v0.Code || creds[v0.ID].Password != v0.Code {
		t.Fatalf("BatchCredentials: %d, %+v, %v", len(creds), creds[v0.ID], err)
	}

	// Userpass, on a plan counted from the sale: valid for a week from now.
	up := e.mustGenerate(t, hotspot.GenerateRequest{Plan: "week", Count: 5, Mode: hotspot.ModeUserPass, Length: 8})
	u, err := e.store.FindVoucherByUsername(ctx, up.Vouchers[2].Username)
	if err != nil || u.CodeHint != radius.MaskCode(up.Vouchers[2].Code) || u.Mode != hotspot.ModeUserPass || !u.ValidUntil.Equal(e.now.Add(7*24*time.Hour)) || u.Reseller != "" {
		t.Fatalf("userpass voucher %+v, %v", u, err)
	}
	// The public status page looks codes up, never user names.
	if st, err := e.svc.ShowCode(ctx, strings.ToLower(up.Vouchers[2].Code)); err != nil || st.ID != up.Vouchers[2].ID {
		t.Fatalf("ShowCode(code) = %+v, %v", st, err)
	}
	if _, err := e.svc.ShowCode(ctx, up.Vouchers[2].Username); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("ShowCode(username) = %v, want ENOTFOUND", err)
	}

	list, err := e.svc.FindVouchers(ctx, hotspot.VoucherFilter{BatchID: g.Batch.ID, Limit: 1000})
	if err != nil || len(list) != 300 || list[0].ID < list[1].ID {
		t.Fatalf("list batch: %d vouchers, %v (newest first)", len(list), err)
	}
	if list, _ := e.svc.FindVouchers(ctx, hotspot.VoucherFilter{}); len(list) != hotspot.DefaultListLimit {
		t.Fatalf("default limit: %d", len(list))
	}
	if _, err := e.svc.Revoke(ctx, v0.Code); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.svc.FindVouchers(ctx, hotspot.VoucherFilter{State: radius.VoucherRevoked}); len(list) != 1 || list[0].ID != v0.ID {
		t.Fatalf("list revoked: %+v", list)
	}
}

// mkVoucher is a voucher to stage directly in a store with id: in code mode (it logs in
// by its code) unless username is given.
func (e *env) mkVoucher(id int64, code, username string) hotspot.NewVoucher {
	if username == "" {
		username = radius.VoucherAccountName(id)
	}
	return hotspot.NewVoucher{ID: id, Code: code, Username: username, Password: code,
		SealedPassword: e.sealer.Seal([]byte(code), radius.SealVoucherPassword.AD(id)),
		CodeHash:       e.hash(code), SealedCode: e.sealer.Seal([]byte(code), radius.SealVoucherCode.AD(id)), CodeHint: radius.MaskCode(code)}
}

// mustIDs reserves n voucher IDs.
func (e *env) mustIDs(tb testing.TB, n int) []int64 {
	tb.Helper()
	ids, err := e.store.NextVoucherIDs(context.Background(), n)
	if err != nil || len(ids) != n {
		tb.Fatalf("NextVoucherIDs = %v, %v", ids, err)
	}
	return ids
}

// TestCollisionsRegenerated stages vouchers whose codes or logins are taken by another
// voucher or a subscriber: only those are replaced, and the batch is stored whole.
func TestCollisionsRegenerated(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	old := e.mustGenerate(t, hotspot.GenerateRequest{Plan: "1h", Count: 2})
	plan, _ := billingpg.NewStore(e.pool).FindPlanByName(ctx, "1h")
	if _, err := e.pool.Exec(ctx, `INSERT INTO subscribers (username, password, plan_id) VALUES ('SUBSCR01', 'x', $1)`, plan.ID); err != nil {
		t.Fatal(err)
	}
	ids := e.mustIDs(t, 6)
	vs := []hotspot.NewVoucher{e.mkVoucher(ids[0], "FRESH001", ""), e.mkVoucher(ids[1], old.Vouchers[0].Code, ""),
		e.mkVoucher(ids[2], "SUBSCR01", ""), e.mkVoucher(ids[3], "FRESH002", ""), e.mkVoucher(ids[4], old.Vouchers[1].Code, ""),
		e.mkVoucher(ids[5], "USERPASS", "SUBSCR01")} // a userpass voucher whose login a subscriber has
	n := 0
	fresh := func(id int64) (hotspot.NewVoucher, error) {
		n++
		if n == 1 {
			return e.mkVoucher(id, old.Vouchers[1].Code, ""), nil // a replacement can collide too: another round
		}
		return e.mkVoucher(id, fmt.Sprintf("NEW%05d", n), ""), nil
	}
	b := &hotspot.Batch{PlanID: plan.ID, Mode: hotspot.ModeCode, Count: len(vs), CreatedAt: e.now}
	if err := e.store.CreateBatch(ctx, b, time.Time{}, vs, fresh); err != nil {
		t.Fatal(err)
	}
	var codes []string
	hashes := make([][]byte, len(vs))
	for i, v := range vs {
		codes = append(codes, v.Code)
		hashes[i] = v.CodeHash
		if v.ID != ids[i] {
			t.Fatalf("voucher %d changed its reserved id: %d, want %d", i, v.ID, ids[i])
		}
	}
	if n != 5 || codes[0] != "FRESH001" || codes[3] != "FRESH002" || slices.Contains(codes, "SUBSCR01") || slices.Contains(codes, old.Vouchers[0].Code) || codes[5] == "USERPASS" {
		t.Fatalf("fresh called %d times; codes %q", n, codes)
	}
	if got := e.count(t, `SELECT count(*) FROM vouchers WHERE batch_id = $1 AND code_hash = ANY($2)`, b.ID, hashes); got != len(vs) {
		t.Fatalf("%d of the final codes stored, want %d", got, len(vs))
	}

	// Codes that never stop colliding: ECONFLICT, and nothing of the batch stays.
	before := e.count(t, `SELECT count(*) FROM voucher_batches`)
	id := e.mustIDs(t, 1)[0]
	err := e.store.CreateBatch(ctx, &hotspot.Batch{PlanID: plan.ID, Mode: hotspot.ModeCode, Count: 1, CreatedAt: e.now}, time.Time{},
		[]hotspot.NewVoucher{e.mkVoucher(id, "FRESH001", "")},
		func(id int64) (hotspot.NewVoucher, error) { return e.mkVoucher(id, "FRESH001", ""), nil })
	if radius.ErrorCode(err) != radius.ECONFLICT || e.count(t, `SELECT count(*) FROM voucher_batches`) != before {
		t.Fatalf("endless collisions: %v", err)
	}
	// An unknown plan is the caller's mistake.
	err = e.store.CreateBatch(ctx, &hotspot.Batch{PlanID: 9999, Mode: hotspot.ModeCode, Count: 1, CreatedAt: e.now}, time.Time{},
		[]hotspot.NewVoucher{e.mkVoucher(e.mustIDs(t, 1)[0], "ZZZZZZZZ", "")}, nil)
	if radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("unknown plan: %v", err)
	}
}

// TestBatchesOnOneConnection makes several batches on one connection and inside a
// caller's transaction: the staging table is reused and always empty.
func TestBatchesOnOneConnection(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	plan, _ := billingpg.NewStore(e.pool).FindPlanByName(ctx, "1h")
	mk := func(c string) []hotspot.NewVoucher {
		return []hotspot.NewVoucher{e.mkVoucher(e.mustIDs(t, 1)[0], c, "")}
	}
	s := postgres.NewStore(conn.Conn())
	for i := 0; i < 3; i++ {
		if err := s.CreateBatch(ctx, &hotspot.Batch{PlanID: plan.ID, Mode: hotspot.ModeCode, Count: 1, CreatedAt: e.now}, time.Time{}, mk(fmt.Sprint("CONN", i)), nil); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewStore(tx).CreateBatch(ctx, &hotspot.Batch{PlanID: plan.ID, Mode: hotspot.ModeCode, Count: 1, CreatedAt: e.now}, time.Time{}, mk("INTX0001"), nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM vouchers WHERE code_hash = ANY($1)`, [][]byte{e.hash("CONN0"), e.hash("CONN1"), e.hash("CONN2")}); n != 3 {
		t.Fatalf("%d CONN vouchers", n)
	}
	if n := e.count(t, `SELECT count(*) FROM vouchers WHERE code_hash = $1`, e.hash("INTX0001")); n != 0 {
		t.Fatal("the caller's rollback did not undo the batch")
	}
}

// TestConcurrentBatchesUnique generates batches at once with a tiny code space, so they
// collide with each other: every code in the database stays unique and every batch whole.
func TestConcurrentBatchesUnique(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Every batch draws the same random sequence, so each collides with the ones
			// stored before it and regenerates past them.
			svc := *e.svc
			svc.Rand = mrand.NewChaCha8([32]byte{1})
			_, errs[i] = svc.Generate(ctx, hotspot.GenerateRequest{Plan: "1h", Count: 1000})
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, d := e.count(t, `SELECT count(*) FROM vouchers`), e.count(t, `SELECT count(DISTINCT code_hash) FROM vouchers`); n != 6000 || d != 6000 {
		t.Fatalf("%d vouchers, %d distinct codes; want 6000", n, d)
	}
}

func TestRevokeAndExpire(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	g := e.mustGenerate(t, hotspot.GenerateRequest{Plan: "1h", Count: 4})
	week := e.mustGenerate(t, hotspot.GenerateRequest{Plan: "week", Count: 1})
	rs := radiuspg.New(e.pool)
	id := func(code string) int64 {
		v, err := e.store.FindVoucherByCodeHash(ctx, e.hash(code))
		if err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	name := func(code string) string { return radius.VoucherAccountName(id(code)) }
	used, timed, data, fresh := g.Vouchers[0].Code, g.Vouchers[1].Code, g.Vouchers[2].Code, g.Vouchers[3].Code
	for _, c := range []string{used, timed, data} {
		if _, _, err := rs.ActivateVoucher(ctx, id(c), "", e.now); err != nil {
			t.Fatal(err)
		}
	}
	// timed uses its hour, data its 1000 bytes; used a little of both.
	for i, s := range []struct {
		user          string
		secs, in, out int64
	}{{used, 60, 10, 10}, {timed, 3600, 0, 0}, {data, 10, 400, 600}} {
		if _, err := e.pool.Exec(ctx, `
INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update, session_time, input_octets, output_octets)
VALUES (1, $1, $2, $3, $2, $4, $5, $6)`, fmt.Sprint("S", i), e.now, name(s.user), s.secs, s.in, s.out); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.svc.Show(ctx, used)
	if err != nil || st.State != radius.VoucherActive || st.Now != radius.VoucherActive || st.Usage.Uptime != time.Minute || st.Usage.Bytes != 20 ||
		!st.ActivatedAt.Equal(e.now) || !st.ValidUntil.Equal(e.now.Add(24*time.Hour)) {
		t.Fatalf("show %+v, %v", st, err)
	}
	if st, _ := e.svc.Show(ctx, timed); st.State != radius.VoucherActive || st.Now != radius.VoucherExhausted {
		t.Fatalf("show timed: stored %q, now %q", st.State, st.Now)
	}

	// Revoking twice keeps the first time.
	first, err := e.svc.Revoke(ctx, fresh)
	if err != nil || first.State != radius.VoucherRevoked || !first.RevokedAt.Equal(e.now) {
		t.Fatalf("revoke %+v, %v", first, err)
	}
	e.now = e.now.Add(time.Minute)
	again, err := e.svc.Revoke(ctx, fresh)
	if err != nil || !again.RevokedAt.Equal(first.RevokedAt) {
		t.Fatalf("second revoke %+v, %v", again, err)
	}
	if _, err := e.svc.Revoke(ctx, "NOPE"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("revoke unknown: %v", err)
	}

	// The job: timed and data are exhausted now; a day later used is expired, and the
	// week voucher (valid from its sale) eight days later.
	changed := func(at time.Time) []string {
		t.Helper()
		vs, err := e.store.ExpireVouchers(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		var users []string
		for _, v := range vs {
			if len(v.CodeHash) != 32 {
				t.Fatalf("expired voucher %q without its code hash", v.Username)
			}
			users = append(users, v.Username)
		}
		slices.Sort(users)
		return users
	}
	exhausted := []string{name(data), name(timed)}
	slices.Sort(exhausted)
	if users := changed(e.now); !slices.Equal(users, exhausted) {
		t.Fatalf("exhausted %q; want %q", users, exhausted)
	}
	if users := changed(e.now); len(users) != 0 {
		t.Fatalf("second run changed %q", users)
	}
	if users := changed(e.now.Add(24 * time.Hour)); !slices.Equal(users, []string{name(used)}) {
		t.Fatalf("a day later: %q", users)
	}
	if users := changed(e.now.Add(8 * 24 * time.Hour)); !slices.Equal(users, []string{week.Vouchers[0].Username}) {
		t.Fatalf("eight days later: %q", users)
	}
	states := map[string]radius.VoucherState{}
	list, _ := e.svc.FindVouchers(ctx, hotspot.VoucherFilter{Limit: 100})
	for _, v := range list {
		states[string(v.CodeHash)] = v.State
	}
	want := map[string]radius.VoucherState{used: radius.VoucherExpired, timed: radius.VoucherExhausted, data: radius.VoucherExhausted,
		fresh: radius.VoucherRevoked, week.Vouchers[0].Code: radius.VoucherExpired}
	for c, s := range want {
		if states[string(e.hash(c))] != s {
			t.Fatalf("state of %s = %q, want %q (all: %v)", c, states[c], s, states)
		}
	}
	// The RADIUS lookup reads the persisted states.
	a, err := rs.FindAccountByUsername(ctx, timed, e.hash(timed))
	if err != nil || a.VoucherState != radius.VoucherExhausted {
		t.Fatalf("account %+v, %v", a, err)
	}
}
