package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"tollgate/migrations"
	"tollgate/radius"
)

func cmdMigrate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("migrate")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	ran, err := migrations.Apply(ctx, d.pool)
	if err != nil {
		return err
	}
	if err := d.radius.EnsurePartitions(ctx); err != nil {
		return err
	}
	return e.print(map[string]any{"applied": ran}, func(w io.Writer) {
		if len(ran) == 0 {
			fmt.Fprintln(w, "schema is up to date")
		}
		for _, n := range ran {
			fmt.Fprintln(w, "applied", n)
		}
	})
}

// checkSchema refuses to run on a database older than this binary.
func checkSchema(ctx context.Context, d *deps) error {
	pending, err := migrations.Pending(ctx, d.pool)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return radius.Errorf(radius.ECONFLICT, "database schema is older than this binary (pending: %s): run `tollgate migrate`", strings.Join(pending, ", "))
	}
	return nil
}
