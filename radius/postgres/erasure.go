package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
)

// The erasure of a subscriber in the RADIUS logs (billing.LogEraser): sessions, the
// auth log and the CoA log keep their rows within retention, under a pseudonym, with
// the device addresses blanked. It runs in the erasure's transaction.

// CauseErased closes the open sessions of an erased user: a Stop that comes later
// finds the session closed and changes nothing, so it cannot write the name back.
const CauseErased = "Admin-Reset"

const findUserTracesSQL = `
SELECT ARRAY(
    SELECT mac FROM sessions WHERE username = $1 AND mac <> ''
    UNION SELECT mac FROM auth_log WHERE username = $1 AND mac <> ''),
  ARRAY(SELECT nas_id FROM sessions WHERE username = $1 ORDER BY started_at, acct_session_id),
  ARRAY(SELECT acct_session_id FROM sessions WHERE username = $1 ORDER BY started_at, acct_session_id)`

// FindUserTraces returns the MACs username used in the sessions and the auth log, and
// its sessions' keys.
func (s *Store) FindUserTraces(ctx context.Context, username string) ([]string, []radius.SessionKey, error) {
	var macs, ids []string
	var nas []int64
	if err := s.db.QueryRow(ctx, findUserTracesSQL, username).Scan(&macs, &nas, &ids); err != nil {
		return nil, nil, fmt.Errorf("postgres: traces of %q: %w", username, err)
	}
	keys := make([]radius.SessionKey, len(ids))
	for i := range ids {
		keys[i] = radius.SessionKey{NASID: nas[i], SessionID: ids[i]}
	}
	return macs, keys, nil
}

// The statements of PseudonymiseLogs: $1 the username, $2 the pseudonym, then the MACs,
// the identifiers to scrub from free text and the time, as each lists them.
const (
	eraseSessionsSQL = `
UPDATE sessions SET
    username = CASE WHEN username = $1 THEN $2 ELSE username END,
    mac = '',
    called_station_id = erasure_scrub(called_station_id, $4, $2),
    class = erasure_scrub(class, $4, $2),
    stopped_at = CASE WHEN username = $1 AND stopped_at IS NULL THEN $5 ELSE stopped_at END,
    terminate_cause = CASE WHEN username = $1 AND (stopped_at IS NULL OR terminate_cause = '` + radius.CauseStale + `')
                           THEN '` + CauseErased + `' ELSE terminate_cause END
WHERE username = $1 OR mac = ANY($3)`
	eraseAuthLogSQL = `
UPDATE auth_log SET username = CASE WHEN username = $1 OR username = ANY($3) THEN $2 ELSE username END, mac = ''
WHERE username = $1 OR username = ANY($3) OR mac = ANY($3)`
	eraseCoALogSQL = `
UPDATE coa_log SET username = $2, reason = erasure_scrub(reason, $3, $2)
WHERE username = $1`
)

// PseudonymiseLogs replaces username by pseudonym in the sessions, the auth log and the
// CoA log, blanks the MACs of those rows and of every row with one of macs, scrubs
// identifiers from their free text, and closes the user's open sessions at at.
func (s *Store) PseudonymiseLogs(ctx context.Context, username, pseudonym string, macs, identifiers []string, at time.Time) error {
	if macs == nil {
		macs = []string{}
	}
	b := &pgx.Batch{}
	b.Queue(eraseSessionsSQL, username, pseudonym, macs, identifiers, at)
	b.Queue(eraseAuthLogSQL, username, pseudonym, macs)
	b.Queue(eraseCoALogSQL, username, pseudonym, identifiers)
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: pseudonymise the logs of %q: %w", username, err)
	}
	return nil
}
