package radiustest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPrivatePostgresOutage(t *testing.T) {
	p := MustPrivatePostgres(t)
	p.MustMigrate()
	// query runs sql on a connection of its own and scans one int.
	query := func(sql string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			return 0, err
		}
		defer c.Close(ctx)
		var n int
		err = c.QueryRow(ctx, sql).Scan(&n)
		return n, err
	}
	if n, err := query(`SELECT count(*) FROM schema_migrations`); err != nil || n == 0 {
		t.Fatalf("migrated server: %d migrations, %v", n, err)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `CREATE TABLE kept AS SELECT 1 AS n`); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	for _, tc := range []struct {
		name string
		stop func()
	}{
		{"stop", p.Stop},
		{"crash", p.Crash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.stop()
			if _, err := query(`SELECT 1`); err == nil {
				t.Fatalf("stopped server still answers")
			}
			p.Start()
			if n, err := query(`SELECT n FROM kept`); err != nil || n != 1 {
				t.Fatalf("restarted server: %d, %v; want the committed row", n, err)
			}
		})
	}
}
