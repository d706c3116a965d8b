package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/postgres"
	"tollgate/radius"
	"tollgate/radius/radiustest"
	"tollgate/radius/seal"
)

// sealerFunc is a function-field fake of billing.Sealer.
type sealerFunc func(b, ad []byte) []byte

func (f sealerFunc) Seal(b, ad []byte) []byte { return f(b, ad) }

// fakeSeal marks the plain text so tests can see it was sealed (TestSealedPasswordBound
// uses the real sealer).
func fakeSeal(b, ad []byte) []byte { return append([]byte("sealed:"), b...) }

// changesFake is a function-field fake of billing.Changes.
type changesFake struct {
	AccountsChangedFn func(ctx context.Context, usernames ...string) error
	PlansChangedFn    func(ctx context.Context, planID int64) error
	MACsChangedFn     func(ctx context.Context, macs ...string) error
}

func (f *changesFake) MACsChanged(ctx context.Context, macs ...string) error {
	if f.MACsChangedFn == nil {
		return nil
	}
	return f.MACsChangedFn(ctx, macs...)
}

func (f *changesFake) AccountsChanged(ctx context.Context, usernames ...string) error {
	return f.AccountsChangedFn(ctx, usernames...)
}

func (f *changesFake) PlansChanged(ctx context.Context, planID int64) error {
	return f.PlansChangedFn(ctx, planID)
}

// recorder keeps every call made to its Changes.
type recorder struct {
	mu       sync.Mutex
	accounts [][]string
	plans    []int64
}

func (r *recorder) changes() *changesFake {
	return &changesFake{
		AccountsChangedFn: func(_ context.Context, usernames ...string) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.accounts = append(r.accounts, slices.Clone(usernames))
			return nil
		},
		PlansChangedFn: func(_ context.Context, planID int64) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.plans = append(r.plans, planID)
			return nil
		},
	}
}

// take returns and forgets the recorded AccountsChanged calls.
func (r *recorder) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.accounts
	r.accounts = nil
	return a
}

// env is a Service on a fresh database with a settable clock.
type env struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	svc   *billing.Service
	rec   *recorder
	now   time.Time
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{
		pool: radiustest.MustDB(tb),
		rec:  &recorder{},
		now:  time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
	}
	e.store = postgres.NewStore(e.pool)
	e.svc = &billing.Service{
		Store:   e.store,
		Sealer:  sealerFunc(fakeSeal),
		Changes: e.rec.changes(),
		Now:     func() time.Time { return e.now },
	}
	return e
}

// mustPlan creates a plan through the service.
func (e *env) mustPlan(tb testing.TB, name string, validity time.Duration) *billing.Plan {
	tb.Helper()
	p, err := e.svc.CreatePlan(context.Background(), billing.Plan{
		Name: name, Kind: radius.KindPPPoE, RateLimit: "10M/10M", Validity: validity, SharedUsers: 1,
		Interim: 5 * time.Minute,
	})
	if err != nil {
		tb.Fatalf("create plan %q: %v", name, err)
	}
	return p
}

// password returns the stored (sealed) password of username.
func (e *env) password(tb testing.TB, username string) string {
	tb.Helper()
	var pw []byte
	err := e.pool.QueryRow(context.Background(), `SELECT password FROM subscribers WHERE username = $1`, username).Scan(&pw)
	if err != nil {
		tb.Fatalf("password of %q: %v", username, err)
	}
	return string(pw)
}

