package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"tollgate/radius"
	"tollgate/radius/pg"
)

var (
	_ radius.RouterStore        = (*Store)(nil)
	_ radius.SessionCloser      = (*Store)(nil)
	_ radius.RouterHealthReader = (*Store)(nil)
)

// The RouterOS API settings live on the nas row but are read only here: the RADIUS
// path's NAS snapshot (ListNAS) never holds an API password.

const routerTargetColumns = `
SELECT id, name, address, api_address, api_user, api_password, api_tls, api_tls_fingerprint
FROM nas`

func scanRouterTarget(row pgx.Row) (radius.RouterTarget, error) {
	var t radius.RouterTarget
	err := row.Scan(&t.NASID, &t.NASName, &t.Prefix, &t.API.Address, &t.API.User, &t.API.Password, &t.API.TLS, &t.API.Fingerprint)
	return t, err
}

const findRouterTargetsSQL = routerTargetColumns + `
WHERE api_address <> ''
ORDER BY name`

// FindRouterTargets returns every NAS with an API, by name, passwords sealed.
func (s *Store) FindRouterTargets(ctx context.Context) ([]radius.RouterTarget, error) {
	rows, err := s.db.Query(ctx, findRouterTargetsSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: find router APIs: %w", err)
	}
	defer rows.Close()
	var list []radius.RouterTarget
	for rows.Next() {
		t, err := scanRouterTarget(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: find router APIs: %w", err)
		}
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find router APIs: %w", err)
	}
	return list, nil
}

const (
	findRouterTargetSQL     = routerTargetColumns + "\nWHERE name = $1"
	findRouterTargetByIDSQL = routerTargetColumns + "\nWHERE id = $1"
)

// FindRouterTarget returns the NAS named name with its API, password sealed. ENOTFOUND
// for no such NAS, or one without an API.
func (s *Store) FindRouterTarget(ctx context.Context, name string) (*radius.RouterTarget, error) {
	return s.findRouterTarget(ctx, findRouterTargetSQL, name, fmt.Sprintf("%q", name))
}

// FindRouterTargetByID is FindRouterTarget by the NAS's id.
func (s *Store) FindRouterTargetByID(ctx context.Context, nasID int64) (*radius.RouterTarget, error) {
	return s.findRouterTarget(ctx, findRouterTargetByIDSQL, nasID, fmt.Sprintf("%d", nasID))
}

func (s *Store) findRouterTarget(ctx context.Context, sql string, arg any, what string) (*radius.RouterTarget, error) {
	t, err := scanRouterTarget(s.db.QueryRow(ctx, sql, arg))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "NAS %s not found", what)
	case err != nil:
		return nil, fmt.Errorf("postgres: find router API of NAS %s: %w", what, err)
	case !t.API.Configured():
		return nil, radius.Errorf(radius.ENOTFOUND, "NAS %q has no RouterOS API (tollgate nas set --api-address)", t.NASName)
	}
	return &t, nil
}

// $2 true removes the API, every setting with it.
const updateRouterAPISQL = `
UPDATE nas SET
    api_address = CASE WHEN $2 THEN '' ELSE COALESCE($3, api_address) END,
    api_user = CASE WHEN $2 THEN '' ELSE COALESCE($4, api_user) END,
    api_password = CASE WHEN $2 THEN NULL ELSE COALESCE($5, api_password) END,
    api_tls = CASE WHEN $2 THEN false ELSE COALESCE($6, api_tls) END,
    api_tls_fingerprint = CASE WHEN $2 OR $7 THEN NULL ELSE COALESCE($8, api_tls_fingerprint) END,
    updated_at = now()
WHERE name = $1
RETURNING id, name, address, api_address, api_user, api_password, api_tls, api_tls_fingerprint`

