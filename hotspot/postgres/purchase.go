package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/hotspot"
)

// InTx returns the hotspot.InTx of a purchase: one transaction begun on db (a pool) with
// this package's Store and billing's wallet store bound to it, so a batch and the debit
// that pays for it commit together (billing/postgres.WithTx).
func InTx(db billingpg.Beginner) hotspot.InTx {
	return func(ctx context.Context, fn func(store hotspot.Store, wallets billing.WalletStore) error) error {
		return billingpg.WithTx(ctx, db, func(tx pgx.Tx) error {
			return fn(NewStore(tx), billingpg.NewStore(tx))
		})
	}
}
