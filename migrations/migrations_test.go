package migrations_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/migrations"
	"tollgate/radius/radiustest"
)

func TestApplyAndPending(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, radiustest.MustEmptyDBURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	names := migrations.Names()
	if len(names) == 0 || !slices.IsSorted(names) {
		t.Fatalf("Names() = %v: want the files in order", names)
	}
	pending, err := migrations.Pending(ctx, pool)
	if err != nil || !slices.Equal(pending, names) {
		t.Fatalf("Pending on an empty database = %v, %v; want every migration", pending, err)
	}
	ran, err := migrations.Apply(ctx, pool)
	if err != nil || !slices.Equal(ran, names) {
		t.Fatalf("Apply = %v, %v", ran, err)
	}
	if ran, err = migrations.Apply(ctx, pool); err != nil || len(ran) != 0 {
		t.Fatalf("second Apply = %v, %v; want nothing to do", ran, err)
	}
	if pending, err = migrations.Pending(ctx, pool); err != nil || len(pending) != 0 {
		t.Fatalf("Pending after Apply = %v, %v", pending, err)
	}
	// Concurrent runs (two `tollgate migrate` at once) serialize on the advisory lock.
	db2, err := pgxpool.New(ctx, radiustest.MustEmptyDBURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := migrations.Apply(ctx, db2); errs <- err }()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Apply: %v", err)
		}
	}
	if pending, err = migrations.Pending(ctx, db2); err != nil || len(pending) != 0 {
		t.Fatalf("Pending after concurrent Apply = %v, %v", pending, err)
	}
}
