package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// subscriberError translates the constraint violations of a subscriber write: a taken
// username or MAC is ECONFLICT, a missing plan or a value the schema refuses EINVALID.
func subscriberError(err error, username, mac string) error {
	switch {
	case pg.IsUnique(err, "subscribers_mac_key"):
		if mac == "" {
			mac = pg.DuplicateKey(err)
		}
		return pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("mac: %s is bound to another subscriber", mac))
	case pg.IsUnique(err, ""):
		if username == "" {
			username = pg.DuplicateKey(err)
		}
		return pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("username: %q is taken", username))
	case pg.IsForeignKey(err, ""):
		return pg.Translate(err, radius.EINVALID, "plan: no such plan")
	}
	if cerr := pg.CheckField(err, checkFields); cerr != nil {
		return cerr
	}
	return err
}

// subscriberColumns are the columns of the CTE "s" joined with its plan "p".
const subscriberColumns = `s.id, s.username, s.plan_id, p.name, s.status, s.static_ip, s.mac,
       s.mac_login, s.valid_from, s.valid_until, s.created_at, s.updated_at,
       s.name, coalesce(s.email, ''), coalesce(s.phone, ''), s.auto_renew, s.notify_email, s.notify_sms, s.marketing,
       s.restricted`

// returningSubscriber is what a write returns for the CTE "s".
const returningSubscriber = `RETURNING id, username, plan_id, status, static_ip, mac,
              mac_login, valid_from, valid_until, created_at, updated_at,
              name, email, phone, auto_renew, notify_email, notify_sms, marketing,
              restricted`

// scanSubscriber scans subscriberColumns (and more) into sub.
func scanSubscriber(row pgx.Row, sub *billing.Subscriber, more ...any) error {
	var status string
	var mac *string
	var from, until *time.Time
	err := row.Scan(append([]any{&sub.ID, &sub.Username, &sub.PlanID, &sub.PlanName, &status, &sub.StaticIP,
		&mac, &sub.MACLogin, &from, &until, &sub.CreatedAt, &sub.UpdatedAt,
		&sub.Name, &sub.Email, &sub.Phone, &sub.AutoRenew, &sub.NotifyEmail, &sub.NotifySMS, &sub.Marketing,
		&sub.Restricted}, more...)...)
	if err != nil {
		return err
	}
	sub.Status = radius.Status(status)
	sub.MAC = ""
	if mac != nil {
		sub.MAC = *mac
	}
	sub.ValidFrom, sub.ValidUntil = timeOrZero(from), timeOrZero(until)
	return nil
}

const nextSubscriberIDsSQL = `SELECT nextval(pg_get_serial_sequence('subscribers', 'id')) FROM generate_series(1, $1)`