// count returns how many subscribers are stored.
func (e *env) count(tb testing.TB) int {
	tb.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM subscribers`).Scan(&n); err != nil {
		tb.Fatalf("count: %v", err)
	}
	return n
}

// wantErr checks err's code and exact user message.
func wantErr(tb testing.TB, err error, code, msg string) {
	tb.Helper()
	if radius.ErrorCode(err) != code || radius.ErrorMessage(err) != msg {
		tb.Fatalf("err = %v (code %q, message %q), want %s %q", err, radius.ErrorCode(err), radius.ErrorMessage(err), code, msg)
	}
}

// wantCalls checks the recorded AccountsChanged calls and forgets them.
func wantCalls(tb testing.TB, rec *recorder, want ...[]string) {
	tb.Helper()
	got := rec.take()
	if len(got) != len(want) {
		tb.Fatalf("AccountsChanged calls = %q, want %q", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			tb.Fatalf("AccountsChanged calls = %q, want %q", got, want)
		}
	}
}

func TestPlans(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	in := billing.Plan{
		Name: "Home 10M", Kind: radius.KindPPPoE, PriceCents: 1500, RateLimit: "10M/10M 20M/20M 8M/8M 10/10",
		Validity: 30 * 24 * time.Hour, UptimeLimit: 100 * time.Hour, DataLimit: 100e9, SharedUsers: 2,
		Interim: 5 * time.Minute, Pool: "pppoe-pool", AddressList: "paying",
	}
	created, err := e.svc.CreatePlan(ctx, in)
	if err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	if created.ID == 0 || created.CreatedAt.IsZero() {
		t.Fatalf("created = %+v, want ID and CreatedAt set", created)
	}
	if !slices.Equal(e.rec.plans, []int64{created.ID}) {
		t.Fatalf("PlansChanged calls = %v, want [%d]", e.rec.plans, created.ID)
	}
	found, err := e.store.FindPlanByName(ctx, "Home 10M")
	if err != nil {
		t.Fatalf("FindPlanByName: %v", err)
	}
	if !found.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("CreatedAt = %v, want %v", found.CreatedAt, created.CreatedAt)
	}
	want := in
	want.ID, want.CreatedAt, want.ValidityFrom, want.Period = created.ID, found.CreatedAt, billing.FromFirstLogin, billing.DefaultPeriod
	if !reflect.DeepEqual(*found, want) {
		t.Fatalf("found  %+v\nwant %+v", *found, want)
	}
	// The voucher settings of a hotspot plan round-trip too.
	hs := billing.Plan{
		Name: "Hotspot day", Kind: radius.KindHotspot, PriceCents: 300, ResellerPriceCents: 240,
		Validity: 24 * time.Hour, ValidityFrom: billing.FromSale, LockMAC: true,
		NASNames: []string{"r1", "r2"}, HotspotServers: []string{"hotspot1"},
	}
	if _, err := e.svc.CreatePlan(ctx, hs); err != nil {
		t.Fatalf("CreatePlan hotspot: %v", err)
	}
	gotHS, err := e.store.FindPlanByName(ctx, "Hotspot day")
	if err != nil {
		t.Fatal(err)
	}
	hs.ID, hs.CreatedAt, hs.Period = gotHS.ID, gotHS.CreatedAt, billing.DefaultPeriod
	if !reflect.DeepEqual(*gotHS, hs) {
		t.Fatalf("hotspot plan %+v\nwant %+v", *gotHS, hs)
	}
	if _, err := e.pool.Exec(ctx, `DELETE FROM plans WHERE id = $1`, hs.ID); err != nil {
		t.Fatal(err)
	}
	e.mustPlan(t, "Basic", 0)

	t.Run("list by name", func(t *testing.T) {
		plans, err := e.svc.ListPlans(ctx)
		if err != nil {
			t.Fatalf("ListPlans: %v", err)
		}
		var names []string
		for _, p := range plans {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, []string{"Basic", "Home 10M"}) {
			t.Fatalf("names = %q", names)
		}
	})

	failures := []struct {
		name      string
		create    func() error
		code, msg string
	}{
		{"duplicate name", func() error {
			_, err := e.svc.CreatePlan(ctx, billing.Plan{Name: "Basic", Kind: radius.KindHotspot})
			return err
		}, radius.ECONFLICT, `name: a plan named "Basic" exists`},
		{"invalid field", func() error {
			_, err := e.svc.CreatePlan(ctx, billing.Plan{Name: "X", Kind: radius.KindHotspot, SharedUsers: -1})
			return err
		}, radius.EINVALID, "shared-users: must be 0 (unlimited) to 1000"},
		{"check constraint in the store", func() error {
			return e.store.CreatePlan(ctx, &billing.Plan{Name: "Y", Kind: "dsl"})
		}, radius.EINVALID, "kind: value not allowed"},
		{"not found", func() error {
			_, err := e.store.FindPlanByName(ctx, "Gold")
			return err
		}, radius.ENOTFOUND, `plan: no plan named "Gold"`},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.create(), tt.code, tt.msg)
		})
	}
	if plans, _ := e.svc.ListPlans(ctx); len(plans) != 2 {
		t.Fatalf("%d plans after failures, want 2", len(plans))
	}
}

func TestSubscribers(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	home := e.mustPlan(t, "Home", 30*24*time.Hour)
	basic := e.mustPlan(t, "Basic", 0)
	now := e.now.Truncate(time.Microsecond)

	alice, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{
		Username: "alice", Password: "pw", Plan: "Home", StaticIP: "10.0.0.7", MAC: "aa-bb-cc-dd-ee-0f",
	})
	if err != nil {
		t.Fatalf("AddSubscriber: %v", err)
	}
	if alice.ID == 0 || alice.PlanID != home.ID || alice.PlanName != "Home" || alice.Status != radius.StatusActive ||
		alice.StaticIP.String() != "10.0.0.7" || alice.MAC != "AA:BB:CC:DD:EE:0F" ||
		!alice.ValidFrom.Equal(now) || !alice.ValidUntil.Equal(now.Add(30*24*time.Hour)) ||
		alice.CreatedAt.IsZero() || alice.UpdatedAt.IsZero() {
		t.Fatalf("alice = %+v", alice)
	}
	if pw := e.password(t, "alice"); pw != "sealed:pw" {
		t.Fatalf("stored password = %q, want the sealed one", pw)
	}
	wantCalls(t, e.rec, []string{"alice"})

	t.Run("find", func(t *testing.T) {
		found, err := e.store.FindSubscriberByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("FindSubscriberByUsername: %v", err)
		}
		if found.ID != alice.ID || found.PlanName != "Home" || found.MAC != alice.MAC || found.StaticIP != alice.StaticIP ||
			!found.ValidFrom.Equal(alice.ValidFrom) || !found.ValidUntil.Equal(alice.ValidUntil) {
			t.Fatalf("found %+v, want %+v", found, alice)
		}
		_, err = e.store.FindSubscriberByUsername(ctx, "nobody")
		wantErr(t, err, radius.ENOTFOUND, `username: no subscriber named "nobody"`)
	})

	t.Run("add without ip, mac or validity", func(t *testing.T) {
		bob, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "bob", Password: "pw", Plan: "Basic"})
		if err != nil {
			t.Fatalf("AddSubscriber: %v", err)
		}
		if bob.StaticIP.IsValid() || bob.MAC != "" || !bob.ValidUntil.IsZero() || bob.PlanID != basic.ID {
			t.Fatalf("bob = %+v", bob)
		}
		wantCalls(t, e.rec, []string{"bob"})
	})

	addFailures := []struct {
		name      string
		in        billing.NewSubscriber
		code, msg string
	}{
		{"taken username", billing.NewSubscriber{Username: "alice", Password: "x", Plan: "Home"},
			radius.ECONFLICT, `username: "alice" is taken`},
		{"taken mac in another format", billing.NewSubscriber{Username: "carol", Password: "x", Plan: "Home", MAC: "aabb.ccdd.ee0f"},
			radius.ECONFLICT, "mac: AA:BB:CC:DD:EE:0F is bound to another subscriber"},
		{"unknown plan", billing.NewSubscriber{Username: "carol", Password: "x", Plan: "Gold"},
			radius.EINVALID, `plan: no plan named "Gold"`},
		{"invalid username", billing.NewSubscriber{Username: "car ol", Password: "x", Plan: "Home"},
			radius.EINVALID, `username: "car ol" has ' '; use printable ASCII without spaces`},
		{"NUL in password", billing.NewSubscriber{Username: "carol", Password: "a\x00b", Plan: "Home"},
			radius.EINVALID, "password: must not contain a NUL character"},
	}
	for _, tt := range addFailures {
		t.Run("add: "+tt.name, func(t *testing.T) {
			_, err := e.svc.AddSubscriber(ctx, tt.in)
			wantErr(t, err, tt.code, tt.msg)
			wantCalls(t, e.rec)
		})
	}

	t.Run("store: unknown plan id", func(t *testing.T) {
		err := e.store.CreateSubscriber(ctx, &billing.Subscriber{ID: mustIDs(t, e.store, 1)[0], Username: "dave", PlanID: 999999}, []byte("x"), nil)
		wantErr(t, err, radius.EINVALID, "plan: no such plan")
	})

	ptr := func(s string) *string { return &s }
	suspended := radius.StatusSuspended
	bogus := radius.Status("gone")
	later := e.now.Add(48 * time.Hour)
	updates := []struct {
		name     string
		username string
		upd      billing.SubscriberUpdate
		code     string // "" = success
		msg      string
		check    func(t *testing.T, s *billing.Subscriber)
	}{
		{name: "suspend", username: "alice", upd: billing.SubscriberUpdate{Status: &suspended},
			check: func(t *testing.T, s *billing.Subscriber) {
				if s.Status != radius.StatusSuspended || s.PlanName != "Home" || !s.ValidUntil.Equal(alice.ValidUntil) {
					t.Fatalf("after suspend: %+v", s)
				}
			}},
		{name: "plan without validity clears the end", username: "alice", upd: billing.SubscriberUpdate{Plan: ptr("Basic")},
			check: func(t *testing.T, s *billing.Subscriber) {
				if s.PlanID != basic.ID || s.PlanName != "Basic" || !s.ValidUntil.IsZero() || s.Status != radius.StatusSuspended {
					t.Fatalf("after plan change: %+v", s)
				}
			}},
		{name: "plan change restarts validity from now", username: "alice", upd: billing.SubscriberUpdate{Plan: ptr("Home")},
			check: func(t *testing.T, s *billing.Subscriber) {
				want := later.Truncate(time.Microsecond).Add(30 * 24 * time.Hour)
				if s.PlanName != "Home" || !s.ValidUntil.Equal(want) || !s.ValidFrom.Equal(alice.ValidFrom) {
					t.Fatalf("after plan change: %+v, want ValidUntil %v", s, want)
				}
			}},
		{name: "password", username: "alice", upd: billing.SubscriberUpdate{Password: ptr("new pw")},
			check: func(t *testing.T, s *billing.Subscriber) {
				if pw := e.password(t, "alice"); pw != "sealed:new pw" {
					t.Fatalf("stored password = %q", pw)
				}
			}},
		{name: "invalid status", username: "alice", upd: billing.SubscriberUpdate{Status: &bogus},
			code: radius.EINVALID, msg: `status: "gone" is not a status; use active, suspended or disabled`},
		{name: "invalid password", username: "alice", upd: billing.SubscriberUpdate{Password: ptr("")},
			code: radius.EINVALID, msg: "password: must be 1 to 128 bytes"},
		{name: "unknown plan", username: "alice", upd: billing.SubscriberUpdate{Plan: ptr("Gold")},
			code: radius.EINVALID, msg: `plan: no plan named "Gold"`},
		{name: "unknown subscriber", username: "nobody", upd: billing.SubscriberUpdate{Status: &suspended},
			code: radius.ENOTFOUND, msg: `username: no subscriber named "nobody"`},
	}
	e.now = later
	for _, tt := range updates {
		t.Run("update: "+tt.name, func(t *testing.T) {
			s, err := e.svc.UpdateSubscriber(ctx, tt.username, tt.upd)
			if tt.code != "" {
				wantErr(t, err, tt.code, tt.msg)
				wantCalls(t, e.rec)
				return
			}
			if err != nil {
				t.Fatalf("UpdateSubscriber: %v", err)
			}
			if s.ID != alice.ID || s.UpdatedAt.Before(alice.CreatedAt) {
				t.Fatalf("updated = %+v", s)
			}
			tt.check(t, s)
			wantCalls(t, e.rec, []string{"alice"})
		})
	}

	t.Run("update: nothing to change", func(t *testing.T) {
		s, err := e.svc.UpdateSubscriber(ctx, "alice", billing.SubscriberUpdate{})
		if err != nil || s.Username != "alice" {
			t.Fatalf("UpdateSubscriber = %+v, %v", s, err)
		}
		wantCalls(t, e.rec)
	})
	t.Run("store: update unknown id", func(t *testing.T) {
		_, err := e.store.UpdateSubscriber(ctx, 999999, billing.SubscriberChange{Status: &suspended})
		wantErr(t, err, radius.ENOTFOUND, "subscriber: no subscriber with id 999999")
	})
}

// importCSV returns a CSV file with a header and n subscribers user000000… .
func importCSV(n int) string {
	var b strings.Builder
	b.Grow(n * 28)
	b.WriteString("username,password\n")
	for i := range n {
		fmt.Fprintf(&b, "user%06d,pass-%06d\n", i, i)
	}
	return b.String()
}

func TestImportSubscribers100k(t *testing.T) {
	const n = 100_000
	ctx := context.Background()
	e := mustEnv(t)
	plan := e.mustPlan(t, "Home", 30*24*time.Hour)
	file := importCSV(n)

	start := time.Now()
	got, err := e.svc.ImportSubscribers(ctx, "Home", strings.NewReader(file))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("ImportSubscribers: %v", err)
	}
	t.Logf("imported %d subscribers in %v (%.0f rows/s)", got, elapsed, float64(got)/elapsed.Seconds())
	if got != n || e.count(t) != n {
		t.Fatalf("imported %d, stored %d, want %d", got, e.count(t), n)
	}
	calls := e.rec.take()
	if len(calls) != 1 || len(calls[0]) != n || calls[0][0] != "user000000" || calls[0][n-1] != "user099999" {
		t.Fatalf("AccountsChanged: %d calls", len(calls))
	}
	last, err := e.store.FindSubscriberByUsername(ctx, "user099999")
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	wantUntil := e.now.Truncate(time.Microsecond).Add(30 * 24 * time.Hour)
	if last.PlanID != plan.ID || last.Status != radius.StatusActive || !last.ValidUntil.Equal(wantUntil) || last.ValidFrom.IsZero() {
		t.Fatalf("last = %+v", last)
	}
	if pw := e.password(t, "user099999"); pw != "sealed:pass-099999" {
		t.Fatalf("stored password = %q", pw)
	}
}

func TestImportSubscribersAllOrNothing(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	e.mustPlan(t, "Home", 0)
	if _, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "bob", Password: "pw", Plan: "Home", MAC: "02:00:00:00:00:01"}); err != nil {
		t.Fatalf("AddSubscriber: %v", err)
	}
	e.rec.take()

	tests := []struct {
		name, plan, file string
		code, msg        string
	}{
		{"existing username", "Home", "username,password\nalice,pw\n\ncarol,pw\nbob,pw\ndave,pw\n",
			radius.ECONFLICT, `line 5: username: "bob" is taken`},
		{"invalid line", "Home", "alice,pw\ncarol,\n",
			radius.EINVALID, "line 2: password: must be 1 to 128 bytes"},
		{"duplicate in file", "Home", "alice,pw\ncarol,pw\nalice,pw2\n",
			radius.EINVALID, `line 3: username: "alice" already appears on line 1`},
		{"unknown plan", "Gold", "alice,pw\n",
			radius.EINVALID, `plan: no plan named "Gold"`},
		{"no plan", "", "alice,pw\n",
			radius.EINVALID, "line 1: plan: required: give --plan, or a plan column"},
		{"unknown plan on a line", "Home", "username,password,plan\nalice,pw,Gold\n",
			radius.EINVALID, `line 2: plan: no plan named "Gold"`},
		{"MAC taken", "Home", "username,password,mac\nalice,pw,02:00:00:00:00:01\n",
			radius.ECONFLICT, "mac: 02:00:00:00:00:01 is bound to another subscriber"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := e.svc.ImportSubscribers(ctx, tt.plan, strings.NewReader(tt.file))
			wantErr(t, err, tt.code, tt.msg)
			if n != 0 || e.count(t) != 1 {
				t.Fatalf("imported %d, stored %d; want nothing changed", n, e.count(t))
			}
			wantCalls(t, e.rec)
		})
	}

	t.Run("store: duplicate inside rows", func(t *testing.T) {
		plan, _ := e.store.FindPlanByName(ctx, "Home")
		ids := mustIDs(t, e.store, 2)
		rows := []billing.ImportRow{{ID: ids[0], Username: "x1", Sealed: []byte("a")}, {ID: ids[1], Username: "x1", Sealed: []byte("b")}}
		_, err := e.store.ImportSubscribers(ctx, plan.ID, time.Time{}, rows, nil)
		wantErr(t, err, radius.ECONFLICT, `username: "x1" is taken`)
		if e.count(t) != 1 {
			t.Fatalf("stored %d, want 1", e.count(t))
		}
	})
}

// TestStoreInTransaction runs the store on a caller's transaction: two imports in it
// (each on a savepoint) and a rollback that leaves nothing behind.
func TestStoreInTransaction(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	plan := e.mustPlan(t, "Home", 0)
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback(ctx)
	store := postgres.NewStore(tx)
	for i, name := range []string{"a", "b"} {
		rows := []billing.ImportRow{{ID: mustIDs(t, store, 1)[0], Username: name, Sealed: []byte("s"), Line: 1}}
		if n, err := store.ImportSubscribers(ctx, plan.ID, time.Time{}, rows, nil); err != nil || n != 1 {
			t.Fatalf("import %d = %d, %v", i, n, err)
		}
	}
	ids := mustIDs(t, store, 2)
	rows := []billing.ImportRow{{ID: ids[0], Username: "c", Sealed: []byte("s"), Line: 1}, {ID: ids[1], Username: "a", Sealed: []byte("s"), Line: 2}}
	_, err = store.ImportSubscribers(ctx, plan.ID, time.Time{}, rows, nil)
	wantErr(t, err, radius.ECONFLICT, `line 2: username: "a" is taken`)
	if _, err := store.FindSubscriberByUsername(ctx, "b"); err != nil {
		t.Fatalf("find in tx after a failed import: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if e.count(t) != 0 {
		t.Fatalf("stored %d after rollback, want 0", e.count(t))
	}
}

// TestChangedAccounts covers what cmd's cache invalidation reads: the MACs bound to some
// subscribers and the subscribers on a plan.
func TestChangedAccounts(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	home := e.mustPlan(t, "Home", 0)
	basic := e.mustPlan(t, "Basic", 0)
	for _, s := range []billing.NewSubscriber{
		{Username: "alice", Password: "pw", Plan: "Home", MAC: "aa:bb:cc:dd:ee:01"},
		{Username: "bob", Password: "pw", Plan: "Home"},
		{Username: "carol", Password: "pw", Plan: "Basic", MAC: "aa:bb:cc:dd:ee:03"},
	} {
		if _, err := e.svc.AddSubscriber(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	macCases := []struct {
		name      string
		usernames []string
		want      []string
	}{
		{"one with a MAC", []string{"alice"}, []string{"AA:BB:CC:DD:EE:01"}},
		{"one without", []string{"bob"}, nil},
		{"several and an unknown", []string{"alice", "bob", "carol", "nobody"}, []string{"AA:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:03"}},
		{"none", nil, nil},
	}
	for _, tc := range macCases {
		t.Run("macs/"+tc.name, func(t *testing.T) {
			got, err := e.store.FindSubscriberMACs(ctx, tc.usernames)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("FindSubscriberMACs(%q) = %q, want %q", tc.usernames, got, tc.want)
			}
		})
	}
	planCases := []struct {
		name   string
		planID int64
		want   []string
	}{
		{"two", home.ID, []string{"alice", "bob"}},
		{"one", basic.ID, []string{"carol"}},
		{"unknown plan", -1, nil},
	}
	for _, tc := range planCases {
		t.Run("plan users/"+tc.name, func(t *testing.T) {
			got, err := e.store.FindPlanUsernames(ctx, tc.planID)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("FindPlanUsernames(%d) = %q, want %q", tc.planID, got, tc.want)
			}
		})
	}
}

// mustIDs reserves n subscriber IDs.
func mustIDs(tb testing.TB, s *postgres.Store, n int) []int64 {
	tb.Helper()
	ids, err := s.NextSubscriberIDs(context.Background(), n)
	if err != nil || len(ids) != n {
		tb.Fatalf("NextSubscriberIDs = %v, %v", ids, err)
	}
	return ids
}

// TestSealedPasswordBound: a password is sealed to its subscriber's row; the ciphertext
// copied onto another subscriber (or from an import) does not open there, while both
// open where they were sealed.
func TestSealedPasswordBound(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	s, err := seal.New(bytes.Repeat([]byte{3}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Sealer = s
	e.mustPlan(t, "Home", 0)
	alice, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "alice", Password: "alice-pw", Plan: "Home"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ImportSubscribers(ctx, "Home", strings.NewReader("bob,bob-pw\n")); err != nil {
		t.Fatal(err)
	}
	bob, err := e.store.FindSubscriberByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	stored := func(id int64) []byte {
		var b []byte
		if err := e.pool.QueryRow(ctx, `SELECT password FROM subscribers WHERE id = $1`, id).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, sub := range []struct {
		id int64
		pw string
	}{{alice.ID, "alice-pw"}, {bob.ID, "bob-pw"}} {
		got, err := s.Open(stored(sub.id), radius.SealSubscriberPassword.AD(sub.id))
		if err != nil || string(got) != sub.pw {
			t.Fatalf("password of %d = %q, %v", sub.id, got, err)
		}
	}
	if _, err := e.pool.Exec(ctx, `UPDATE subscribers SET password = $2 WHERE id = $1`, bob.ID, stored(alice.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(stored(bob.ID), radius.SealSubscriberPassword.AD(bob.ID)); err == nil {
		t.Fatal("alice's sealed password opened as bob's")
	}
	if _, err := s.Open(stored(alice.ID), radius.SealNASSecret.AD(alice.ID)); err == nil {
		t.Fatal("a password opened as a NAS secret of the same id")
	}
}

// TestImportSubscribersHeader: a file with a header stores each line's plan (with its
// validity), profile, device and static address; lines without a plan take --plan's.
func TestImportSubscribersHeader(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	e.mustPlan(t, "Home", 0)
	gold := e.mustPlan(t, "Gold", 30*24*time.Hour)
	file := "username,password,plan,name,email,phone,mac,static_ip\n" +
		"alice,pw-a,Gold,Alice Doe,Alice@Example.com,+254712345678,aa:bb:cc:dd:ee:01,10.1.0.5\n" +
		"bob,pw-b,,,,,,\n"
	n, err := e.svc.ImportSubscribers(ctx, "Home", strings.NewReader(file))
	if err != nil || n != 2 {
		t.Fatalf("import = %d, %v", n, err)
	}
	a, err := e.store.FindSubscriberByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.PlanID != gold.ID || a.Name != "Alice Doe" || a.Email != "alice@example.com" || a.Phone != "+254712345678" ||
		a.MAC != "AA:BB:CC:DD:EE:01" || a.StaticIP.String() != "10.1.0.5" || !a.ValidUntil.Equal(e.now.Truncate(time.Microsecond).Add(30*24*time.Hour)) {
		t.Fatalf("alice = %+v", a)
	}
	b, err := e.store.FindSubscriberByUsername(ctx, "bob")
	if err != nil || b.PlanName != "Home" || !b.ValidUntil.IsZero() || b.Email != "" || b.StaticIP.IsValid() {
		t.Fatalf("bob = %+v, %v", b, err)
	}
	if pw := e.password(t, "alice"); pw != "sealed:pw-a" {
		t.Fatalf("password = %q", pw)
	}
	// Every line naming its plan needs no --plan.
	if n, err := e.svc.ImportSubscribers(ctx, "", strings.NewReader("username,password,plan\ncarol,pw,Gold\n")); err != nil || n != 1 {
		t.Fatalf("import without --plan = %d, %v", n, err)
	}
}
