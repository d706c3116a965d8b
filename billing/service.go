package billing

import (
	"context"
	"fmt"
	"io"
	"time"

	"tollgate/radius"
)

// Service manages plans and subscribers: it validates input with the pure rules of this
// package, persists through Store and tells Changes after every commit. Now is the clock
// (time.Now when nil); Changes may be nil when nothing caches accounts.
type Service struct {
	Store   Store
	Sealer  Sealer
	Changes Changes
	Now     func() time.Time
}

// now returns the clock's time at Postgres precision without a monotonic reading, so a
// value returned by a method equals the one read back later.
func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

// validUntil is the end of a subscription to p that starts at from: zero (no end) when
// the plan has no validity.
func validUntil(from time.Time, p *Plan) time.Time {
	if p.Validity <= 0 {
		return time.Time{}
	}
	return from.Add(p.Validity)
}

// CreatePlan validates p (see ValidatePlan) and stores it. EINVALID, ECONFLICT when the
// name is taken. ID and CreatedAt of p are ignored and set in the result; an empty
// ValidityFrom becomes FromFirstLogin.
func (s *Service) CreatePlan(ctx context.Context, p Plan) (*Plan, error) {
	if err := ValidatePlan(p); err != nil {
		return nil, err
	}
	p.ID, p.CreatedAt = 0, time.Time{}
	if p.ValidityFrom == "" {
		p.ValidityFrom = FromFirstLogin
	}
	if err := s.Store.CreatePlan(ctx, &p); err != nil {
		return nil, err
	}
	if s.Changes != nil {
		if err := s.Changes.PlansChanged(ctx, p.ID); err != nil {
			return &p, fmt.Errorf("billing: plan %q created, but caches were not told: %w", p.Name, err)
		}
	}
	return &p, nil
}

// ListPlans returns every plan, by name.
func (s *Service) ListPlans(ctx context.Context) ([]Plan, error) {
	return s.Store.ListPlans(ctx)
}

// findPlan returns the plan called name; a missing plan is the caller's mistake (EINVALID).
func (s *Service) findPlan(ctx context.Context, name string) (*Plan, error) {
	p, err := s.Store.FindPlanByName(ctx, name)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, invalid("plan: no plan named %q", name)
	}
	return p, err
}

// accountsChanged tells Changes about committed account changes. Its error is returned
// together with the (committed) result, so the caller knows caches may be stale.
func (s *Service) accountsChanged(ctx context.Context, usernames ...string) error {
	if s.Changes == nil {
		return nil
	}
	if err := s.Changes.AccountsChanged(ctx, usernames...); err != nil {
		return fmt.Errorf("billing: %d account(s) saved, but caches were not told: %w", len(usernames), err)
	}
	return nil
}

// AddSubscriber validates in, seals the password and stores an active subscriber on the
// named plan, valid from now for the plan's validity. EINVALID (including an unknown
// plan), ECONFLICT when the username or the MAC is taken. When the subscriber was stored
// but Changes failed, it returns both the subscriber and the error.
func (s *Service) AddSubscriber(ctx context.Context, in NewSubscriber) (*Subscriber, error) {
	ip, mac, err := checkNewSubscriber(in)
	if err != nil {
		return nil, err
	}
	plan, err := s.findPlan(ctx, in.Plan)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sub := &Subscriber{
		Username:   in.Username,
		PlanID:     plan.ID,
		PlanName:   plan.Name,
		Status:     radius.StatusActive,
		StaticIP:   ip,
		MAC:        mac,
		ValidFrom:  now,
		ValidUntil: validUntil(now, plan),
	}
	if err := s.Store.CreateSubscriber(ctx, sub, s.Sealer.Seal([]byte(in.Password))); err != nil {
		return nil, err
	}
	return sub, s.accountsChanged(ctx, sub.Username)
}

// UpdateSubscriber changes the status, the plan or the password of the subscriber called
// username. A plan change starts a new validity period of the new plan from now.
// ENOTFOUND, EINVALID (including an unknown plan). When the change was stored but
// Changes failed, it returns both the subscriber and the error.
func (s *Service) UpdateSubscriber(ctx context.Context, username string, upd SubscriberUpdate) (*Subscriber, error) {
	if upd.Status != nil && !upd.Status.Valid() {
		return nil, invalid("status: %q is not a status; use %s, %s or %s",
			*upd.Status, radius.StatusActive, radius.StatusSuspended, radius.StatusDisabled)
	}
	if upd.Plan != nil && *upd.Plan == "" {
		return nil, invalid("plan: must not be empty")
	}
	if upd.Password != nil {
		if err := ValidatePassword(*upd.Password); err != nil {
			return nil, err
		}
	}
	sub, err := s.Store.FindSubscriberByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	if upd.Status == nil && upd.Plan == nil && upd.Password == nil {
		return sub, nil
	}
	var planID *int64
	var until *time.Time
	if upd.Plan != nil {
		plan, err := s.findPlan(ctx, *upd.Plan)
		if err != nil {
			return nil, err
		}
		u := validUntil(s.now(), plan)
		planID, until = &plan.ID, &u
	}
	var sealed []byte
	if upd.Password != nil {
		sealed = s.Sealer.Seal([]byte(*upd.Password))
	}
	sub, err = s.Store.UpdateSubscriber(ctx, sub.ID, upd.Status, planID, until, sealed)
	if err != nil {
		return nil, err
	}
	return sub, s.accountsChanged(ctx, sub.Username)
}

// ImportSubscribers adds the subscribers of a CSV file (see ParseImport) on the named
// plan, all or nothing, and returns how many it added. Every line is checked before
// anything is stored; EINVALID names the faulty lines, ECONFLICT the first username that
// already exists. When the rows were stored but Changes failed, it returns both the
// count and the error.
func (s *Service) ImportSubscribers(ctx context.Context, plan string, r io.Reader) (int, error) {
	if plan == "" {
		return 0, invalid("plan: required")
	}
	lines, err := ParseImport(r)
	if err != nil {
		return 0, err
	}
	p, err := s.findPlan(ctx, plan)
	if err != nil {
		return 0, err
	}
	rows := make([]ImportRow, len(lines))
	usernames := make([]string, len(lines))
	for i, l := range lines {
		rows[i] = ImportRow{Username: l.Username, Sealed: s.Sealer.Seal([]byte(l.Password)), Line: l.Line}
		usernames[i] = l.Username
	}
	n, err := s.Store.ImportSubscribers(ctx, p.ID, validUntil(s.now(), p), rows)
	if err != nil {
		return 0, err
	}
	return n, s.accountsChanged(ctx, usernames...)
}
