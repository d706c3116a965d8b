package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tollgate/radius"
)

// importSessionSQL adds a session brought over from another RADIUS server; one already
// there (same NAS, Acct-Session-Id and start) is left as it is.
const importSessionSQL = `
INSERT INTO sessions (nas_id, acct_session_id, started_at, username, mac, framed_ip, last_update, stopped_at,
                      session_time, input_octets, output_octets, terminate_cause)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT DO NOTHING`

// ImportSessions adds closed sessions of another RADIUS server's history (their NASID
// set), in batches, and returns how many were new.
func (s *Store) ImportSessions(ctx context.Context, list []radius.Session) (int, error) {
	n := 0
	for len(list) > 0 {
		part := list[:min(len(list), 1000)]
		list = list[len(part):]
		b := &pgx.Batch{}
		for i := range part {
			x := &part[i]
			var ip any
			if x.FramedIP.IsValid() {
				ip = x.FramedIP
			}
			var stop any
			if !x.StoppedAt.IsZero() {
				stop = x.StoppedAt
			}
			b.Queue(importSessionSQL, x.NASID, x.SessionID, x.StartedAt, x.Username, x.MAC, ip, x.LastUpdate, stop,
				int64(x.SessionTime), int64(x.InputOctets), int64(x.OutputOctets), x.TerminateCause)
		}
		br := s.db.SendBatch(ctx, b)
		for range part {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return n, fmt.Errorf("postgres: import sessions: %w", err)
			}
			n += int(tag.RowsAffected())
		}
		if err := br.Close(); err != nil {
			return n, fmt.Errorf("postgres: import sessions: %w", err)
		}
	}
	return n, nil
}
