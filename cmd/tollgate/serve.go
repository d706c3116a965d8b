package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
	hotspotpg "tollgate/hotspot/postgres"
	"tollgate/portal"
	"tollgate/radius"
	"tollgate/radius/pg"
	radiuspg "tollgate/radius/postgres"
	radiusredis "tollgate/radius/redis"
	"tollgate/radius/server"
)

// `tollgate serve` runs the roles it is asked for, each started by one function below,
// in this order: radius (the UDP servers and the writers behind them), cron (the
// scheduled jobs) and portal (the web front). Each start function returns the function
// that stops its role; serve stops the roles in reverse order, so in-flight packets and
// requests finish before what they write to closes. The stores themselves (Redis, the
// pool) close last, when the command returns (env.close).

// stopFunc stops what a start function started, within ctx's deadline.
type stopFunc func(ctx context.Context)

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs := e.flags("serve")
	roles := fs.String("roles", "radius,portal,cron", "roles to run: radius, portal, cron")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, r := range strings.Split(*roles, ",") {
		switch r = strings.TrimSpace(r); r {
		case "radius", "portal", "cron":
			want[r] = true
		default:
			return usagef("serve: --roles: unknown role %q (want radius, portal, cron)", r)
		}
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if err := checkSchema(ctx, d); err != nil {
		return err
	}
	if err := d.radius.EnsurePartitions(ctx); err != nil {
		return err
	}
	// Diagnostics: TOLLGATE_CPUPROFILE=FILE writes a CPU profile of the whole run (read
	// with `go tool pprof bin/tollgate FILE`); it is how the README's figures were studied.
	if f := os.Getenv("TOLLGATE_CPUPROFILE"); f != "" {
		pf, err := os.Create(f)
		if err != nil {
			return badVar("TOLLGATE_CPUPROFILE", "%v", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return badVar("TOLLGATE_CPUPROFILE", "%v", err)
		}
		defer pprof.StopCPUProfile()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var stops []stopFunc
	defer func() { shutdown(stops) }()
	var enf *radius.Enforcer // the radius role's, shared with cron
	if want["radius"] {
		var stop stopFunc
		if enf, stop, err = startRadius(ctx, e, d, reg); err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	if want["cron"] {
		stops = append(stops, startCron(ctx, e, d, enf, reg))
	}
	if want["portal"] {
		stop, err := startPortal(e, d, reg)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	d.log.Info("tollgate serving", "version", version, "roles", *roles)
	<-ctx.Done()
	d.log.Info("shutting down")
	return nil
}

// shutdown runs stops in reverse order, all within 10 seconds.
func shutdown(stops []stopFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i](ctx)
	}
}

// startRadius starts the radius role: the account cache, the auth log and accounting
// writers, and the UDP servers with their NAS snapshot, which change notifications and a
// periodic reload keep fresh. It returns the enforcer the cron role shares. When it fails
// it stops what it started.
func startRadius(ctx context.Context, e *env, d *deps, reg *prometheus.Registry) (enf *radius.Enforcer, stop stopFunc, err error) {
	log := d.log
	var (
		srv       *server.Server
		authlog   *radiuspg.AuthLog
		acctPool  *pgxpool.Pool
		acctw     *radiuspg.AcctWriter
		stopLocal func()
		feed      = d.sessionFeed()
	)
	// Stop taking packets, then flush the writers (after the enforcer's disconnects),
	// then close the accounting pool.
	stop = func(ctx context.Context) {
		if srv != nil {
			_ = srv.Shutdown(ctx)
		}
		if acctw != nil {
			if err := acctw.Close(ctx); err != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "accounting flush", slog.String("err", err.Error()))
			}
		}
		feed.Close(ctx)
		if enf != nil {
			enf.Wait()
		}
		if authlog != nil {
			if err := authlog.Close(ctx); err != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "auth log flush", slog.String("err", err.Error()))
			}
		}
		if acctPool != nil {
			acctPool.Close()
		}
		if stopLocal != nil {
			stopLocal()
		}
	}
	// A failed start stops what it started: with the function above, since a return
	// statement has set the named result to nil by the time this runs.
	cleanup := stop
	defer func() {
		if err != nil {
			shutdown([]stopFunc{cleanup})
			enf, stop = nil, nil
		}
	}()

	d.cache.Start()
	d.radius.StartLookups(ctx) // cache misses of concurrent logins share Postgres queries
	if e.cfg.LocalCache > 0 {
		// Accounts read recently are answered from memory while the invalidation
		// channel is subscribed (radius/redis/local.go).
		stopLocal = d.cache.StartLocal(ctx, func(err error) {
			log.Warn("the in-process account cache is off until Redis pub/sub is back", "err", err)
		})
	}
	d.live.Start()
	authlog = radiuspg.NewAuthLog(d.pool, log, radiuspg.AuthLogOptions{})
	authlog.Start()
	// The writer gets connections of its own on which the planner never scans a table
	// whole: every statement it runs has its index, and a plan cached while the tables
	// were still small (a new install) would otherwise keep scanning them as they grow.
	wc := d.pool.Config().Copy()
	wc.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	wc.MaxConns, wc.MinConns = 4, 0
	if acctPool, err = pgxpool.NewWithConfig(ctx, wc); err != nil {
		return nil, nil, fmt.Errorf("postgres: accounting pool: %w", err)
	}
	if acctw, err = radiuspg.NewAcctWriter(acctPool, log, radiuspg.AcctWriterOptions{SpoolDir: e.cfg.SpoolDir}); err != nil {
		return nil, nil, err
	}
	if err := acctw.Register(reg); err != nil {
		return nil, nil, err
	}
	acctw.Start()
	srv = server.New(server.Config{AuthAddr: e.cfg.RadiusAuthAddr, AcctAddr: e.cfg.RadiusAcctAddr}, d.accounts(), authlog, log)
	enf = d.enforcer(srv.NASByID)
	enf.Grace = e.cfg.StaleGrace
	enf.Backlog = acctw.Backlog // no reaping while acknowledged records wait in the spool
	// After the answer: the live index and enforcement, then the webhooks' session
	// feed, which never blocks the worker.
	feed.Start(ctx)
	srv.SetAccounting(acctw, func(ctx context.Context, r *radius.AcctRecord, a *radius.Account) {
		enf.AfterAccounting(ctx, r, a)
		feed.Observe(r)
	})
	srv.SetActivator(d.accounts()) // vouchers start at their first accepted login
	// Failed voucher logins are counted per device and NAS in Redis, for all replicas.
	srv.SetThrottle(radiusredis.NewThrottle(d.rdb, e.cfg.RedisPrefix, d.sealer.Key("throttle"), radiusredis.ThrottleOptions{}))
	if err := registerAccountMetrics(reg, d); err != nil {
		return nil, nil, err
	}
	if err := loadNAS(ctx, d, srv); err != nil {
		return nil, nil, err
	}
	if err := srv.Register(reg); err != nil {
		return nil, nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, nil, err
	}
	// Admin changes arrive as notifications; a periodic reload covers a missed one.
	go func() {
		_ = pg.Listen(ctx, e.cfg.DatabaseURL, log, func(payload string) {
			if payload == "nas" || payload == "*" {
				if err := loadNAS(ctx, d, srv); err != nil && ctx.Err() == nil {
					log.Error("reload NAS", "err", err)
				}
			}
		})
	}()
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := loadNAS(ctx, d, srv); err != nil && ctx.Err() == nil {
					log.Error("reload NAS", "err", err)
				}
			}
		}
	}()
	d.srv = srv
	log.Info("radius listening", "auth", srv.AuthAddr().String(), "acct", srv.AcctAddr().String())
	return enf, stop, nil
}