// NextSubscriberIDs reserves n subscriber IDs from the table's identity sequence: a
// password is sealed to its row's ID before the row is stored.
func (s *Store) NextSubscriberIDs(ctx context.Context, n int) ([]int64, error) {
	rows, err := s.db.Query(ctx, nextSubscriberIDsSQL, n)
	if err != nil {
		return nil, fmt.Errorf("postgres: reserve subscriber ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("postgres: reserve subscriber ids: %w", err)
	}
	return ids, nil
}

// createSubscriberSQL inserts the subscriber and, when $15 (the first period's start)
// is not NULL, its subscription, in one statement: both or neither. The wallet comes
// with the row (the subscribers_wallet trigger).
const createSubscriberSQL = `
WITH s AS (
    INSERT INTO subscribers (id, username, password, plan_id, status, static_ip, mac, mac_login, valid_from, valid_until,
                             name, email, phone, auto_renew)
    OVERRIDING SYSTEM VALUE
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ` + returningSubscriber + `
), sub AS (
    INSERT INTO subscriptions (subscriber_id, plan_id, state, paid, anchor_day, period_start, period_end)
    SELECT s.id, s.plan_id, $17, $18, $19, $15, $16 FROM s WHERE $15::timestamptz IS NOT NULL
)
SELECT ` + subscriberColumns + ` FROM s JOIN plans p ON p.id = s.plan_id`

// subscriptionArgs are the arguments of a new subscription: its period, state, paid flag
// and anchor day, NULL for none.
func subscriptionArgs(sub *billing.Subscription) []any {
	if sub == nil {
		return []any{nil, nil, "active", false, 1}
	}
	state := sub.State
	if state == "" {
		state = radius.SubscriptionActive
	}
	return []any{sub.PeriodStart, sub.PeriodEnd, string(state), sub.Paid, sub.AnchorDay}
}

// CreateSubscriber inserts sub with its reserved ID (NextSubscriberIDs), its sealed
// password and a wallet, and the subscription subscription unless nil, and sets every
// field to what was stored. ECONFLICT when the username or the MAC is taken, EINVALID
// when the plan does not exist or the ID was not reserved.
func (s *Store) CreateSubscriber(ctx context.Context, sub *billing.Subscriber, sealedPassword []byte, subscription *billing.Subscription) error {
	if sub.ID <= 0 {
		return radius.Errorf(radius.EINVALID, "subscriber: no reserved id (NextSubscriberIDs)")
	}
	status := sub.Status
	if status == "" {
		status = radius.StatusActive
	}
	args := append([]any{
		sub.ID, sub.Username, sealedPassword, sub.PlanID, string(status), sub.StaticIP,
		nullString(sub.MAC), sub.MACLogin, nullTime(sub.ValidFrom), nullTime(sub.ValidUntil),
		sub.Name, nullString(sub.Email), nullString(sub.Phone), sub.AutoRenew,
	}, subscriptionArgs(subscription)...)
	err := scanSubscriber(s.db.QueryRow(ctx, createSubscriberSQL, args...), sub)
	if err != nil {
		return fmt.Errorf("postgres: create subscriber %q: %w", sub.Username, subscriberError(err, sub.Username, sub.MAC))
	}
	return nil
}

const findSubscriberByUsernameSQL = `
SELECT ` + subscriberColumns + `
FROM subscribers s JOIN plans p ON p.id = s.plan_id
WHERE s.username = $1`

// FindSubscriberByUsername returns the subscriber called username. ENOTFOUND.
func (s *Store) FindSubscriberByUsername(ctx context.Context, username string) (*billing.Subscriber, error) {
	var sub billing.Subscriber
	if err := scanSubscriber(s.db.QueryRow(ctx, findSubscriberByUsernameSQL, username), &sub); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("username: no subscriber named %q", username))
		}
		return nil, fmt.Errorf("postgres: find subscriber %q: %w", username, err)
	}
	return &sub, nil
}

// updateSubscriberSQL changes the non-NULL arguments; $4 says whether to set valid_until
// to $5, which may be NULL (no end), $7 whether to set mac to $8 (NULL unbinds), $11
// whether to set email to $12, $13 whether to set phone to $14 and $16 whether to set
// static_ip to $17 (NULL clears).
const updateSubscriberSQL = `
WITH s AS (
    UPDATE subscribers SET
        status      = COALESCE($2, status),
        plan_id     = COALESCE($3, plan_id),
        valid_until = CASE WHEN $4 THEN $5 ELSE valid_until END,
        password    = COALESCE($6, password),
        mac         = CASE WHEN $7 THEN $8 ELSE mac END,
        mac_login   = COALESCE($9, mac_login),
        name        = COALESCE($10, name),
        email       = CASE WHEN $11 THEN $12 ELSE email END,
        phone       = CASE WHEN $13 THEN $14 ELSE phone END,
        auto_renew  = COALESCE($15, auto_renew),
        static_ip   = CASE WHEN $16 THEN $17 ELSE static_ip END,
        updated_at  = now()
    WHERE id = $1
    ` + returningSubscriber + `
)
SELECT ` + subscriberColumns + ` FROM s JOIN plans p ON p.id = s.plan_id`

