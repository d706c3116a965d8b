// Package postgres stores hotspot's voucher batches and vouchers in Postgres with pgx.
// Every query is a constant next to the method that scans it; every method runs on a
// pg.DBTX, so a caller can pass a pool or a transaction it already holds. Batches are
// written with COPY.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/hotspot"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// Store is hotspot's Postgres store.
type Store struct {
	db pg.DBTX
}

var _ hotspot.Store = (*Store)(nil)

// NewStore returns a Store that runs on db, a pool or a transaction.
func NewStore(db pg.DBTX) *Store { return &Store{db: db} }

// maxRounds bounds the rounds of regenerating colliding codes. Each round replaces only
// the collisions of the previous one, so with the code space hotspot demands one or two
// rounds are the norm.
const maxRounds = 20

// batchLock serializes batch creation: two batches inserting each other's codes at once
// would wait on each other's unique index entries and deadlock. Generating is an admin
// action, rare enough to take turns.
const batchLock = 0x746776626174636b // "tgvbatck"

const (
	lockBatchesSQL = `SELECT pg_advisory_xact_lock($1)`

	nextVoucherIDsSQL = `SELECT nextval(pg_get_serial_sequence('vouchers', 'id')) FROM generate_series(1, $1)`

	createBatchSQL = `
INSERT INTO voucher_batches (plan_id, mode, count, reseller, created_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING id`

	// Logins (codes in code mode) that a subscriber already has as a name: the RADIUS
	// lookup would find the subscriber first. The codes pass as a parameter only; no
	// code is ever written to a table.
	subscriberNamesSQL = `SELECT username FROM subscribers WHERE username = ANY($1::text[])`

	// The staging table lives as long as the connection and is emptied at every commit;
	// IF NOT EXISTS makes a second batch on the same connection reuse it.
	createStagingSQL = `
CREATE TEMP TABLE IF NOT EXISTS voucher_staging_v2 (
    id          bigint NOT NULL,
    username    text NOT NULL,
    password    bytea NOT NULL,
    code_hash   bytea NOT NULL,
    code_sealed bytea NOT NULL,
    code_hint   text NOT NULL
) ON COMMIT DELETE ROWS`

	// A staged voucher whose code or username is taken is skipped (ON CONFLICT). Its id
	// was reserved from the identity's sequence, so it is given explicitly.
	insertStagedSQL = `
INSERT INTO vouchers (id, batch_id, plan_id, username, password, code_hash, code_sealed, code_hint,
                      valid_until, created_at, updated_at, state, sold_at)
OVERRIDING SYSTEM VALUE
SELECT s.id, $1, $2, s.username, s.password, s.code_hash, s.code_sealed, s.code_hint, $3, $4, $4,
       CASE WHEN $5::timestamptz IS NULL THEN 'new' ELSE 'sold' END, $5
FROM voucher_staging_v2 s
ON CONFLICT DO NOTHING`

	// The staged vouchers that did not make it into the batch.
	collidedSQL = `
SELECT s.id FROM voucher_staging_v2 s
WHERE NOT EXISTS (SELECT 1 FROM vouchers v WHERE v.id = s.id)`

	clearStagingSQL = `DELETE FROM voucher_staging_v2`
)

