package billing

import (
	"context"
	"fmt"
	"time"

	"tollgate/radius"
)

// What the admin surfaces (the JSON API, the admin pages) add to plans and subscribers:
// finding them by ID, listing subscribers page by page, and editing a plan.

// PlanUpdate is the input of Service.UpdatePlan; nil fields stay unchanged. A plan's
// kind cannot change: its subscribers and vouchers were sold for it.
type PlanUpdate struct {
	Name               *string
	PriceCents         *int64
	ResellerPriceCents *int64
	RateLimit          *string
	Validity           *time.Duration
	UptimeLimit        *time.Duration
	DataLimit          *int64
	SharedUsers        *int
	Interim            *time.Duration
	Pool               *string
	AddressList        *string
	LockMAC            *bool
	ValidityFrom       *ValidityFrom
	NASNames           *[]string
	HotspotServers     *[]string
	// What a priced PPPoE plan's subscriptions use: the period (a change applies from
	// each subscription's next renewal), the grace, and the isolation plan by name
	// ("" for none).
	Period        *Period
	Grace         *time.Duration
	IsolationPlan *string
}

// SubscriberFilter selects subscribers for a listing. Zero fields do not filter.
type SubscriberFilter struct {
	// Search matches a username that starts with it, or a name or email that contains
	// it, case-insensitively.
	Search string
	Status radius.Status
	PlanID int64
	// AfterID continues a listing after the subscriber with this ID (ascending IDs).
	AfterID int64
	// Limit bounds the result (default 100, at most 1000).
	Limit int
}

// MaxListLimit bounds one page of a subscriber listing.
const MaxListLimit = 1000

// FindPlanByID returns plan id. ENOTFOUND.
func (s *Service) FindPlanByID(ctx context.Context, id int64) (*Plan, error) {
	return s.Store.FindPlanByID(ctx, id)
}

// UpdatePlan changes plan id: the result of applying upd must pass ValidatePlan. The
// caches of its subscribers are dropped, so the next login gets the new limits; sending
// a CoA to the sessions online is the caller's. ENOTFOUND, EINVALID naming the field,
// ECONFLICT when the new name is taken. When the plan was stored but Changes failed, it
// returns both the plan and the error.
func (s *Service) UpdatePlan(ctx context.Context, id int64, upd PlanUpdate) (*Plan, error) {
	p, err := s.Store.FindPlanByID(ctx, id)
	if err != nil {
		return nil, err
	}
	setIf(&p.Name, upd.Name)
	setIf(&p.PriceCents, upd.PriceCents)
	setIf(&p.ResellerPriceCents, upd.ResellerPriceCents)
	setIf(&p.RateLimit, upd.RateLimit)
	setIf(&p.Validity, upd.Validity)
	setIf(&p.UptimeLimit, upd.UptimeLimit)
	setIf(&p.DataLimit, upd.DataLimit)
	setIf(&p.SharedUsers, upd.SharedUsers)
	setIf(&p.Interim, upd.Interim)
	setIf(&p.Pool, upd.Pool)
	setIf(&p.AddressList, upd.AddressList)
	setIf(&p.LockMAC, upd.LockMAC)
	setIf(&p.ValidityFrom, upd.ValidityFrom)
	setIf(&p.NASNames, upd.NASNames)
	setIf(&p.HotspotServers, upd.HotspotServers)
	setIf(&p.Period, upd.Period)
	setIf(&p.Grace, upd.Grace)
	if upd.IsolationPlan != nil && *upd.IsolationPlan != p.IsolationPlan {
		p.IsolationPlan, p.IsolationPlanID = *upd.IsolationPlan, 0
		if p.IsolationPlan != "" && p.IsolationPlan != p.Name {
			iso, err := s.Store.FindPlanByName(ctx, p.IsolationPlan)
			if radius.ErrorCode(err) == radius.ENOTFOUND {
				return nil, invalid("isolation-plan: no plan named %q", p.IsolationPlan)
			}
			if err != nil {
				return nil, err
			}
			if iso.Kind != radius.KindPPPoE {
				return nil, invalid("isolation-plan: %q is a %s plan; isolation needs a PPPoE plan", iso.Name, iso.Kind)
			}
			p.IsolationPlanID = iso.ID
		}
	}
	if err := ValidatePlan(*p); err != nil {
		return nil, err
	}
	if err := s.Store.UpdatePlan(ctx, p); err != nil {
		return nil, err
	}
	if s.Changes != nil {
		if err := s.Changes.PlansChanged(ctx, p.ID); err != nil {
			return p, fmt.Errorf("billing: plan %q changed, but caches were not told: %w", p.Name, err)
		}
	}
	return p, nil
}

// DeletePlan removes plan id and returns it as it was. Only a plan nothing refers to
// can go: once a subscriber, a voucher or a renewal used it, the records that name it
// must keep it, so the refusal is ECONFLICT naming what uses it. ENOTFOUND.
func (s *Service) DeletePlan(ctx context.Context, id int64) (*Plan, error) {
	p, err := s.Store.FindPlanByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.Store.DeletePlan(ctx, id); err != nil {
		return nil, err
	}
	return p, nil
}

// FindSubscriberByID returns subscriber id. ENOTFOUND.
func (s *Service) FindSubscriberByID(ctx context.Context, id int64) (*Subscriber, error) {
	return s.Store.FindSubscriberByID(ctx, id)
}

// FindSubscribers lists the subscribers f selects, by ascending ID. EINVALID for an
// unknown status or a limit out of range.
func (s *Service) FindSubscribers(ctx context.Context, f SubscriberFilter) ([]Subscriber, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, invalid("status: %q is not a status; use %s, %s or %s", f.Status, radius.StatusActive, radius.StatusSuspended, radius.StatusDisabled)
	}
	switch {
	case f.Limit == 0:
		f.Limit = 100
	case f.Limit < 0 || f.Limit > MaxListLimit:
		return nil, invalid("limit: must be 1 to %d", MaxListLimit)
	}
	if len(f.Search) > MaxNameLen*4 {
		return nil, invalid("search: at most %d characters", MaxNameLen*4)
	}
	return s.Store.FindSubscribers(ctx, f)
}

// setIf copies *src to *dst when src is set.
func setIf[T any](dst, src *T) {
	if src != nil {
		*dst = *src
	}
}
