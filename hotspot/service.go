package hotspot

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"

	"tollgate/radius"
)

// Service makes and manages vouchers: it validates input with the pure rules of this
// package, persists through Store and tells Changes after a change that cached accounts
// must see. Now is the clock (time.Now when nil), Rand the randomness of codes
// (crypto/rand when nil). Changes and Usage may be nil. Codes are never stored or logged
// in clear: Codes hashes them for lookups, Sealer seals them (and passwords) to their
// rows for reprints.
type Service struct {
	Store   Store
	Plans   PlanFinder
	Sealer  radius.Sealer
	Codes   radius.Hasher
	Changes Changes
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

// Changes is told about vouchers whose cached accounts must be dropped.
type Changes interface {
	VouchersChanged(ctx context.Context, vs ...Changed) error
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
	fresh := func(id int64) (NewVoucher, error) {
		v := NewVoucher{ID: id}
		var err error
		if v.Code, err = draw(); err != nil {
			return v, err
		}
		v.Username, v.Password = radius.VoucherAccountName(id), v.Code
		if req.Mode == ModeUserPass {
			if v.Username, err = draw(); err != nil {
				return v, err
			}
			// A password need not be unique: draw it without the set.
			if v.Password, err = gen.next("", req.Length); err != nil {
				return v, fmt.Errorf("hotspot: random source: %w", err)
			}
		}
		s.seal(&v)
		return v, nil
	}
	ids, err := store.NextVoucherIDs(ctx, req.Count)
	if err != nil {
		return nil, err
	}
	vs := make([]NewVoucher, req.Count)
	for i := range vs {
		if vs[i], err = fresh(ids[i]); err != nil {
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

// seal fills v's stored forms: the code's hash and hint, and the code and password
// sealed to v's row.
func (s *Service) seal(v *NewVoucher) {
	v.CodeHash = s.Codes.Hash(radius.HashVoucherCode, []byte(radius.NormalizeCode(v.Code)))
	v.CodeHint = radius.MaskCode(v.Code)
	v.SealedCode = s.Sealer.Seal([]byte(v.Code), radius.SealVoucherCode.AD(v.ID))
	v.SealedPassword = s.Sealer.Seal([]byte(v.Password), radius.SealVoucherPassword.AD(v.ID))
}

// BatchCredentials opens the codes and passwords of batch batchID's vouchers, by voucher
// ID, for a reprint; the caller audits it. They are never logged.
func (s *Service) BatchCredentials(ctx context.Context, batchID int64) (map[int64]Credentials, error) {
	sealed, err := s.Store.FindSealedCredentials(ctx, batchID)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]Credentials, len(sealed))
	for id, sc := range sealed {
		code, err := s.Sealer.Open(sc.Code, radius.SealVoucherCode.AD(id))
		if err != nil {
			return nil, fmt.Errorf("hotspot: open code of voucher %d: %w", id, err)
		}
		pw, err := s.Sealer.Open(sc.Password, radius.SealVoucherPassword.AD(id))
		if err != nil {
			return nil, fmt.Errorf("hotspot: open password of voucher %d: %w", id, err)
		}
		out[id] = Credentials{Code: string(code), Password: string(pw)}
	}
	return out, nil
}

// find returns the voucher with code (by its hash), or else the one that logs in as
// code (a userpass voucher's username, or a voucher's account name, as session lists
// show it). ENOTFOUND, without the code in the message.
func (s *Service) find(ctx context.Context, code string) (*Voucher, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return nil, invalid("code: required")
	}
	v, err := s.Store.FindVoucherByCodeHash(ctx, s.Codes.Hash(radius.HashVoucherCode, []byte(radius.NormalizeCode(code))))
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		v, err = s.Store.FindVoucherByUsername(ctx, code)
		if radius.ErrorCode(err) == radius.ENOTFOUND {
			return nil, radius.Errorf(radius.ENOTFOUND, "code: no such voucher")
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
	return s.status(ctx, v)
}

// ShowCode is Show for a voucher's code only, never a user name: the public status page
// calls it, so that it tells nothing about which user names exist. ENOTFOUND.
func (s *Service) ShowCode(ctx context.Context, code string) (*Status, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return nil, invalid("code: required")
	}
	v, err := s.Store.FindVoucherByCodeHash(ctx, s.Codes.Hash(radius.HashVoucherCode, []byte(radius.NormalizeCode(code))))
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, radius.Errorf(radius.ENOTFOUND, "code: no such voucher")
	}
	if err != nil {
		return nil, err
	}
	return s.status(ctx, v)
}

// status is v with what it used and its state as of now.
func (s *Service) status(ctx context.Context, v *Voucher) (*Status, error) {
	var err error
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
	return v, s.changed(ctx, Changed{Username: v.Username, CodeHash: v.CodeHash})
}

// ShowByID is Show for voucher id, as the JSON API names vouchers. ENOTFOUND.
func (s *Service) ShowByID(ctx context.Context, id int64) (*Status, error) {
	v, err := s.Store.FindVoucherByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.status(ctx, v)
}

// RevokeByID is Revoke for voucher id. ENOTFOUND.
func (s *Service) RevokeByID(ctx context.Context, id int64) (*Voucher, error) {
	v, err := s.Store.RevokeVoucher(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	return v, s.changed(ctx, Changed{Username: v.Username, CodeHash: v.CodeHash})
}

// ExpireVouchers persists the expired and exhausted states that radius.Decide already
// derives (a cron job): listings and reports then show them. It is idempotent, so every
// replica may run it.
func (s *Service) ExpireVouchers(ctx context.Context) error {
	vs, err := s.Store.ExpireVouchers(ctx, s.now())
	if err != nil {
		return err
	}
	return s.changed(ctx, vs...)
}

func (s *Service) changed(ctx context.Context, vs ...Changed) error {
	if s.Changes == nil || len(vs) == 0 {
		return nil
	}
	if err := s.Changes.VouchersChanged(ctx, vs...); err != nil {
		return fmt.Errorf("hotspot: %d voucher(s) saved, but caches were not told: %w", len(vs), err)
	}
	return nil
}
