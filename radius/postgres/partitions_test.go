package postgres

import (
	"context"
	"testing"

	"tollgate/radius/radiustest"
)

// TestPartitionsTakeRowsFromDefault checks that a month whose rows already sit in the
// default partition (a NAS with a clock months ahead) still gets its partition, with the
// rows moved into it.
func TestPartitionsTakeRowsFromDefault(t *testing.T) {
	ctx := context.Background()
	db := radiustest.MustDB(t)
	if _, err := db.Exec(ctx, `INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update)
		VALUES (1, 'future', date_trunc('month', now()) + interval '4 month 2 day', 'u', now())`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // twice: the second run finds everything in place
		if _, err := db.Exec(ctx, `SELECT ensure_monthly_partitions('sessions', 5)`); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	var part string
	if err := db.QueryRow(ctx, `SELECT tableoid::regclass::text FROM sessions WHERE acct_session_id = 'future'`).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if part == "sessions_default" || part[:9] != "sessions_" {
		t.Fatalf("row is in %s, want its month's partition", part)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sessions_default`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("default partition holds %d rows (%v)", n, err)
	}
}
