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
       s.mac_login, s.valid_from, s.valid_until, s.created_at, s.updated_at, s.name, s.email, s.phone`

// returningSubscriber is what a write returns for the CTE "s".
const returningSubscriber = `RETURNING id, username, plan_id, status, static_ip, mac,
              mac_login, valid_from, valid_until, created_at, updated_at, name, email, phone`

// scanSubscriber scans subscriberColumns into sub.
func scanSubscriber(row pgx.Row, sub *billing.Subscriber) error {
	var status string
	var mac *string
	var from, until *time.Time
	var email, phone *string
	err := row.Scan(&sub.ID, &sub.Username, &sub.PlanID, &sub.PlanName, &status, &sub.StaticIP,
		&mac, &sub.MACLogin, &from, &until, &sub.CreatedAt, &sub.UpdatedAt, &sub.Name, &email, &phone)
	if err != nil {
		return err
	}
	sub.Status = radius.Status(status)
	sub.MAC = ""
	if mac != nil {
		sub.MAC = *mac
	}
	sub.ValidFrom, sub.ValidUntil = timeOrZero(from), timeOrZero(until)
	sub.Email, sub.Phone = "", ""
	if email != nil {
		sub.Email = *email
	}
	if phone != nil {
		sub.Phone = *phone
	}
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

const createSubscriberSQL = `
WITH s AS (
    INSERT INTO subscribers (id, username, password, plan_id, status, static_ip, mac, mac_login, valid_from, valid_until,
                             name, email, phone)
    OVERRIDING SYSTEM VALUE
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ` + returningSubscriber + `
)
SELECT ` + subscriberColumns + ` FROM s JOIN plans p ON p.id = s.plan_id`

// CreateSubscriber inserts sub with its reserved ID (NextSubscriberIDs) and its sealed
// password, and sets every field to what was stored. ECONFLICT when the username or the
// MAC is taken, EINVALID when the plan does not exist or the ID was not reserved.
func (s *Store) CreateSubscriber(ctx context.Context, sub *billing.Subscriber, sealedPassword []byte) error {
	if sub.ID <= 0 {
		return radius.Errorf(radius.EINVALID, "subscriber: no reserved id (NextSubscriberIDs)")
	}
	status := sub.Status
	if status == "" {
		status = radius.StatusActive
	}
	err := scanSubscriber(s.db.QueryRow(ctx, createSubscriberSQL,
		sub.ID, sub.Username, sealedPassword, sub.PlanID, string(status), sub.StaticIP,
		nullString(sub.MAC), sub.MACLogin, nullTime(sub.ValidFrom), nullTime(sub.ValidUntil),
		sub.Name, nullString(sub.Email), nullString(sub.Phone),
	), sub)
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
// to $5, which may be NULL (no end), and $7 whether to set mac to $8 (NULL unbinds).
const updateSubscriberSQL = `
WITH s AS (
    UPDATE subscribers SET
        status      = COALESCE($2, status),
        plan_id     = COALESCE($3, plan_id),
        valid_until = CASE WHEN $4 THEN $5 ELSE valid_until END,
        password    = COALESCE($6, password),
        mac         = CASE WHEN $7 THEN $8 ELSE mac END,
        mac_login   = COALESCE($9, mac_login),
        updated_at  = now()
    WHERE id = $1
    ` + returningSubscriber + `
)
SELECT ` + subscriberColumns + ` FROM s JOIN plans p ON p.id = s.plan_id`

// UpdateSubscriber writes the non-nil fields of ch to subscriber id and returns it as
// stored. ENOTFOUND, EINVALID, ECONFLICT for a MAC bound to another subscriber.
func (s *Store) UpdateSubscriber(ctx context.Context, id int64, ch billing.SubscriberChange) (*billing.Subscriber, error) {
	var st, until, mac any
	if ch.Status != nil {
		st = string(*ch.Status)
	}
	if ch.ValidUntil != nil {
		until = nullTime(*ch.ValidUntil)
	}
	if ch.MAC != nil {
		mac = nullString(*ch.MAC)
	}
	var sub billing.Subscriber
	err := scanSubscriber(s.db.QueryRow(ctx, updateSubscriberSQL,
		id, st, ch.PlanID, ch.ValidUntil != nil, until, ch.SealedPassword, ch.MAC != nil, mac, ch.MACLogin), &sub)
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

	// dropImportSQL lets a caller's transaction run a second import: ON COMMIT DROP
	// would only drop the table at the caller's commit.
	dropImportSQL = `DROP TABLE billing_import`
)

var importColumns = []string{"n", "id", "username", "password", "plan_id", "valid_until", "name", "email", "phone", "mac", "static_ip"}

// ImportSubscribers inserts rows on plan planID, active, valid from the transaction's
// start until validUntil (zero: no end), in one transaction: all or nothing. It returns
// how many rows it inserted. ECONFLICT naming the first username (in rows order, with
// its line) that already exists, EINVALID when the plan does not exist.
func (s *Store) ImportSubscribers(ctx context.Context, planID int64, validUntil time.Time, rows []billing.ImportRow) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	n, err := s.importSubscribers(ctx, planID, validUntil, rows)
	if err != nil {
		return 0, fmt.Errorf("postgres: import %d subscribers: %w", len(rows), err)
	}
	return n, nil
}

func (s *Store) importSubscribers(ctx context.Context, planID int64, validUntil time.Time, rows []billing.ImportRow) (int, error) {
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

const findPlanUsernamesSQL = `SELECT username FROM subscribers WHERE plan_id = $1`

// FindPlanUsernames returns the usernames of the subscribers on plan planID.
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