// loadNAS reads every NAS, opens its secret and swaps the server's snapshot. A NAS whose
// secret does not open is refused alone (the server drops and counts its packets) and
// logged by name when it becomes unusable; every other NAS is served.
func loadNAS(ctx context.Context, d *deps, srv *server.Server) error {
	list, err := d.radius.ListNAS(ctx)
	if err != nil {
		return err
	}
	bad := openNASSecrets(d, list)
	was := srv.UnusableNAS()
	srv.SetNAS(list)
	for _, name := range bad {
		if !slices.Contains(was, name) {
			d.log.LogAttrs(ctx, slog.LevelError, "NAS refused: its secret cannot be opened (is TOLLGATE_SECRET_KEY the key it was sealed with? set it again with tollgate nas set --secret-file)",
				slog.String("nas", name))
		}
	}
	for _, name := range was {
		if !slices.Contains(bad, name) {
			d.log.LogAttrs(ctx, slog.LevelInfo, "NAS usable again", slog.String("nas", name))
		}
	}
	return nil
}

// startCron starts the cron role: the stale-session reaper, enforcement, partitions,
// voucher expiry and the notifications' dispatcher and sender, on every replica (a run happens once per slot across them). enf is the
// radius role's enforcer, or nil when this process runs no RADIUS server: the jobs then
// get one of their own that loads the NAS table at each disconnect. The reaper's
// counters go to reg.
func startCron(ctx context.Context, e *env, d *deps, enf *radius.Enforcer, reg prometheus.Registerer) stopFunc {
	log := d.log
	own := enf == nil
	if own {
		enf = d.enforcer(func(int64) (radius.NAS, bool) { return radius.NAS{}, false })
		enf.Grace = e.cfg.StaleGrace
		// Without the radius role this process has no NAS snapshot: load it per run.
		nasFor := func(ctx context.Context) func(int64) (radius.NAS, bool) {
			t, err := d.nasTable(ctx)
			if err != nil {
				return func(int64) (radius.NAS, bool) { return radius.NAS{}, false }
			}
			return t
		}
		enf.Disconnect = &lazyDisconnector{d: d, table: nasFor}
	}
	if err := server.RegisterEnforcer(reg, enf); err != nil {
		log.Error("register reaper metrics", "err", err)
	}
	// The routers' APIs: health, heartbeats and reconciliation, which waits like the
	// reaper while accounting is spooled.
	emailAlerts(d, e.cfg)
	routers := d.routers()
	routers.Backlog = enf.Backlog
	if err := d.routerPool().Register(reg, routers.Down); err != nil {
		log.Error("register RouterOS metrics", "err", err)
	}
	every := e.cfg.CronInterval
	notifications := billingpg.NewStore(d.pool)
	crons := scheduleJobs(ctx, d, append([]job{
		{name: "reaper", every: every, run: func(ctx context.Context) error {
			n, err := enf.Reap(ctx)
			if n > 0 {
				log.Info("reaper closed stale sessions", "count", n)
			}
			return err
		}},
		{name: "enforce", every: every, run: func(ctx context.Context) error { _, err := enf.Sweep(ctx); return err }},
		{name: "partitions", every: time.Hour, run: func(ctx context.Context) error {
			return errors.Join(d.radius.EnsurePartitions(ctx), notifications.EnsureNotificationPartitions(ctx))
		}},
		{name: "vouchers", every: every, run: d.hotspot().ExpireVouchers},
		{name: "retention", every: 24 * time.Hour, run: retentionJob(d, e.cfg.RetentionMonths, e.cfg.FinanceRetentionYears)},
		{name: "privacy", every: time.Hour, run: privacyJob(d, enf)}, // the erasures that are due
		{name: "routers", every: every, run: routers.PollAll},
		// Renewals, grace, isolation and reminders; the job's lock is the one `billing
		// run` waits for, so a pass by hand and cron's never overlap.
		{name: billingpg.PassJob, every: e.cfg.BillingInterval, run: billingPass(d, d.money(enf), log)},
		{name: "webhooks-prune", every: 24 * time.Hour, run: d.webhooks().Prune},
	}, notifyJobs(d, e.cfg)...))
	// The webhooks' outbox reading and deliveries run every few seconds on every
	// replica: deliveries are claimed one by one, so replicas share the queue.
	stopWebhooks := startWebhooks(ctx, d)
	// Wait for running jobs, then for the disconnects of an enforcer of our own (the
	// radius role waits for its own).
	return func(ctx context.Context) {
		select {
		case <-crons.Stop().Done():
		case <-ctx.Done():
		}
		stopWebhooks(ctx)
		if own {
			enf.Wait()
		}
	}
}

