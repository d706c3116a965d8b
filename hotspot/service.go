package hotspot

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// Service makes and manages vouchers: it validates input with the pure rules of this
// package, persists through Store and tells Changes after a change that cached accounts
// must see. Now is the clock (time.Now when nil), Rand the randomness of codes
// (crypto/rand when nil). Changes and Usage may be nil.
type Service struct {
	Store   Store
	Plans   PlanFinder
	Sealer  billing.Sealer
	Changes billing.Changes
	// Usage reads what a voucher used, for Show (radius/postgres).
	Usage radius.UsageStore
	Now   func() time.Time
	Rand  io.Reader
}

// now returns the clock's time at Postgres precision without a monotonic reading.
func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

// Generated is a new batch with its vouchers' credentials in clear, to be printed once.
type Generated struct {
	Batch    Batch
	Vouchers []NewVoucher
}

// maxDraws bounds the draws for one voucher that keep hitting codes already in the
// batch; with the code space ValidateGenerate demands, it is never reached.
const maxDraws = 100

// progressEvery is how many drawn vouchers make one GenerateRequest.Progress call.
const progressEvery = 100

// Generate makes a batch of vouchers on a hotspot plan: codes are drawn uniformly from
// the charset with crypto/rand, unique within the batch and, through Store.CreateBatch,
// across the database. Vouchers of a plan counted from the sale are valid from now.
// EINVALID (naming the flag), ECONFLICT when the code space is exhausted. Codes are
// never logged.
func (s *Service) Generate(ctx context.Context, req GenerateRequest) (*Generated, error) {
	return s.generate(ctx, s.Store, req, time.Time{})
}

// generate is Generate on store; a non-zero soldAt stores the vouchers sold.
func (s *Service) generate(ctx context.Context, store Store, req GenerateRequest, soldAt time.Time) (*Generated, error) {
	req = req.withDefaults()
	if err := ValidateGenerate(req); err != nil {
		return nil, err
	}
	plan, err := s.Plans.FindPlanByName(ctx, req.Plan)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, invalid("plan: no plan named %q", req.Plan)
	}
	if err != nil {
		return nil, err
	}
	if err := checkPlan(plan); err != nil {
		return nil, err
	}
	src := s.Rand
	if src == nil {
		src = rand.Reader
	}
	gen := newCodeGen(src, req.Charset)
	// Codes and usernames share one set, so a code never reads as another's username.
	seen := make(map[string]struct{}, req.Count*2)
	draw := func() (string, error) {
		for i := 0; i < maxDraws; i++ {
			c, err := gen.next(req.Prefix, req.Length)
			if err != nil {
				return "", fmt.Errorf("hotspot: random source: %w", err)
			}
			if _, dup := seen[c]; !dup {
				seen[c] = struct{}{}
				return c, nil
			}
		}
		return "", radius.Errorf(radius.ECONFLICT, "length: too many codes taken; use a longer code")
	}
	fresh := func() (NewVoucher, error) {
		var v NewVoucher
		var err error
		if v.Code, err = draw(); err != nil {
			return v, err
		}
		v.Username, v.Password = v.Code, v.Code
		if req.Mode == ModeUserPass {
			if v.Username, err = draw(); err != nil {
				return v, err
			}
			// A password need not be unique: draw it without the set.
			if v.Password, err = gen.next("", req.Length); err != nil {
				return v, fmt.Errorf("hotspot: random source: %w", err)
			}
		}
		v.Sealed = s.Sealer.Seal([]byte(v.Password))
		return v, nil
	}
	vs := make([]NewVoucher, req.Count)
	for i := range vs {
		if vs[i], err = fresh(); err != nil {
			return nil, err
		}
		if req.Progress != nil && (i+1)%progressEvery == 0 {
			req.Progress(i+1, req.Count)
		}
	}
	now := s.now()
	b := &Batch{PlanID: plan.ID, PlanName: plan.Name, Mode: req.Mode, Count: req.Count, Reseller: req.Reseller, CreatedAt: now}
	if !soldAt.IsZero() {
		b.SoldAt = now
	}
	if err := store.CreateBatch(ctx, b, SaleValidUntil(plan, now), vs, fresh); err != nil {
		return nil, err
	}
	if req.Progress != nil {
		req.Progress(req.Count, req.Count)
	}
	return &Generated{Batch: *b, Vouchers: vs}, nil
}