// The subscription changes of a subscriber change.
const (
	// startSubscriptionSQL creates the subscription or restarts a cancelled one.
	startSubscriptionSQL = `
INSERT INTO subscriptions (subscriber_id, plan_id, period_start, period_end, state, paid, anchor_day)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (subscriber_id) DO UPDATE SET
    plan_id = EXCLUDED.plan_id, next_plan_id = NULL, state = EXCLUDED.state, paid = EXCLUDED.paid,
    anchor_day = EXCLUDED.anchor_day, period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
    grace_until = NULL, updated_at = now()`
	scheduleSubscriptionSQL = `
UPDATE subscriptions SET next_plan_id = nullif($2, 0), updated_at = now()
WHERE subscriber_id = $1 AND state <> 'cancelled'`
	switchSubscriptionSQL = `
UPDATE subscriptions SET plan_id = $2, next_plan_id = NULL, updated_at = now()
WHERE subscriber_id = $1 AND state <> 'cancelled'`
	cancelSubscriptionSQL = `
UPDATE subscriptions SET state = 'cancelled', next_plan_id = NULL, grace_until = NULL, updated_at = now()
WHERE subscriber_id = $1`
)

// changeSubscription applies ch to the subscription of subscriber id on db.
func changeSubscription(ctx context.Context, db pg.DBTX, id int64, ch *billing.SubscriptionChange) error {
	var err error
	switch {
	case ch.Start != nil:
		a := subscriptionArgs(ch.Start)
		_, err = db.Exec(ctx, startSubscriptionSQL, id, ch.Start.PlanID, a[0], a[1], a[2], a[3], a[4])
	case ch.Cancel:
		_, err = db.Exec(ctx, cancelSubscriptionSQL, id)
	case ch.PlanID != nil:
		_, err = db.Exec(ctx, switchSubscriptionSQL, id, *ch.PlanID)
	case ch.NextPlanID != nil:
		_, err = db.Exec(ctx, scheduleSubscriptionSQL, id, *ch.NextPlanID)
	}
	if err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	return nil
}

// UpdateSubscriber writes the non-nil fields of ch to subscriber id, and ch's
// subscription change, in one transaction (a savepoint on the caller's), and returns
// the subscriber as stored. ENOTFOUND, EINVALID, ECONFLICT for a MAC bound to another
// subscriber.
func (s *Store) UpdateSubscriber(ctx context.Context, id int64, ch billing.SubscriberChange) (*billing.Subscriber, error) {
	var st, until, mac, email, phone, ip any
	if ch.Status != nil {
		st = string(*ch.Status)
	}
	if ch.ValidUntil != nil {
		until = nullTime(*ch.ValidUntil)
	}
	if ch.MAC != nil {
		mac = nullString(*ch.MAC)
	}
	if ch.Email != nil {
		email = nullString(*ch.Email)
	}
	if ch.Phone != nil {
		phone = nullString(*ch.Phone)
	}
	if ch.StaticIP != nil && ch.StaticIP.IsValid() {
		ip = *ch.StaticIP
	}
	var sub billing.Subscriber
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: update subscriber %d: %w", id, err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	err = scanSubscriber(tx.QueryRow(ctx, updateSubscriberSQL,
		id, st, ch.PlanID, ch.ValidUntil != nil, until, ch.SealedPassword, ch.MAC != nil, mac, ch.MACLogin,
		ch.Name, ch.Email != nil, email, ch.Phone != nil, phone, ch.AutoRenew, ch.StaticIP != nil, ip), &sub)
	if err == nil && ch.Subscription != nil {
		err = changeSubscription(ctx, tx, id, ch.Subscription)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("subscriber: no subscriber with id %d", id))
		} else {
			macName := ""
			if ch.MAC != nil {
				macName = *ch.MAC
			}
			err = subscriberError(err, "", macName)
		}
		return nil, fmt.Errorf("postgres: update subscriber %d: %w", id, err)
	}
	return &sub, nil
}