// billingPass is cron's billing job: a pass as of now (unpaid top-ups expire, then the
// subscriptions), its work logged.
func billingPass(d *deps, money *billing.SubscriberService, log *slog.Logger) func(ctx context.Context) error {
	pay := d.payments(money)
	return func(ctx context.Context) error {
		rep, prep, err := billingPassRun(ctx, money, pay, time.Now())
		if err != nil {
			return err
		}
		if len(rep.Outcomes) > 0 || prep.Expired > 0 {
			log.Info("billing pass", "renewed", rep.Renewed, "restored", rep.Restored, "grace", rep.Grace,
				"isolated", rep.Isolated, "reminders", rep.Reminders, "expired_checkouts", prep.Expired)
		}
		if len(rep.Errors) > 0 {
			return fmt.Errorf("billing pass: %d failed: %s", len(rep.Errors), strings.Join(rep.Errors, "; "))
		}
		return nil
	}
}

// lazyDisconnector loads the NAS table at each disconnect, for a cron-only process.
type lazyDisconnector struct {
	d     *deps
	table func(ctx context.Context) func(int64) (radius.NAS, bool)
}

func (l *lazyDisconnector) Disconnect(ctx context.Context, s radius.LiveSession, reason string) (radius.CoAResult, error) {
	dis := &disconnector{coa: server.NewCoAClient(time.Second, 2, l.d.log), nas: l.table(ctx), store: l.d.radius, routers: l.d.routers()}
	return dis.Disconnect(ctx, s, reason)
}