// UpdateRouterAPI changes the RouterOS API settings of the NAS named name and returns
// them, password sealed (sealed to the NAS's id, radius.SealNASAPIPassword). EINVALID
// when the result would be incomplete (an address needs a user and a password; a
// fingerprint needs TLS), ENOTFOUND.
func (s *Store) UpdateRouterAPI(ctx context.Context, name string, upd radius.RouterAPIUpdate) (*radius.RouterTarget, error) {
	var fp []byte
	clearFP := false
	if upd.Fingerprint != nil {
		fp, clearFP = *upd.Fingerprint, *upd.Fingerprint == nil
	}
	if upd.SealedPassword != nil && len(upd.SealedPassword) == 0 {
		return nil, radius.Errorf(radius.EINVALID, "api_password: required")
	}
	t, err := scanRouterTarget(s.db.QueryRow(ctx, updateRouterAPISQL, name, upd.Removes(), upd.Address, upd.User,
		upd.SealedPassword, upd.TLS, clearFP, fp))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, radius.Errorf(radius.ENOTFOUND, "NAS %q not found", name)
	case pg.IsCheck(err, "nas_api_complete"):
		return nil, pg.Translate(err, radius.EINVALID, "api: an API needs an address, a user and a password, and a pinned fingerprint needs TLS")
	case pg.IsCheck(err, ""):
		return nil, pg.Translate(err, radius.EINVALID, "api: a setting is too long")
	case err != nil:
		return nil, fmt.Errorf("postgres: update router API of NAS %q: %w", name, err)
	}
	return &t, nil
}

const (
	// The row exists before it is locked, so that two first polls queue on it.
	ensureRouterHealthSQL = `
INSERT INTO router_health (nas_id, polled_at) VALUES ($1, $2)
ON CONFLICT (nas_id) DO NOTHING`

	lockRouterHealthSQL = `
SELECT h.polled_at, h.error, h.failures, h.down, h.since, h.last_ok_at, h.version, h.board_name,
       h.uptime_seconds, h.cpu_load, h.free_memory, h.total_memory
FROM router_health h
WHERE h.nas_id = $1
FOR UPDATE`

	updateRouterHealthSQL = `
UPDATE router_health SET
    polled_at = $2, error = $3, failures = $4, down = $5, since = $6, last_ok_at = $7, version = $8,
    board_name = $9, uptime_seconds = $10, cpu_load = $11, free_memory = $12, total_memory = $13
WHERE nas_id = $1`

	insertRouterEventSQL = `
INSERT INTO router_events (nas_id, at, state, error) VALUES ($1, $2, $3, $4)`
)

// RecordRouterPoll applies poll h to its router's state (radius.RouterState.Apply) under
// the row's lock, writing the transition, if any, once in the same transaction.
// ENOTFOUND for a NAS that no longer exists.
func (s *Store) RecordRouterPoll(ctx context.Context, h radius.RouterHealth, downAfter int) (radius.RouterState, radius.RouterTransition, error) {
	var (
		next radius.RouterState
		tr   radius.RouterTransition
	)
	err := pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ensureRouterHealthSQL, h.NASID, h.PolledAt); err != nil {
			if pg.IsForeignKey(err, "") {
				return radius.Errorf(radius.ENOTFOUND, "NAS %q not found", h.NASName)
			}
			return err
		}
		prev, err := scanRouterState(tx.QueryRow(ctx, lockRouterHealthSQL, h.NASID))
		if err != nil {
			return err
		}
		prev.NASID, prev.NASName = h.NASID, h.NASName
		next, tr = prev.Apply(h, downAfter)
		hh := &next.Health
		if _, err := tx.Exec(ctx, updateRouterHealthSQL, h.NASID, next.PolledAt, next.Error, next.Failures, next.Down,
			nullTime(next.Since), nullTime(hh.PolledAt), hh.Version, hh.BoardName, int64(hh.Uptime/time.Second),
			min(max(hh.CPULoad, 0), 100), max(hh.FreeMemory, 0), max(hh.TotalMemory, 0)); err != nil {
			return err
		}
		if tr != "" {
			if _, err := tx.Exec(ctx, insertRouterEventSQL, h.NASID, next.Since, string(tr), next.Error); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if radius.ErrorCode(err) != radius.EINTERNAL {
			return next, "", err
		}
		return next, "", fmt.Errorf("postgres: record poll of router %q: %w", h.NASName, err)
	}
	return next, tr, nil
}

// nullTime is NULL for the zero time.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// scanRouterState reads the router_health columns of lockRouterHealthSQL and
// routerStatesSQL (after the NAS's id and name there).
func scanRouterState(row pgx.Row, dst ...any) (radius.RouterState, error) {
	var (
		st              radius.RouterState
		since, lastOK   pgtype.Timestamptz
		uptime, cpuLoad int64
	)
	h := &st.Health
	err := row.Scan(append(dst, &st.PolledAt, &st.Error, &st.Failures, &st.Down, &since, &lastOK, &h.Version, &h.BoardName,
		&uptime, &cpuLoad, &h.FreeMemory, &h.TotalMemory)...)
	if err != nil {
		return st, err
	}
	if since.Valid {
		st.Since = since.Time
	}
	if lastOK.Valid {
		h.PolledAt = lastOK.Time
	}
	h.Uptime, h.CPULoad = time.Duration(uptime)*time.Second, int(cpuLoad)
	return st, nil
}