// The import stages rows in a temporary table, so that one COPY carries them and one
// statement checks them all against subscribers before one INSERT moves them.
const (
	createImportSQL = `
CREATE TEMP TABLE billing_import (
    n           integer NOT NULL,
    id          bigint NOT NULL,
    username    text NOT NULL,
    password    bytea NOT NULL,
    plan_id     bigint,
    valid_until timestamptz,
    name        text NOT NULL,
    email       text,
    phone       text,
    mac         text,
    static_ip   inet
) ON COMMIT DROP`

	importConflictSQL = `
SELECT t.n, t.username
FROM billing_import t JOIN subscribers s USING (username)
ORDER BY t.n
LIMIT 1`

	importInsertSQL = `
INSERT INTO subscribers (id, username, password, plan_id, valid_from, valid_until, name, email, phone, mac, static_ip)
OVERRIDING SYSTEM VALUE
SELECT id, username, password, coalesce(plan_id, $1), now(),
       CASE WHEN plan_id IS NULL THEN $2 ELSE valid_until END, name, email, phone, mac, static_ip
FROM billing_import
ORDER BY n`

	// importSubscriptionsSQL starts the subscriptions of the rows on plan $1 (their own
	// plan, else the import's, $7).
	importSubscriptionsSQL = `
INSERT INTO subscriptions (subscriber_id, plan_id, period_start, period_end, state, paid, anchor_day)
SELECT id, $1, $2, $3, $4, $5, $6
FROM billing_import
WHERE coalesce(plan_id, $7) = $1`

	// dropImportSQL lets a caller's transaction run a second import: ON COMMIT DROP
	// would only drop the table at the caller's commit.
	dropImportSQL = `DROP TABLE billing_import`
)

var importColumns = []string{"n", "id", "username", "password", "plan_id", "valid_until", "name", "email", "phone", "mac", "static_ip"}

// ImportSubscribers inserts rows on plan planID (or a row's own plan), active, valid
// from the transaction's start until validUntil (zero: no end), each with a wallet and,
// when subs holds its plan's ID, a subscription like subs[plan], in one transaction: all
// or nothing. It returns how many rows it inserted. ECONFLICT naming the first username (in rows order, with its line) that
// already exists, EINVALID when the plan does not exist.
func (s *Store) ImportSubscribers(ctx context.Context, planID int64, validUntil time.Time, rows []billing.ImportRow, subs map[int64]*billing.Subscription) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	n, err := s.importSubscribers(ctx, planID, validUntil, rows, subs)
	if err != nil {
		return 0, fmt.Errorf("postgres: import %d subscribers: %w", len(rows), err)
	}
	return n, nil
}

