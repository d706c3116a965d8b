// Package radiustest gives tests real stores: a fresh Postgres database with every
// migration applied, and a Redis client with a key prefix of its own. It is imported
// only from _test.go files. With CI=true a missing server fails the test; elsewhere the
// test is skipped with the reason.
package radiustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"tollgate/migrations"
)

// unavailable fails under CI and skips elsewhere.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// DatabaseURL returns TEST_DATABASE_URL, or the local default outside CI.
func DatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL returns TEST_REDIS_URL, or the local default (database 15) outside CI.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/15"
}

// RandomName returns prefix followed by 12 random hex characters.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// withDatabase returns u with its database name replaced.
func withDatabase(u, db string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	p.Path = "/" + db
	return p.String(), nil
}

// makeTemplate builds (once per test binary) a template database holding every migration.
func makeTemplate(ctx context.Context, admin *pgx.Conn) (string, error) {
	templateOnce.Do(func() {
		name := RandomName("tollgate_tpl_")
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			templateErr = fmt.Errorf("create template: %w", err)
			return
		}
		u, err := withDatabase(DatabaseURL(), name)
		if err != nil {
			templateErr = err
			return
		}
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			templateErr = err
			return
		}
		defer conn.Close(ctx)
		if _, err := migrations.Apply(ctx, conn); err != nil {
			templateErr = err
			return
		}
		templateName = name
	})
	return templateName, templateErr
}

// MustDB returns a pool on a new database with every migration applied, dropped when
// the test ends.
func MustDB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	u := MustDBURL(tb)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		tb.Fatalf("radiustest: pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// MustEmptyDBURL creates a new database with no schema at all and returns its URL; it is
// dropped when the test ends.
func MustEmptyDBURL(tb testing.TB) string {
	tb.Helper()
	return mustDatabase(tb, "")
}

// MustDBURL creates a new migrated database and returns its URL; it is dropped when the
// test ends (after the test's own cleanups close their pools).
func MustDBURL(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		unavailable(tb, "radiustest: Postgres at TEST_DATABASE_URL not reachable: %v", err)
	}
	defer admin.Close(ctx)
	tpl, err := makeTemplate(ctx, admin)
	if err != nil {
		tb.Fatalf("radiustest: template database: %v", err)
	}
	return mustDatabase(tb, tpl)
}

// mustDatabase creates a database from template tpl ("" for an empty one).
func mustDatabase(tb testing.TB, tpl string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		unavailable(tb, "radiustest: Postgres at TEST_DATABASE_URL not reachable: %v", err)
	}
	defer admin.Close(ctx)
	name := RandomName("tollgate_t_")
	create := "CREATE DATABASE " + name
	if tpl != "" {
		create += " TEMPLATE " + tpl
	}
	// CREATE DATABASE … TEMPLATE fails while another session uses the template; retry briefly.
	for i := 0; ; i++ {
		_, err = admin.Exec(ctx, create)
		if err == nil || i == 50 || !strings.Contains(err.Error(), "being accessed") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("radiustest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, DatabaseURL())
		if err != nil {
			tb.Logf("radiustest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("radiustest: drop %s: %v", name, err)
		}
	})
	u, err := withDatabase(DatabaseURL(), name)
	if err != nil {
		tb.Fatalf("radiustest: %v", err)
	}
	return u
}

// MustRedis returns a client on TEST_REDIS_URL and a key prefix unique to this test; keys
// under the prefix are deleted when the test ends.
func MustRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		tb.Fatalf("radiustest: TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		unavailable(tb, "radiustest: Redis at TEST_REDIS_URL not reachable: %v", err)
	}
	prefix := RandomName("t") + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}