// startPortal starts the portal role: the web front on TOLLGATE_HTTP_ADDR (and the staff
// pages on TOLLGATE_ADMIN_ADDR when set), serving /metrics from reg.
func startPortal(e *env, d *deps, reg *prometheus.Registry) (stopFunc, error) {
	accounts, sessions, audit := portalStores(d, e.cfg)
	pay := portalPayments(d)
	web, err := portal.New(portal.Config{Addr: e.cfg.HTTPAddr, AdminAddr: e.cfg.AdminAddr, OperatorName: e.cfg.OperatorName, PublicURL: e.cfg.PublicURL,
		TrustedProxies: e.cfg.TrustedProxies, APIRateLimit: e.cfg.APIRateLimit,
		Currency: e.cfg.Currency, Location: e.cfg.Location}, portal.Deps{
		Health: func(ctx context.Context) error {
			if err := d.pool.Ping(ctx); err != nil {
				return errors.New("postgres unreachable")
			}
			if err := d.rdb.Ping(ctx).Err(); err != nil {
				return errors.New("redis unreachable")
			}
			return nil
		},
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Log:      d.log,
		Auth:     accounts,
		Sessions: sessions,
		Audit:    audit,
		Limits:   sessions, // the status page's rate limits, in Redis
		// The captive status page shows a voucher by its code (or username).
		Hotspot: d.hotspot(),
		// The print views read vouchers through the service and plans from billing.
		Prints: struct {
			*hotspot.Service
			*billingpg.Store
		}{d.hotspot(), billingpg.NewStore(d.pool)},
		Vouchers: portalVouchers(d),
		// The captive login page posts only to the NASes' login hosts.
		LoginHosts: d.radius,
		Tokens:     d.tokens(),
		API:        portalAPI(d),
		My:         portalMy(d, accounts),
		// The admin's subscriber pages, invoices and statements.
		Subscribers: portalSubscribers(d),
		// The payment webhooks and the review queue; credits' after-work on its workers.
		Payments: pay,
		// The operator's pages; the NAS pages read the radius role's counters.
		Ops: portalOps(d, d.srv),
	})
	if err != nil {
		_ = pay.Shutdown(context.Background())
		return nil, err
	}
	if err := web.Register(reg); err != nil {
		_ = pay.Shutdown(context.Background())
		return nil, err
	}
	if err := web.Start(); err != nil {
		_ = pay.Shutdown(context.Background())
		return nil, fmt.Errorf("portal: listen %s: %w", e.cfg.HTTPAddr, err)
	}
	if a := web.AdminAddr(); a != nil {
		d.log.Info("portal listening", "guests", web.Addr().String(), "admin", a.String())
	} else {
		d.log.Info("portal listening", "addr", web.Addr().String())
	}
	// No more requests, then the credits' after-work still queued.
	return func(ctx context.Context) { _ = web.Shutdown(ctx); _ = pay.Shutdown(ctx) }, nil
}

