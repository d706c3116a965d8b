package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
	hotspotpg "tollgate/hotspot/postgres"
	"tollgate/hotspot/routeros"
	"tollgate/migrations"
	"tollgate/radius"
	"tollgate/radius/pg"
	radiuspg "tollgate/radius/postgres"
	radiusredis "tollgate/radius/redis"
	"tollgate/radius/seal"
	"tollgate/radius/server"
)

// deps are the opened stores and services of one process.
type deps struct {
	log     *slog.Logger
	pool    *pgxpool.Pool
	rdb     goredis.UniversalClient
	sealer  *seal.Sealer
	radius  *radiuspg.Store
	cache   *radiusredis.Cache
	live    *radiusredis.Live
	billing *billing.Service
	cfg     *Config
	// acc is the one account reader of the process, so its cache-fallback state and
	// counters are shared.
	acc *radius.Accounts
	// rpool and rts are the RouterOS API connections and service (nas_api.go), made on
	// first use; downAfter is TOLLGATE_ROUTER_DOWN_AFTER.
	rpool     *routeros.Pool
	rts       *radius.Routers
	downAfter int
	// srv is the radius role's server when this process runs one: the portal's NAS
	// pages read its per-NAS counters.
	srv *server.Server
}

// open loads the configuration and connects to Postgres and Redis.
func (e *env) open(ctx context.Context) (*deps, error) {
	if e.deps != nil {
		return e.deps, nil
	}
	if e.cfg == nil {
		cfg, err := loadConfig()
		if err != nil {
			return nil, err
		}
		e.cfg = cfg
	}
	cfg := e.cfg
	d := &deps{log: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: cfg.LogLevel})), downAfter: cfg.RouterDownAfter}
	var err error
	if d.sealer, err = seal.New(cfg.SecretKey); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, badVar("DATABASE_URL", "not a valid Postgres URL")
	}
	// Every cron job holds a connection for its advisory lock while its queries take
	// others: pgx's default (4 on a small machine) deadlocks once four jobs share a slot.
	if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
		pc.MaxConns = max(pc.MaxConns, 16)
	}
	if d.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.pool.Ping(pctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach DATABASE_URL: %w", err)
	}
	// One Redis, or one behind Sentinel (redis.go).
	target, err := parseRedisURL(cfg.RedisURL)
	if err != nil {
		d.pool.Close()
		return nil, badVar("REDIS_URL", "not a valid Redis URL: %v", err)
	}
	d.rdb = target.client()
	if err := d.rdb.Ping(pctx).Err(); err != nil {
		// Postgres holds the truth: RADIUS answers from it until Redis is back, so an
		// outage of Redis must not keep tollgate from starting.
		d.log.Warn("redis unreachable: the RADIUS path answers from Postgres until it is back", "err", err)
	}
	d.radius = radiuspg.New(d.pool)
	// The cache names account entries by the voucher-code hash's key (so a voucher's
	// entry can be dropped by its code hash) and authenticates every entry.
	d.cache = radiusredis.New(d.rdb, cfg.RedisPrefix, radiusredis.Options{
		CodeKey:   d.sealer.Key(radius.HashVoucherCode),
		RecordKey: d.sealer.Key("cache record"),
		LocalSize: cfg.LocalCache,
	})
	d.live = radiusredis.NewLive(d.rdb, cfg.RedisPrefix)
	subscribers := billingpg.NewStore(d.pool)
	d.billing = &billing.Service{
		Store:    subscribers,
		Sealer:   d.sealer,
		Changes:  &changes{subscribers: subscribers, cache: d.cache},
		Now:      time.Now,
		Location: cfg.Location,
	}
	d.cfg = cfg
	e.deps = d
	return d, nil
}

// money is the subscribers' money engine over this process's pool: wallets,
// subscriptions, invoices. dis ends the sessions of isolated and restored subscribers
// (nil: none are ended).
func (d *deps) money(dis billing.Disconnector) *billing.SubscriberService {
	st := billingpg.NewStore(d.pool)
	return &billing.SubscriberService{
		Store:      st,
		InTx:       billingpg.InTx(d.pool),
		Changes:    d.billing.Changes,
		Disconnect: dis,
		Config:     d.cfg.money(),
		Now:        time.Now,
	}
}

// cliMoney is the money engine of a command-line process: it disconnects through an
// enforcer that loads the NAS table.
func (d *deps) cliMoney(ctx context.Context) (*billing.SubscriberService, error) {
	enf, err := d.cliEnforcer(ctx)
	if err != nil {
		return nil, err
	}
	return d.money(enf), nil
}

func (e *env) close() {
	if e.deps == nil {
		return
	}
	if e.deps.rpool != nil {
		e.deps.rpool.Close()
	}
	e.deps.cache.Close()
	e.deps.live.Close()
	e.deps.rdb.Close()
	e.deps.pool.Close()
	e.deps = nil
}

// changes drops cached accounts after a committed change, so every running server sees
// it on the next request (the cache is shared in Redis).
type changes struct {
	subscribers *billingpg.Store
	cache       *radiusredis.Cache
}

var _ billing.Changes = (*changes)(nil)

// AccountsChanged deletes the cache entries of usernames and of the MACs bound to them.
func (c *changes) AccountsChanged(ctx context.Context, usernames ...string) error {
	const chunk = 10000
	for len(usernames) > 0 {
		n := min(chunk, len(usernames))
		part := usernames[:n]
		usernames = usernames[n:]
		keys := make([]string, 0, len(part))
		for _, u := range part {
			keys = append(keys, radius.AccountKey(u))
		}
		macs, err := c.subscribers.FindSubscriberMACs(ctx, part)
		if err != nil {
			return fmt.Errorf("changes: macs: %w", err)
		}
		for _, mac := range macs {
			keys = append(keys, radius.MACKey(mac))
		}
		if err := c.cache.DeleteAccounts(ctx, keys...); err != nil {
			return fmt.Errorf("changes: %w", err)
		}
		// Usage restarts with a new validity (plan change): refill it from Postgres.
		if err := c.cache.DeleteUsage(ctx, part...); err != nil {
			return fmt.Errorf("changes: %w", err)
		}
	}
	return nil
}