// NextVoucherIDs reserves n voucher IDs from the table's identity sequence.
func (s *Store) NextVoucherIDs(ctx context.Context, n int) ([]int64, error) {
	rows, err := s.db.Query(ctx, nextVoucherIDsSQL, n)
	if err != nil {
		return nil, fmt.Errorf("postgres: reserve voucher ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("postgres: reserve voucher ids: %w", err)
	}
	return ids, nil
}

// CreateBatch stores b and vs in one transaction (see hotspot.Store): the vouchers are
// copied into a staging table with COPY, then moved into vouchers skipping any whose
// code hash or username is taken; those, and any whose login a subscriber has as a name,
// are replaced by fresh() and the round repeats. Batches are made one at a time (an
// advisory lock). ECONFLICT after maxRounds.
func (s *Store) CreateBatch(ctx context.Context, b *hotspot.Batch, validUntil time.Time, vs []hotspot.NewVoucher, fresh func(id int64) (hotspot.NewVoucher, error)) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: create batch: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, lockBatchesSQL, int64(batchLock)); err != nil {
		return fmt.Errorf("postgres: create batch: lock: %w", err)
	}
	if err := tx.QueryRow(ctx, createBatchSQL, b.PlanID, string(b.Mode), b.Count, nullString(b.Reseller), b.CreatedAt).Scan(&b.ID); err != nil {
		return fmt.Errorf("postgres: create batch: %w", translate(err))
	}
	if _, err := tx.Exec(ctx, createStagingSQL); err != nil {
		return fmt.Errorf("postgres: create batch: staging: %w", err)
	}
	byID := make(map[int64]int, len(vs))
	pending := make([]int, len(vs))
	for i := range pending {
		pending[i] = i
		byID[vs[i].ID] = i
	}
	var stored int64
	for round := 0; len(pending) > 0; round++ {
		if round == maxRounds {
			return radius.Errorf(radius.ECONFLICT, "length: %d codes kept colliding with existing ones; use a longer code", len(pending))
		}
		taken, err := subscriberNames(ctx, tx, vs, pending)
		if err != nil {
			return err
		}
		ok := pending[:0:0]
		for _, i := range pending {
			if !taken[vs[i].Login()] {
				ok = append(ok, i)
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"voucher_staging_v2"}, []string{"id", "username", "password", "code_hash", "code_sealed", "code_hint"}, &stagingRows{vs: vs, idx: ok, i: -1}); err != nil {
			return fmt.Errorf("postgres: create batch: copy: %w", err)
		}
		tag, err := tx.Exec(ctx, insertStagedSQL, b.ID, b.PlanID, nullTime(validUntil), b.CreatedAt, nullTime(b.SoldAt))
		if err != nil {
			return fmt.Errorf("postgres: create batch: insert: %w", translate(err))
		}
		stored += tag.RowsAffected()
		var next []int
		if tag.RowsAffected() < int64(len(ok)) {
			if next, err = collided(ctx, tx, byID); err != nil {
				return err
			}
		}
		if len(ok) < len(pending) {
			for _, i := range pending {
				if taken[vs[i].Login()] {
					next = append(next, i)
				}
			}
		}
		if _, err := tx.Exec(ctx, clearStagingSQL); err != nil {
			return fmt.Errorf("postgres: create batch: staging: %w", err)
		}
		for _, i := range next {
			if vs[i], err = fresh(vs[i].ID); err != nil {
				return err
			}
		}
		pending = next
	}
	if stored != int64(len(vs)) {
		// Only possible with duplicates inside vs, which the caller must not pass.
		return fmt.Errorf("postgres: create batch: stored %d of %d vouchers", stored, len(vs))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: create batch: commit: %w", err)
	}
	return nil
}

// subscriberNames returns the logins of vs[idx] that a subscriber has as a name.
func subscriberNames(ctx context.Context, tx pgx.Tx, vs []hotspot.NewVoucher, idx []int) (map[string]bool, error) {
	logins := make([]string, len(idx))
	for j, i := range idx {
		logins[j] = vs[i].Login()
	}
	rows, err := tx.Query(ctx, subscriberNamesSQL, logins)
	if err != nil {
		return nil, fmt.Errorf("postgres: create batch: subscriber names: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: create batch: subscriber names: %w", err)
	}
	taken := make(map[string]bool, len(names))
	for _, n := range names {
		taken[n] = true
	}
	return taken, nil
}