// FindVouchers lists vouchers, newest first. EINVALID for an unknown state.
func (s *Service) FindVouchers(ctx context.Context, f VoucherFilter) ([]Voucher, error) {
	if f.State != "" && !f.State.Valid() {
		_, err := ParseState(string(f.State))
		return nil, err
	}
	if f.Limit < 0 {
		return nil, invalid("limit: must not be negative")
	}
	if f.Limit == 0 {
		f.Limit = DefaultListLimit
	}
	return s.Store.FindVouchers(ctx, f)
}

// FindSealedPasswords returns the passwords of batch batchID's vouchers, sealed as
// stored, by voucher ID: the print views open them to print userpass cards. They are
// never logged.
func (s *Service) FindSealedPasswords(ctx context.Context, batchID int64) (map[int64][]byte, error) {
	return s.Store.FindSealedPasswords(ctx, batchID)
}

// find returns the voucher with code, or else the one that logs in as code (a userpass
// voucher's username, as session lists show it). ENOTFOUND.
func (s *Service) find(ctx context.Context, code string) (*Voucher, error) {
	if code == "" {
		return nil, invalid("code: required")
	}
	v, err := s.Store.FindVoucherByCode(ctx, code)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		v, err = s.Store.FindVoucherByUsername(ctx, code)
		if radius.ErrorCode(err) == radius.ENOTFOUND {
			return nil, radius.Errorf(radius.ENOTFOUND, "code: no voucher %q", code)
		}
	}
	return v, err
}

// Show returns the voucher with code (or username) with what it used and its state as
// of now. ENOTFOUND.
func (s *Service) Show(ctx context.Context, code string) (*Status, error) {
	v, err := s.find(ctx, code)
	if err != nil {
		return nil, err
	}
	st := &Status{Voucher: *v}
	if s.Usage != nil {
		if st.Usage, err = s.Usage.FindUsage(ctx, v.Username, time.Time{}); err != nil {
			return nil, err
		}
	}
	st.Now = EffectiveState(v, st.Usage, s.now())
	return st, nil
}

// Revoke marks the voucher with code (or username) revoked, so it can never log in
// again, and drops it from the caches. Revoking twice is harmless. ENOTFOUND. When the
// voucher was revoked but Changes failed, it returns both. Disconnecting its sessions is
// the caller's (radius.Enforcer.DisconnectUser); the enforcer's sweep cuts any it misses.
func (s *Service) Revoke(ctx context.Context, code string) (*Voucher, error) {
	v, err := s.find(ctx, code)
	if err != nil {
		return nil, err
	}
	if v, err = s.Store.RevokeVoucher(ctx, v.ID, s.now()); err != nil {
		return nil, err
	}
	return v, s.changed(ctx, v.Username)
}

// ExpireVouchers persists the expired and exhausted states that radius.Decide already
// derives (a cron job): listings and reports then show them. It is idempotent, so every
// replica may run it.
func (s *Service) ExpireVouchers(ctx context.Context) error {
	users, err := s.Store.ExpireVouchers(ctx, s.now())
	if err != nil {
		return err
	}
	return s.changed(ctx, users...)
}

func (s *Service) changed(ctx context.Context, usernames ...string) error {
	if s.Changes == nil || len(usernames) == 0 {
		return nil
	}
	if err := s.Changes.AccountsChanged(ctx, usernames...); err != nil {
		return fmt.Errorf("hotspot: %d voucher(s) saved, but caches were not told: %w", len(usernames), err)
	}
	return nil
}
