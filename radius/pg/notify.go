package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangesChannel is the Postgres notification channel on which admin changes are
// announced, so that every running server refreshes what it keeps in memory.
const ChangesChannel = "tollgate_changes"

// Notify announces a change on ChangesChannel. Payloads are the caller's, e.g. "nas" or
// "account:alice" (at most 8000 bytes). Inside a transaction the notification is sent
// when it commits, and not at all if it rolls back.
func Notify(ctx context.Context, db DBTX, payload string) error {
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, $2)`, ChangesChannel, payload); err != nil {
		return fmt.Errorf("postgres: notify %q: %w", payload, err)
	}
	return nil
}

// Listen's reconnect backoff.
const (
	listenMinBackoff = 250 * time.Millisecond
	listenMaxBackoff = 10 * time.Second
)

// listenPing is how often an idle listening connection is checked: a dead TCP peer is
// otherwise noticed only by keepalive, minutes later. A variable for tests.
var listenPing = 30 * time.Second

// Listen calls fn with the payload of every notification on ChangesChannel until ctx
// ends. It holds a connection of its own and reconnects with backoff when it breaks.
// Each time it starts listening, the first time included, it calls fn("*"): any
// notification sent while it was not listening is lost, so "*" means "reload
// everything". fn runs on Listen's goroutine and should return quickly. Listen returns
// nil when ctx ends, and an error only when connString does not parse.
func Listen(ctx context.Context, connString string, log *slog.Logger, fn func(payload string)) error {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	backoff := listenMinBackoff
	for {
		start := time.Now()
		err := listenOnce(ctx, cfg, fn)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > listenMaxBackoff {
			backoff = listenMinBackoff // it was up for a while: retry quickly
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter, so replicas do not reconnect in step
		log.LogAttrs(ctx, slog.LevelWarn, "postgres: listen for changes",
			slog.Any("err", err), slog.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenOnce connects, listens and delivers notifications until the connection or ctx
// ends.
func listenOnce(ctx context.Context, cfg *pgx.ConnConfig, fn func(payload string)) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(ctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		return err
	}
	fn("*")
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			fn(n.Payload)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return err
		}
		// Idle for listenPing: make sure the connection still works. A timeout does not
		// close a pgx connection, so it can be reused.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}