func (s *Store) importSubscribers(ctx context.Context, planID int64, validUntil time.Time, rows []billing.ImportRow, subs map[int64]*billing.Subscription) (int, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if _, err := tx.Exec(ctx, createImportSQL); err != nil {
		return 0, err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"billing_import"}, importColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			var plan, ip any
			if r.PlanID != 0 {
				plan = r.PlanID
			}
			if r.StaticIP.IsValid() {
				ip = r.StaticIP
			}
			return []any{int32(i), r.ID, r.Username, r.Sealed, plan, nullTime(r.ValidUntil), r.Name,
				nullString(r.Email), nullString(r.Phone), nullString(r.MAC), ip}, nil
		}))
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	var i int32
	var taken string
	switch err := tx.QueryRow(ctx, importConflictSQL).Scan(&i, &taken); {
	case err == nil:
		msg := fmt.Sprintf("username: %q is taken", taken)
		if line := rows[i].Line; line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		return 0, radius.Errorf(radius.ECONFLICT, "%s", msg)
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("check conflicts: %w", err)
	}
	tag, err := tx.Exec(ctx, importInsertSQL, planID, nullTime(validUntil))
	if err != nil {
		// A duplicate inside rows, or a subscriber added since the check.
		return 0, subscriberError(err, "", "")
	}
	for plan, sub := range subs {
		a := subscriptionArgs(sub)
		if _, err := tx.Exec(ctx, importSubscriptionsSQL, plan, a[0], a[1], a[2], a[3], a[4], planID); err != nil {
			return 0, fmt.Errorf("subscriptions: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, dropImportSQL); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

const findSubscriberMACsSQL = `SELECT mac FROM subscribers WHERE username = ANY($1) AND mac IS NOT NULL`

// FindSubscriberMACs returns the MACs bound to the subscribers named usernames (one
// without a MAC, or unknown, adds nothing), so their MAC logins' cache entries can go too.
func (s *Store) FindSubscriberMACs(ctx context.Context, usernames []string) ([]string, error) {
	rows, err := s.db.Query(ctx, findSubscriberMACsSQL, usernames)
	if err != nil {
		return nil, fmt.Errorf("postgres: find subscriber MACs: %w", err)
	}
	macs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: find subscriber MACs: %w", err)
	}
	return macs, nil
}

// findPlanUsernamesSQL finds the subscribers on the plan, and those on a plan that
// isolates with it: their cached accounts carry its attributes too.
const findPlanUsernamesSQL = `
SELECT username FROM subscribers
WHERE plan_id = $1 OR plan_id IN (SELECT id FROM plans WHERE isolation_plan_id = $1)`

// FindPlanUsernames returns the usernames of the subscribers on plan planID or on a
// plan whose isolation plan it is.
func (s *Store) FindPlanUsernames(ctx context.Context, planID int64) ([]string, error) {
	rows, err := s.db.Query(ctx, findPlanUsernamesSQL, planID)
	if err != nil {
		return nil, fmt.Errorf("postgres: find users of plan %d: %w", planID, err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: find users of plan %d: %w", planID, err)
	}
	return users, nil
}

const findSubscriberByIDSQL = `
SELECT ` + subscriberColumns + `
FROM subscribers s JOIN plans p ON p.id = s.plan_id
WHERE s.id = $1`

// FindSubscriberByID returns subscriber id. ENOTFOUND.
func (s *Store) FindSubscriberByID(ctx context.Context, id int64) (*billing.Subscriber, error) {
	var sub billing.Subscriber
	if err := scanSubscriber(s.db.QueryRow(ctx, findSubscriberByIDSQL, id), &sub); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("id: no subscriber with id %d", id))
		}
		return nil, fmt.Errorf("postgres: find subscriber %d: %w", id, err)
	}
	return &sub, nil
}

// findSubscribersSQL is an admin listing: each filter is off when its argument is NULL
// ($1 search, $2 status, $3 plan), $4 continues after an ID, $5 is the page size.
const findSubscribersSQL = `
SELECT ` + subscriberColumns + `
FROM subscribers s JOIN plans p ON p.id = s.plan_id
WHERE ($1::text IS NULL OR s.username ILIKE replace(replace(replace($1, '\', '\\'), '%', '\%'), '_', '\_') || '%'
       OR s.name ILIKE '%' || replace(replace(replace($1, '\', '\\'), '%', '\%'), '_', '\_') || '%'
       OR s.email ILIKE '%' || replace(replace(replace($1, '\', '\\'), '%', '\%'), '_', '\_') || '%')
  AND ($2::text IS NULL OR s.status = $2)
  AND ($3::bigint IS NULL OR s.plan_id = $3)
  AND s.id > $4
ORDER BY s.id
LIMIT $5`

// FindSubscribers lists the subscribers f selects, by ascending ID, at most f.Limit
// (default 100, at most billing.MaxListLimit).
func (s *Store) FindSubscribers(ctx context.Context, f billing.SubscriberFilter) ([]billing.Subscriber, error) {
	limit := f.Limit
	if limit <= 0 || limit > billing.MaxListLimit {
		limit = 100
	}
	var plan any
	if f.PlanID != 0 {
		plan = f.PlanID
	}
	rows, err := s.db.Query(ctx, findSubscribersSQL, nullString(f.Search), nullString(string(f.Status)), plan, f.AfterID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: find subscribers: %w", err)
	}
	defer rows.Close()
	var out []billing.Subscriber
	for rows.Next() {
		var sub billing.Subscriber
		if err := scanSubscriber(rows, &sub); err != nil {
			return nil, fmt.Errorf("postgres: find subscribers: %w", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find subscribers: %w", err)
	}
	return out, nil
}