// portalVouchers is what the portal's NAS, plan, voucher and reseller pages call. A
// purchase runs the batch and its debit in one transaction on the pool.
func portalVouchers(d *deps) *portal.Vouchers {
	hs, rs := d.hotspot(), d.resellers()
	return &portal.Vouchers{
		Hotspot:   hs,
		Purchases: &hotspot.Purchaser{Service: hs, Resellers: rs, InTx: purchaseTx(d.pool)},
		Plans:     d.billing,
		Resellers: rs,
		NAS:       d.radius,
		AuthLog:   d.radius,
		Reports:   hotspotpg.NewStore(d.pool),
		Sealer:    d.sealer,
		Notify:    func(ctx context.Context, payload string) error { return pg.Notify(ctx, d.pool, payload) },
	}
}

// portalAPI is what the /api/v1 resources call. A disconnect loads the NAS table as it
// goes, so a portal-only process (no radius role, no snapshot) reaches new routers too.
func portalAPI(d *deps) *portal.API {
	return &portal.API{
		Plans:       d.billing,
		Subscribers: d.billing,
		NAS:         d.radius,
		Sessions:    d.radius,
		Vouchers:    d.hotspot(),
		Disconnect:  &lazyDisconnector{d: d, table: d.nasTableOrNone},
	}
}

// nasTableOrNone is the NAS table as of now, or an empty one when it cannot be read.
func (d *deps) nasTableOrNone(ctx context.Context) func(int64) (radius.NAS, bool) {
	t, err := d.nasTable(ctx)
	if err != nil {
		return func(int64) (radius.NAS, bool) { return radius.NAS{}, false }
	}
	return t
}

// registerAccountMetrics exports how the account reads went: cache round trips that
// failed and fell back to Postgres, reads that went to Postgres, and cached entries that
// failed their authentication (written by someone without the server key).
func registerAccountMetrics(reg prometheus.Registerer, d *deps) error {
	acc := d.accounts()
	for _, c := range []struct {
		name, help string
		v          func() int64
	}{
		{"cache_failures_total", "Account cache round trips that failed; each request fell back to Postgres.", acc.CacheFailures},
		{"store_reads_total", "Account reads that went to Postgres (cache misses and fallbacks).", acc.StoreReads},
		{"cache_forged_total", "Cached account entries that failed authentication and were read as misses.", d.cache.Forged},
		{"local_hits_total", "Access-Requests answered from the in-process account cache, without Redis.", func() int64 { return d.cache.LocalStats().Hits }},
		{"local_drops_total", "In-process cache entries dropped by invalidation messages.", func() int64 { return d.cache.LocalStats().Drops }},
	} {
		v := c.v
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tollgate", Subsystem: "accounts", Name: c.name, Help: c.help,
		}, func() float64 { return float64(v()) })); err != nil {
			return err
		}
	}
	return nil
}
