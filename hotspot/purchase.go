package hotspot

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"tollgate/billing"
	"tollgate/radius"
)

// InTx runs fn in one transaction with a Store and a billing.WalletStore bound to it: it
// commits when fn returns nil and rolls everything back otherwise. cmd builds it from
// radius/pg.WithTx and the two adapters, so this package stays free of drivers.
type InTx func(ctx context.Context, fn func(store Store, wallets billing.WalletStore) error) error

// Purchaser sells batches of vouchers to resellers: the batch and the debit that pays
// for it commit together or not at all.
type Purchaser struct {
	Service   *Service
	Resellers *billing.ResellerService
	InTx      InTx
}

// Purchase is the outcome of Purchaser.Purchase. Vouchers holds the new credentials in
// clear (to be printed once); it is nil when Replayed, since a repeated request gets the
// first batch (BatchID) and no new codes.
type Purchase struct {
	BatchID  int64
	Count    int
	Entry    billing.LedgerEntry
	Vouchers []NewVoucher
	Replayed bool
}

// MaxPurchase is the most vouchers one purchase buys.
const MaxPurchase = 1000

// errReplayed rolls back a batch whose idempotency key bought one before.
var errReplayed = errors.New("hotspot: purchase replayed")

// Purchase sells count vouchers of hotspot plan to reseller (a billing reseller's name)
// in one transaction: the batch is stored for the reseller with its vouchers sold now,
// and count × the plan's reseller price is debited from the wallet. A request repeated
// with the same idempotencyKey changes nothing and returns the first batch (Replayed).
// EQUOTA when the wallet cannot cover it (nothing is stored), EINVALID (a plan without a
// reseller price, a bad count), ENOTFOUND, EUNAUTHORIZED (a suspended reseller),
// ECONFLICT (the key was used for another request).
func (p *Purchaser) Purchase(ctx context.Context, reseller, plan string, count int, idempotencyKey string) (*Purchase, error) {
	if count < 1 || count > MaxPurchase {
		return nil, invalid("count: must be 1 to %d", MaxPurchase)
	}
	if err := billing.ValidateIdempotencyKey(idempotencyKey); err != nil {
		return nil, err
	}
	pl, err := p.Service.Plans.FindPlanByName(ctx, plan)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, invalid("plan: no plan named %q", plan)
	}
	if err != nil {
		return nil, err
	}
	if pl.ResellerPriceCents <= 0 {
		return nil, invalid("plan: %q is not sold to resellers", plan)
	}
	var out Purchase
	var replayed billing.LedgerEntry
	err = p.InTx(ctx, func(store Store, wallets billing.WalletStore) error {
		g, err := p.Service.generate(ctx, store, GenerateRequest{Plan: plan, Count: count, Reseller: reseller}, p.Service.now())
		if err != nil {
			return err
		}
		note := fmt.Sprintf("%d × %s", count, pl.Name)
		e, err := p.Resellers.Debit(ctx, wallets, reseller, int64(count)*pl.ResellerPriceCents, strconv.FormatInt(g.Batch.ID, 10), note, idempotencyKey, reseller)
		if err != nil {
			return err
		}
		if e.Replayed {
			replayed = e
			return errReplayed
		}
		out = Purchase{BatchID: g.Batch.ID, Count: count, Entry: e, Vouchers: g.Vouchers}
		return nil
	})
	if errors.Is(err, errReplayed) {
		id, perr := strconv.ParseInt(replayed.Ref, 10, 64)
		if perr != nil {
			return nil, fmt.Errorf("hotspot: purchase %q: ledger ref %q is not a batch", idempotencyKey, replayed.Ref)
		}
		return &Purchase{BatchID: id, Count: count, Entry: replayed, Replayed: true}, nil
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}
