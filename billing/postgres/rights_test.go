package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// TestErasureTriggers: the ledger, the invoice lines and the audit log stay
// append-only; only a transaction marked as an erasure may rewrite the columns that
// name people (ledger note, reference, actor, key; a line's description; an audit
// entry's actor, target, detail and address), never an amount, and nobody deletes.
func TestErasureTriggers(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Fibre", PriceCents: 1000, Period: "30d"})
	m.add(t, "nia", "Fibre")
	m.credit(t, "nia", 2500)
	if _, err := m.pool.Exec(ctx, `INSERT INTO audit_log (actor, action, target, detail) VALUES ('subscriber:nia', 'login.success', '', '{"user":"nia"}')`); err != nil {
		t.Fatal(err)
	}
	refused := func(what, sql string, erasure bool) {
		t.Helper()
		err := pg.WithTx(ctx, m.pool, func(tx pgx.Tx) error {
			if erasure {
				if _, err := tx.Exec(ctx, `SELECT set_config('tollgate.erasure', 'on', true)`); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, sql)
			return err
		})
		if pe := pg.Error(err); pe == nil || pe.Code != "23001" {
			t.Errorf("%s (erasure %v): %v; want restrict_violation", what, erasure, err)
		}
	}
	allowed := func(what, sql string) {
		t.Helper()
		err := pg.WithTx(ctx, m.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('tollgate.erasure', 'on', true)`); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, sql)
			if err == nil && tag.RowsAffected() == 0 {
				t.Errorf("%s changed nothing", what)
			}
			return err
		})
		if err != nil {
			t.Errorf("%s in an erasure: %v", what, err)
		}
	}
	for _, c := range []struct{ what, sql string }{
		{"ledger note", `UPDATE ledger_entries SET note = 'x'`},
		{"invoice line", `UPDATE invoice_lines SET description = 'x'`},
		{"audit actor", `UPDATE audit_log SET actor = 'x'`},
	} {
		refused(c.what, c.sql, false)
		allowed(c.what, c.sql)
	}
	for _, c := range []struct{ what, sql string }{
		{"ledger amount", `UPDATE ledger_entries SET amount_cents = amount_cents + 1`},
		{"ledger delete", `DELETE FROM ledger_entries`},
		{"line amount", `UPDATE invoice_lines SET unit_cents = unit_cents + 1`},
		{"invoice total", `UPDATE invoices SET total_cents = total_cents + 1, net_cents = net_cents + 1`},
		{"audit action", `UPDATE audit_log SET action = 'x'`},
		{"audit delete", `DELETE FROM audit_log`},
	} {
		refused(c.what, c.sql, true)
	}
}

// TestErasureScrub: erasure_scrub replaces every identifier in any case, longest first,
// with regular-expression characters taken literally; erasure_scrub_jsonb does it in
// every string value and leaves keys, numbers and structure as they are.
func TestErasureScrub(t *testing.T) {
	ctx := context.Background()
	pool := mustEnv(t).pool
	for _, c := range []struct {
		in   string
		olds []string
		want string
	}{
		{"Hello Ann.B (ann.b@x.net), user ann.b", []string{"ann.b", "ann.b@x.net"}, "Hello P (P), user P"},
		{"a+b* and aXb", []string{"a+b*"}, "P and aXb"},
		{"phone +254700000111 or 254700000111", []string{"+254700000111", "254700000111"}, "phone P or P"},
		{"keep x", []string{"x", ""}, "keep x"}, // too short to replace safely
	} {
		var got string
		if err := pool.QueryRow(ctx, `SELECT erasure_scrub($1, $2, 'P')`, c.in, c.olds).Scan(&got); err != nil || got != c.want {
			t.Errorf("erasure_scrub(%q, %q) = %q, %v; want %q", c.in, c.olds, got, err, c.want)
		}
	}
	var got string
	if err := pool.QueryRow(ctx, `SELECT erasure_scrub_jsonb('{"user":"Ann","n":[1,"ann x"],"ann":{"k":true}}', ARRAY['ann'], 'P')::text`).Scan(&got); err != nil ||
		got != `{"n": [1, "P x"], "ann": {"k": true}, "user": "P"}` {
		t.Fatalf("erasure_scrub_jsonb = %s, %v", got, err)
	}
}

// TestRequestStore: one open erasure per subscriber; closing a request twice is a
// conflict; a review's decisions come from grace and isolation events and from limit
// rejects (not wrong passwords), grouped by day.
func TestRequestStore(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	e.mustPlan(t, "Home", 0)
	s, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "oli", Password: "pw", Plan: "Home"})
	if err != nil {
		t.Fatal(err)
	}
	r := &billing.Rights{Store: e.store, Grace: billing.DefaultErasureGrace, Now: func() time.Time { return e.now }}
	first, err := r.RequestErasure(ctx, s.ID, billing.SourceWeb, "subscriber:oli", "", false)
	if err != nil || !first.RunAt.Equal(e.now.Truncate(time.Microsecond).Add(billing.DefaultErasureGrace)) || first.Username != "oli" {
		t.Fatalf("erasure = %+v, %v", first, err)
	}
	if _, err := r.RequestErasure(ctx, s.ID, billing.SourceAPI, "subscriber:oli", "", false); radius.ErrorCode(err) != radius.ECONFLICT {
		t.Fatalf("a second erasure = %v", err)
	}
	if _, err := r.RequestErasure(ctx, 999999, billing.SourceAPI, "x", "", false); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("an erasure of nobody = %v", err)
	}
	c := billing.RequestClose{State: billing.RequestCancelled, By: "subscriber:oli", At: e.now}
	if _, err := e.store.CloseRequest(ctx, first.ID, c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CloseRequest(ctx, first.ID, c); radius.ErrorCode(err) != radius.ECONFLICT {
		t.Fatalf("closing twice = %v", err)
	}
	due, err := e.store.FindDueErasures(ctx, e.now.AddDate(1, 0, 0))
	if err != nil || len(due) != 0 {
		t.Fatalf("due after cancelling: %+v, %v", due, err)
	}
	for i, sql := range []string{
		`INSERT INTO billing_events (at, kind, subscriber_id, key) VALUES ($1, 'isolated', $2, 'isolated:1')`,
		`INSERT INTO auth_log (at, username, method, reason) VALUES ($1, 'oli', 'pap', 'too_many_sessions')`,
		`INSERT INTO auth_log (at, username, method, reason) VALUES ($1::timestamptz + interval '1 minute', 'oli', 'pap', 'too_many_sessions')`,
		`INSERT INTO auth_log (at, username, method, reason) VALUES ($1, 'oli', 'pap', 'bad_password')`,
	} {
		args := []any{e.now.Add(-time.Hour)}
		if i == 0 {
			args = append(args, s.ID)
		}
		if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := e.store.FindDecisions(ctx, s.ID, e.now.Add(-billing.DecisionWindow))
	if err != nil || len(ds) != 2 || ds[0].Kind != "too_many_sessions" || ds[1].Kind != "isolated" ||
		ds[0].Ref != "reject:too_many_sessions:2026-03-01" || ds[0].Summary != "connection refused (too many sessions for this account) 2 times on 2026-03-01" {
		t.Fatalf("decisions %+v, %v", ds, err)
	}
}