// MACsChanged deletes the cache entries of MAC logins by macs.
func (c *changes) MACsChanged(ctx context.Context, macs ...string) error {
	keys := make([]string, len(macs))
	for i, m := range macs {
		keys[i] = radius.MACKey(m)
	}
	if err := c.cache.DeleteAccounts(ctx, keys...); err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	return nil
}

// VouchersChanged deletes the cache entries of vouchers: under their account names and
// under their codes (named by the code hashes, as the codes are not kept).
func (c *changes) VouchersChanged(ctx context.Context, vs ...hotspot.Changed) error {
	keys := make([]string, 0, 2*len(vs))
	users := make([]string, 0, len(vs))
	for _, v := range vs {
		keys = append(keys, radius.AccountKey(v.Username))
		users = append(users, v.Username)
		if v.CodeHash != nil {
			keys = append(keys, radius.CodeKey(v.CodeHash))
		}
	}
	if err := c.cache.DeleteAccounts(ctx, keys...); err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	if err := c.cache.DeleteUsage(ctx, users...); err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	return nil
}

// PlansChanged drops the cached accounts of every subscriber on the plan.
func (c *changes) PlansChanged(ctx context.Context, planID int64) error {
	users, err := c.subscribers.FindPlanUsernames(ctx, planID)
	if err != nil {
		return fmt.Errorf("changes: plan users: %w", err)
	}
	return c.AccountsChanged(ctx, users...)
}

// purchaseTx is the hotspot.InTx of a voucher purchase: one transaction on pool with
// hotspot's store and billing's wallet store bound to it, so a batch and the debit that
// pays for it commit together.
func purchaseTx(pool *pgxpool.Pool) hotspot.InTx {
	return func(ctx context.Context, fn func(hotspot.Store, billing.WalletStore) error) error {
		return pg.WithTx(ctx, pool, func(tx pgx.Tx) error {
			return fn(hotspotpg.NewStore(tx), billingpg.NewStore(tx))
		})
	}
}

// secretsUpgrade is what `tollgate migrate` needs to bring secrets of older versions up
// to date with the server key.
func (d *deps) secretsUpgrade() migrations.Upgrade {
	return migrations.Upgrade{
		OpenUnbound: d.sealer.OpenUnbound,
		Seal: func(plain []byte, column string, id int64) []byte {
			return d.sealer.Seal(plain, radius.SealedColumn(column).AD(id))
		},
		CodeHash: func(code string) []byte {
			return d.sealer.Hash(radius.HashVoucherCode, []byte(radius.NormalizeCode(code)))
		},
		CodeHint:    radius.MaskCode,
		AccountName: radius.VoucherAccountName,
	}
}

// accounts is the RADIUS path's account reader over these stores.
func (d *deps) accounts() *radius.Accounts {
	if d.acc == nil {
		d.acc = &radius.Accounts{Cache: d.cache, Store: d.radius, Opener: d.sealer, Codes: d.sealer, Auth: d.cache, Usage: d.radius, Online: d.radius, Activator: d.radius, Now: time.Now,
			CacheBack: d.cacheBack}
	}
	return d.acc
}

// cacheBack drops the cached accounts and usage once Redis answers again after an
// outage: a change saved meanwhile (a suspension) may not have reached the cache, and
// the RADIUS path must not read it from there for up to the cache's TTL.
func (d *deps) cacheBack(ctx context.Context) error {
	n, err := d.cache.DropAll(ctx)
	if err != nil {
		d.log.LogAttrs(ctx, slog.LevelWarn, "redis back, but dropping its cached accounts failed: still answering from Postgres", slog.Any("err", err))
		return err
	}
	d.log.LogAttrs(ctx, slog.LevelInfo, "redis back: cached accounts and usage dropped, refilled from Postgres", slog.Int64("keys", n))
	return nil
}

// nasTable loads every NAS with its secret opened, for a process without a running
// server (the command line).
func (d *deps) nasTable(ctx context.Context) (func(int64) (radius.NAS, bool), error) {
	list, err := d.radius.ListNAS(ctx)
	if err != nil {
		return nil, err
	}
	openNASSecrets(d, list) // a NAS whose secret does not open is left out, as serve does
	m := make(map[int64]radius.NAS, len(list))
	for _, n := range list {
		if n.Secret != nil {
			m[n.ID] = n
		}
	}
	return func(id int64) (radius.NAS, bool) { n, ok := m[id]; return n, ok }, nil
}

// enforcer builds the enforcement service; nas finds a NAS with its secret by id.
func (d *deps) enforcer(nas func(int64) (radius.NAS, bool)) *radius.Enforcer {
	return &radius.Enforcer{
		Accounts:   d.accounts(),
		Sessions:   d.radius,
		Live:       d.live,
		Usage:      d.radius,
		UsageCache: d.cache,
		Disconnect: &disconnector{coa: server.NewCoAClient(time.Second, 2, d.log), nas: nas, store: d.radius, routers: d.routers()},
		Grace:      radius.DefaultGrace(),
		Now:        time.Now,
		Log:        d.log,
	}
}

// cliEnforcer is the enforcer of a command-line process.
func (d *deps) cliEnforcer(ctx context.Context) (*radius.Enforcer, error) {
	nas, err := d.nasTable(ctx)
	if err != nil {
		return nil, err
	}
	return d.enforcer(nas), nil
}
