package radiustest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPrivatePostgresOutage(t *testing.T) {
	p := MustPrivatePostgres(t)
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		return c.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	p.Stop()
	if err := ping(); err == nil {
		t.Fatalf("stopped server still answers")
	}
	p.Start()
	if err := ping(); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}