const routerStatesSQL = `
SELECT n.id, n.name, h.polled_at, h.error, h.failures, h.down, h.since, h.last_ok_at, h.version, h.board_name,
       h.uptime_seconds, h.cpu_load, h.free_memory, h.total_memory
FROM router_health h
JOIN nas n ON n.id = h.nas_id
ORDER BY n.name`

// FindRouterStates returns the heartbeat state of every router polled so far, by NAS
// name: the per-NAS health the dashboard and `nas list` show.
func (s *Store) FindRouterStates(ctx context.Context) ([]radius.RouterState, error) {
	rows, err := s.db.Query(ctx, routerStatesSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: find router states: %w", err)
	}
	defer rows.Close()
	var list []radius.RouterState
	for rows.Next() {
		var id int64
		var name string
		st, err := scanRouterState(rows, &id, &name)
		if err != nil {
			return nil, fmt.Errorf("postgres: find router states: %w", err)
		}
		st.NASID, st.NASName = id, name
		st.Health.NASID, st.Health.NASName = id, name
		list = append(list, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find router states: %w", err)
	}
	return list, nil
}

const findRouterEventsSQL = `
SELECT n.name, e.at, e.state, e.error
FROM router_events e
JOIN nas n ON n.id = e.nas_id
WHERE n.name = $1 OR $1 = ''
ORDER BY e.at DESC, e.id DESC
LIMIT $2`

// FindRouterEvents returns the newest transitions first, of the NAS named name or ("")
// of every NAS: at most limit (default 100, at most 10000).
func (s *Store) FindRouterEvents(ctx context.Context, name string, limit int) ([]radius.RouterEvent, error) {
	rows, err := s.db.Query(ctx, findRouterEventsSQL, name, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: find router events: %w", err)
	}
	defer rows.Close()
	var list []radius.RouterEvent
	for rows.Next() {
		var e radius.RouterEvent
		var state string
		if err := rows.Scan(&e.NASName, &e.At, &state, &e.Error); err != nil {
			return nil, fmt.Errorf("postgres: find router events: %w", err)
		}
		e.State = radius.RouterTransition(state)
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find router events: %w", err)
	}
	return list, nil
}

// A session is closed only while it is open and was not updated since it was read
// ($4): an update since means the router still accounts for it. Its start time finds
// its partition.
const closeSessionsSQL = `
WITH k AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[])
        AS k(nas_id, acct_session_id, started_at, last_update)
), closed AS (
    UPDATE sessions s
    SET stopped_at = s.last_update, terminate_cause = $5
    FROM k
    WHERE s.nas_id = k.nas_id AND s.acct_session_id = k.acct_session_id AND s.started_at = k.started_at
      AND s.stopped_at IS NULL AND s.last_update <= k.last_update
    RETURNING s.nas_id, s.acct_session_id, s.username, s.mac, s.framed_ip, s.started_at, s.stopped_at, s.last_update,
              s.session_time, s.input_octets, s.output_octets, s.terminate_cause, s.interim_seconds, s.nas_addr
)
SELECT ` + sessionColumns + `
FROM closed s
LEFT JOIN nas n ON n.id = s.nas_id
ORDER BY s.nas_id, s.acct_session_id`

// CloseSessions closes those of sessions that are still open and were not updated since
// they were read (their LastUpdate), stopping each at its last update with cause, and
// returns the ones it closed. A Stop that arrives later still completes a session closed
// with radius.CauseLostCarrier (see upsertSessionsSQL).
func (s *Store) CloseSessions(ctx context.Context, sessions []radius.Session, cause string) ([]radius.Session, error) {
	if len(sessions) == 0 {
		return nil, nil
	}
	nas := make([]int64, len(sessions))
	ids := make([]string, len(sessions))
	started := make([]time.Time, len(sessions))
	updated := make([]time.Time, len(sessions))
	for i, x := range sessions {
		nas[i], ids[i], started[i], updated[i] = x.NASID, x.SessionID, x.StartedAt, x.LastUpdate
	}
	rows, err := s.db.Query(ctx, closeSessionsSQL, nas, ids, started, updated, cause)
	if err != nil {
		return nil, fmt.Errorf("postgres: close %d sessions: %w", len(sessions), err)
	}
	list, err := collectSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: close %d sessions: %w", len(sessions), err)
	}
	return list, nil
}
