package routeros_test

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/hotspot/routeros"
	"tollgate/hotspot/routeros/routerostest"
	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/radiustest"
	radiusredis "tollgate/radius/redis"
	"tollgate/radius/seal"
)

// alerts records the admin alerts sent.
type alerts struct {
	mu   sync.Mutex
	sent []string // subjects
}

func (a *alerts) SendAdminAlert(ctx context.Context, subject, body string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent = append(a.sent, subject+"\n"+body)
	return nil
}

func (a *alerts) all() []string { a.mu.Lock(); defer a.mu.Unlock(); return slices.Clone(a.sent) }

// env is a Routers on real Postgres and Redis, with one NAS "r1" (127.0.0.1) whose API
// is a fake router.
type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	store   *radiuspg.Store
	live    *radiusredis.Live
	sealer  *seal.Sealer
	acct    *radiuspg.AcctWriter
	router  *routerostest.Router
	nas     *radius.NAS
	routers *radius.Routers
	alerts  *alerts
	now     time.Time
	mu      sync.Mutex
}

func MustEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, pool: radiustest.MustDB(t), alerts: &alerts{}, now: time.Now().Truncate(time.Second)}
	e.store = radiuspg.New(e.pool)
	rdb, prefix := radiustest.MustRedis(t)
	e.live = radiusredis.NewLive(rdb, prefix)
	var err error
	if e.sealer, err = seal.New(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if e.acct, err = radiuspg.NewAcctWriter(e.pool, slog.New(slog.DiscardHandler), radiuspg.AcctWriterOptions{SpoolDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	e.acct.Start()
	t.Cleanup(func() { _ = e.acct.Close(context.Background()) })
	e.router = routerostest.MustRouter(t, "tollgate", "pw-api")
	e.nas = &radius.NAS{Name: "r1", Prefix: netip.MustParsePrefix("127.0.0.1/32"), RequireMessageAuthenticator: true}
	if e.nas.ID, err = e.store.NextNASID(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateNAS(ctx, e.nas, e.sealer.Seal([]byte("nas-secret-123"), radius.SealNASSecret.AD(e.nas.ID))); err != nil {
		t.Fatal(err)
	}
	addr, user := e.router.Addr(), "tollgate"
	if _, err := e.store.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{Address: &addr, User: &user,
		SealedPassword: e.sealer.Seal([]byte("pw-api"), radius.SealNASAPIPassword.AD(e.nas.ID))}); err != nil {
		t.Fatal(err)
	}
	pool := routeros.New(routeros.Options{DialTimeout: time.Second, CallTimeout: time.Second})
	t.Cleanup(pool.Close)
	e.routers = &radius.Routers{Store: e.store, Sessions: e.store, Closer: e.store, Live: e.live, Opener: e.sealer,
		Dialer: pool, Alerts: e.alerts, DownAfter: 3, Now: e.clock}
	return e
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

func (e *env) target() *radius.RouterTarget {
	e.t.Helper()
	t, err := e.store.FindRouterTarget(context.Background(), "r1")
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

// account records r durably and applies it to the live index, as the accounting path does.
func (e *env) account(r radius.AcctRecord) {
	e.t.Helper()
	ctx := context.Background()
	r.NASID, r.NASAddr = e.nas.ID, netip.MustParseAddr("127.0.0.1")
	if err := e.acct.Record(ctx, &r); err != nil {
		e.t.Fatal(err)
	}
	if _, _, _, err := e.live.Update(ctx, &r, radius.StaleAfter(r.Interim, time.Minute)); err != nil {
		e.t.Fatal(err)
	}
}

// session accounts a Start age ago and an Interim-Update a minute ago.
func (e *env) session(id, user, ip, mac string, age time.Duration) {
	e.t.Helper()
	r := radius.AcctRecord{SessionID: id, Status: radius.AcctStart, Username: user, EventTime: e.now.Add(-age),
		FramedIP: netip.MustParseAddr(ip), MAC: mac, Interim: 60}
	e.account(r)
	if age > time.Minute {
		r.Status, r.EventTime, r.SessionTime, r.InputOctets = radius.AcctInterim, e.now.Add(-time.Minute), uint32((age-time.Minute)/time.Second), 1000
		e.account(r)
	}
}

// TestPollDownUp: a router is down after three missed polls in a row, once, with one
// admin alert; the next success brings it up, with another.
func TestPollDownUp(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	tg := e.target()
	st, err := e.routers.Poll(ctx, tg)
	if err != nil || st.Down || st.Health.Version != "7.18.2 (stable)" || st.Health.BoardName != "hAP ax2" || !st.PolledAt.Equal(e.now) {
		t.Fatalf("first poll: %+v, %v", st, err)
	}
	e.router.SetDown(true)
	for i := 1; i <= 4; i++ {
		e.advance(time.Minute)
		st, err := e.routers.Poll(ctx, tg)
		if err != nil || st.Failures != i || st.Down != (i >= 3) || st.Error == "" || st.Health.Version == "" {
			t.Fatalf("miss %d: %+v, %v", i, st, err)
		}
		if n := len(e.alerts.all()); n != map[bool]int{false: 0, true: 1}[i >= 3] {
			t.Fatalf("miss %d: %d alerts", i, n)
		}
	}
	if a := e.alerts.all(); !strings.HasPrefix(a[0], "tollgate: router r1 is down\n") || !strings.Contains(a[0], "missed 3 polls") {
		t.Fatalf("down alert %q", a[0])
	}
	if err := e.routers.PollAll(ctx); err != nil || e.routers.Down() != 1 {
		t.Fatalf("PollAll while down: %v, %d down", err, e.routers.Down())
	}
	e.router.SetDown(false)
	e.advance(time.Minute)
	if err := e.routers.PollAll(ctx); err != nil || e.routers.Down() != 0 {
		t.Fatalf("PollAll once up: %v, %d down", err, e.routers.Down())
	}
	a := e.alerts.all()
	if len(a) != 2 || !strings.HasPrefix(a[1], "tollgate: router r1 is up again\n") || !strings.Contains(a[1], "RouterOS 7.18.2 (stable) on hAP ax2") {
		t.Fatalf("alerts %q", a)
	}
	events, err := e.store.FindRouterEvents(ctx, "r1", 10)
	if err != nil || len(events) != 2 || events[0].State != radius.RouterCameUp || events[1].State != radius.RouterWentDown {
		t.Fatalf("events %+v, %v", events, err)
	}
}

// TestPollSealedPassword: the API password opens only bound to its own NAS's row; a
// value copied from another row is a failed poll that says why, and no login is tried.
func TestPollSealedPassword(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	other := e.sealer.Seal([]byte("pw-api"), radius.SealNASAPIPassword.AD(e.nas.ID+1))
	if _, err := e.store.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{SealedPassword: other}); err != nil {
		t.Fatal(err)
	}
	st, err := e.routers.Poll(ctx, e.target())
	if err != nil || !strings.Contains(st.Error, "cannot be opened") || e.router.Attempts() != 0 {
		t.Fatalf("poll: %+v, %v, %d logins", st, err, e.router.Attempts())
	}
}

// TestReconcile: a session the router no longer has is closed with Lost-Carrier in
// Postgres and taken out of the live index; one too young to judge, and the ones the
// router has (a code voucher by its device), stay; an entry no session matches is
// reported. While accounting waits in the spool, nothing is closed.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	e.session("81500001", "alice", "10.0.0.2", "AA:00:00:00:00:01", time.Hour)
	e.session("81500002", "carol", "10.0.0.3", "AA:00:00:00:00:03", time.Hour)
	e.session("81500003", "dave", "10.0.0.4", "AA:00:00:00:00:04", 30*time.Second)
	e.session("80100004", radius.VoucherAccountName(7), "10.5.50.7", "AA:00:00:00:00:07", time.Hour)
	e.router.AddPPP("alice", "10.0.0.2", "AA:00:00:00:00:01", "0x81500001")
	e.router.AddHotspot("K7PQ4MQ2", "10.5.50.7", "AA:00:00:00:00:07", true)
	e.router.AddPPP("mallory", "10.0.0.9", "AA:00:00:00:00:09", "0x81500009")

	e.routers.Backlog = func() int64 { return 2 }
	res, err := e.routers.Reconcile(ctx, e.target())
	if err != nil || len(res.Closed) != 0 || res.Skipped == "" {
		t.Fatalf("with a backlog: %+v, %v", res, err)
	}
	e.routers.Backlog = func() int64 { return 0 }
	res, err = e.routers.Reconcile(ctx, e.target())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Closed) != 1 || res.Closed[0].Username != "carol" || res.Closed[0].TerminateCause != radius.CauseLostCarrier {
		t.Fatalf("closed %+v", res.Closed)
	}
	if len(res.Unknown) != 1 || res.Unknown[0].User != "mallory" || !res.Unknown[0].RADIUS {
		t.Fatalf("unknown %+v", res.Unknown)
	}
	open, err := e.store.FindSessions(ctx, radius.SessionFilter{Online: true})
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, s := range open {
		users = append(users, s.Username)
	}
	slices.Sort(users)
	if want := []string{"alice", "dave", radius.VoucherAccountName(7)}; !slices.Equal(users, want) {
		t.Fatalf("open %q, want %q", users, want)
	}
	carol, err := e.store.FindSessions(ctx, radius.SessionFilter{Username: "carol"})
	if err != nil || len(carol) != 1 || carol[0].Open() || carol[0].TerminateCause != "Lost-Carrier" || !carol[0].StoppedAt.Equal(carol[0].LastUpdate) {
		t.Fatalf("carol in Postgres: %+v, %v", carol, err)
	}
	for user, want := range map[string]int{"carol": 0, "alice": 1, "dave": 1} {
		if on, err := e.live.Online(ctx, user, time.Now()); err != nil || len(on) != want {
			t.Fatalf("%s in the live index: %+v, %v", user, on, err)
		}
	}
	// Again: nothing more to close.
	if res, err = e.routers.Reconcile(ctx, e.target()); err != nil || len(res.Closed) != 0 {
		t.Fatalf("second run: %+v, %v", res, err)
	}
}

// TestDisconnect: a session is removed from the router's active list by its .id; a
// session the router no longer has is "api-not-found"; a NAS without an API is
// ENOTFOUND.
func TestDisconnect(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	e.router.AddPPP("alice", "10.0.0.2", "AA:00:00:00:00:01", "0x81500001")
	e.router.AddHotspot("K7PQ4MQ2", "10.5.50.7", "AA:00:00:00:00:07", true)
	alice := radius.LiveSession{Key: radius.SessionKey{NASID: e.nas.ID, SessionID: "81500001"}, Username: "alice", FramedIP: netip.MustParseAddr("10.0.0.2")}
	res, err := e.routers.Disconnect(ctx, alice, "admin")
	if err != nil || res.Result != radius.APIRemoved || res.Kind != "disconnect" || res.Reason != "admin" || res.Username != "alice" {
		t.Fatalf("disconnect: %+v, %v", res, err)
	}
	if res, err = e.routers.Disconnect(ctx, alice, "admin"); err != nil || res.Result != radius.APINotFound {
		t.Fatalf("again: %+v, %v", res, err)
	}
	voucher := radius.LiveSession{Key: radius.SessionKey{NASID: e.nas.ID, SessionID: "80100002"}, Username: radius.VoucherAccountName(7),
		FramedIP: netip.MustParseAddr("10.5.50.7"), MAC: "AA:00:00:00:00:07"}
	if res, err = e.routers.Disconnect(ctx, voucher, "data_exhausted"); err != nil || res.Result != radius.APIRemoved {
		t.Fatalf("code voucher: %+v, %v", res, err)
	}
	if got := e.router.Removed(); !slices.Equal(got, []string{"ppp:alice", "hotspot:K7PQ4MQ2"}) {
		t.Fatalf("removed %q", got)
	}
	none := ""
	if _, err := e.store.UpdateRouterAPI(ctx, "r1", radius.RouterAPIUpdate{Address: &none}); err != nil {
		t.Fatal(err)
	}
	if res, err = e.routers.Disconnect(ctx, alice, "admin"); radius.ErrorCode(err) != radius.ENOTFOUND || res.Result != "" {
		t.Fatalf("no API: %+v, %v", res, err)
	}
}