func collided(ctx context.Context, tx pgx.Tx, byID map[int64]int) ([]int, error) {
	rows, err := tx.Query(ctx, collidedSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: create batch: collisions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("postgres: create batch: collisions: %w", err)
	}
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// stagingRows feeds COPY the vouchers at indexes idx without building a row slice.
type stagingRows struct {
	vs  []hotspot.NewVoucher
	idx []int
	i   int
}

func (r *stagingRows) Next() bool { r.i++; return r.i < len(r.idx) }

func (r *stagingRows) Values() ([]any, error) {
	v := &r.vs[r.idx[r.i]]
	return []any{v.ID, v.Username, v.SealedPassword, v.CodeHash, v.SealedCode, v.CodeHint}, nil
}

func (r *stagingRows) Err() error { return nil }

const voucherColumns = `
SELECT v.id, v.batch_id, v.plan_id, p.name, v.code_hint, v.code_hash, v.username, b.mode, v.state, b.reseller,
       v.sold_at, v.activated_at, v.valid_until, v.revoked_at, v.created_at, v.mac,
       p.uptime_limit_seconds, p.data_limit_bytes
FROM vouchers v
JOIN voucher_batches b ON b.id = v.batch_id
JOIN plans p ON p.id = v.plan_id`

const (
	findVoucherByCodeHashSQL = voucherColumns + ` WHERE v.code_hash = $1`
	findVoucherByUsernameSQL = voucherColumns + ` WHERE v.username = $1`
	findVoucherByIDSQL       = voucherColumns + ` WHERE v.id = $1`
	// Admin listing: the filters are optional parameters rather than a built WHERE.
	findVouchersSQL = voucherColumns + `
WHERE ($1::bigint = 0 OR v.batch_id = $1) AND ($2::text = '' OR v.state = $2)
  AND ($4::bigint = 0 OR v.id < $4)
ORDER BY v.id DESC
LIMIT $3`
)

// FindVoucherByCodeHash returns the voucher whose code hashes to h. ENOTFOUND.
func (s *Store) FindVoucherByCodeHash(ctx context.Context, h []byte) (*hotspot.Voucher, error) {
	return s.findOne(ctx, findVoucherByCodeHashSQL, h)
}

// FindVoucherByUsername returns the voucher that logs in as username. ENOTFOUND.
func (s *Store) FindVoucherByUsername(ctx context.Context, username string) (*hotspot.Voucher, error) {
	return s.findOne(ctx, findVoucherByUsernameSQL, username)
}

// FindVoucherByID returns voucher id. ENOTFOUND.
func (s *Store) FindVoucherByID(ctx context.Context, id int64) (*hotspot.Voucher, error) {
	return s.findOne(ctx, findVoucherByIDSQL, id)
}

func (s *Store) findOne(ctx context.Context, sql string, arg any) (*hotspot.Voucher, error) {
	var v hotspot.Voucher
	if err := scanVoucher(s.db.QueryRow(ctx, sql, arg), &v); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, &radius.Error{Code: radius.ENOTFOUND, Message: "code: no such voucher", Err: err}
		}
		return nil, fmt.Errorf("postgres: find voucher: %w", err)
	}
	return &v, nil
}

// FindVouchers lists vouchers, newest first; a zero Limit returns none.
func (s *Store) FindVouchers(ctx context.Context, f hotspot.VoucherFilter) ([]hotspot.Voucher, error) {
	rows, err := s.db.Query(ctx, findVouchersSQL, f.BatchID, string(f.State), f.Limit, f.BeforeID)
	if err != nil {
		return nil, fmt.Errorf("postgres: find vouchers: %w", err)
	}
	defer rows.Close()
	var out []hotspot.Voucher
	for rows.Next() {
		var v hotspot.Voucher
		if err := scanVoucher(rows, &v); err != nil {
			return nil, fmt.Errorf("postgres: find vouchers: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find vouchers: %w", err)
	}
	return out, nil
}

const findSealedCredentialsSQL = `SELECT id, code_sealed, password FROM vouchers WHERE batch_id = $1 AND code_sealed IS NOT NULL`

// FindSealedCredentials returns the sealed codes and passwords of batch batchID's
// vouchers by voucher ID.
func (s *Store) FindSealedCredentials(ctx context.Context, batchID int64) (map[int64]hotspot.SealedCredentials, error) {
	rows, err := s.db.Query(ctx, findSealedCredentialsSQL, batchID)
	if err != nil {
		return nil, fmt.Errorf("postgres: find credentials of batch %d: %w", batchID, err)
	}
	defer rows.Close()
	out := map[int64]hotspot.SealedCredentials{}
	for rows.Next() {
		var id int64
		var sc hotspot.SealedCredentials
		if err := rows.Scan(&id, &sc.Code, &sc.Password); err != nil {
			return nil, fmt.Errorf("postgres: find credentials of batch %d: %w", batchID, err)
		}
		out[id] = sc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find credentials of batch %d: %w", batchID, err)
	}
	return out, nil
}

const revokeVoucherSQL = `
UPDATE vouchers
SET state = 'revoked', revoked_at = coalesce(revoked_at, $2), updated_at = $2
WHERE id = $1`

// RevokeVoucher marks voucher id revoked at now; a second call keeps the first time.
// ENOTFOUND.
func (s *Store) RevokeVoucher(ctx context.Context, id int64, now time.Time) (*hotspot.Voucher, error) {
	tag, err := s.db.Exec(ctx, revokeVoucherSQL, id, now)
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke voucher %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, radius.Errorf(radius.ENOTFOUND, "voucher %d not found", id)
	}
	return s.findOne(ctx, findVoucherByIDSQL, id)
}

