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
	upgraded, err := migrations.UpgradeSecrets(ctx, d.pool, d.secretsUpgrade())
	if err != nil {
		return err
	}
	return e.print(map[string]any{"applied": ran, "secrets_upgraded": upgraded}, func(w io.Writer) {
		if len(ran) == 0 {
			fmt.Fprintln(w, "schema is up to date")
		}
		for _, n := range ran {
			fmt.Fprintln(w, "applied", n)
		}
		if upgraded > 0 {
			fmt.Fprintf(w, "re-sealed %d secret(s) bound to their rows, voucher codes hashed\n", upgraded)
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
	n, err := migrations.LegacySecrets(ctx, d.pool)
	if err != nil {
		return err
	}
	if n > 0 {
		return radius.Errorf(radius.ECONFLICT, "%d secret(s) or voucher code(s) are stored as an older version did: run `tollgate migrate`", n)
	}
	return nil
}