const (
	expireVouchersSQL = `
UPDATE vouchers SET state = 'expired', updated_at = $1
WHERE state IN ('new', 'sold', 'active') AND valid_until <= $1
RETURNING username, code_hash`

	// An active voucher is exhausted when its sessions (all of them: a voucher's
	// username is never reused) reached the plan's uptime or data limit.
	exhaustVouchersSQL = `
UPDATE vouchers v SET state = 'exhausted', updated_at = $1
FROM plans p
WHERE v.state = 'active' AND p.id = v.plan_id
  AND (p.uptime_limit_seconds > 0 OR p.data_limit_bytes > 0)
  AND EXISTS (SELECT 1 FROM sessions s WHERE s.username = v.username
              HAVING p.uptime_limit_seconds > 0 AND sum(s.session_time) >= p.uptime_limit_seconds
                  OR p.data_limit_bytes > 0 AND sum(s.input_octets + s.output_octets) >= p.data_limit_bytes)
RETURNING v.username, v.code_hash`
)

// ExpireVouchers persists expired and exhausted states at now (see hotspot.Store) and
// returns the vouchers it changed. Running it again changes nothing.
func (s *Store) ExpireVouchers(ctx context.Context, now time.Time) ([]hotspot.Changed, error) {
	var out []hotspot.Changed
	for _, sql := range []string{expireVouchersSQL, exhaustVouchersSQL} {
		rows, err := s.db.Query(ctx, sql, now)
		if err != nil {
			return out, fmt.Errorf("postgres: expire vouchers: %w", err)
		}
		c, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hotspot.Changed, error) {
			var c hotspot.Changed
			err := row.Scan(&c.Username, &c.CodeHash)
			return c, err
		})
		if err != nil {
			return out, fmt.Errorf("postgres: expire vouchers: %w", err)
		}
		out = append(out, c...)
	}
	return out, nil
}

// scanVoucher scans voucherColumns into v.
func scanVoucher(row pgx.Row, v *hotspot.Voucher) error {
	var (
		mode, state                     string
		reseller, mac                   pgtype.Text
		sold, activated, until, revoked pgtype.Timestamptz
		uptime                          int64
	)
	err := row.Scan(&v.ID, &v.BatchID, &v.PlanID, &v.PlanName, &v.CodeHint, &v.CodeHash, &v.Username, &mode, &state, &reseller,
		&sold, &activated, &until, &revoked, &v.CreatedAt, &mac, &uptime, &v.DataLimit)
	if err != nil {
		return err
	}
	v.Mode, v.State = hotspot.Mode(mode), radius.VoucherState(state)
	v.Reseller, v.MAC = reseller.String, mac.String
	v.SoldAt, v.ActivatedAt, v.ValidUntil, v.RevokedAt = timeOf(sold), timeOf(activated), timeOf(until), timeOf(revoked)
	v.UptimeLimit = time.Duration(uptime) * time.Second
	return nil
}

// timeOf maps NULL to the zero time.
func timeOf(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// checkFields names the field that a CHECK constraint of a batch or voucher guards.
var checkFields = map[string]string{
	"voucher_batches_reseller_check": "reseller",
	"voucher_batches_count_check":    "count",
	"voucher_batches_mode_check":     "mode",
	"vouchers_code_hint_check":       "prefix",
	"vouchers_username_check":        "prefix",
}

// translate maps a CHECK or foreign key violation to EINVALID naming the field.
func translate(err error) error {
	if pg.IsForeignKey(err, "") {
		return pg.Translate(err, radius.EINVALID, "plan: no such plan")
	}
	if cerr := pg.CheckField(err, checkFields); cerr != nil {
		return cerr
	}
	return err
}
