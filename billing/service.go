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
// (time.Now when nil); Changes may be nil when nothing caches accounts. Location is
// where calendar-month subscriptions count their months (nil: UTC).
type Service struct {
	Store    Store
	Sealer   Sealer
	Changes  Changes
	Now      func() time.Time
	Location *time.Location
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
// ValidityFrom becomes FromFirstLogin and an empty Period DefaultPeriod. IsolationPlan
// names an existing PPPoE plan (IsolationPlanID is ignored and set).
func (s *Service) CreatePlan(ctx context.Context, p Plan) (*Plan, error) {
	if err := ValidatePlan(p); err != nil {
		return nil, err
	}
	p.ID, p.CreatedAt, p.IsolationPlanID = 0, time.Time{}, 0
	if p.ValidityFrom == "" {
		p.ValidityFrom = FromFirstLogin
	}
	if p.Period == "" {
		p.Period = DefaultPeriod
	}
	if p.IsolationPlan != "" {
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

// location returns where calendar months are counted.
func (s *Service) location() *time.Location {
	if s.Location != nil {
		return s.Location
	}
	return time.UTC
}

// AddSubscriber validates in, seals the password and stores an active subscriber on the
// named plan, valid from now for the plan's validity, with an empty wallet. On a priced
// PPPoE plan (Plan.Billed) the subscriber gets a subscription whose first period starts
// now, unpaid: the next billing pass charges it from the wallet, or moves it to grace
// and isolation like any unpaid renewal. EINVALID (including an unknown plan),
// ECONFLICT when the username or the MAC is taken. When the subscriber was stored but
// Changes failed, it returns both the subscriber and the error.
func (s *Service) AddSubscriber(ctx context.Context, in NewSubscriber) (*Subscriber, error) {
	ip, mac, err := checkNewSubscriber(in)
	if err != nil {
		return nil, err
	}
	name, email, phone, err := checkProfile(in.Name, in.Email, in.Phone)
	if err != nil {
		return nil, err
	}
	plan, err := s.findPlan(ctx, in.Plan)
	if err != nil {
		return nil, err
	}
	if err := checkMACLogin(in.MACLogin, plan); err != nil {
		return nil, err
	}
	ids, err := s.Store.NextSubscriberIDs(ctx, 1)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sub := &Subscriber{
		ID:         ids[0],
		Username:   in.Username,
		PlanID:     plan.ID,
		PlanName:   plan.Name,
		Status:     radius.StatusActive,
		StaticIP:   ip,
		MAC:        mac,
		MACLogin:   in.MACLogin,
		Name:       name,
		Email:      email,
		Phone:      phone,
		ValidFrom:  now,
		ValidUntil: validUntil(now, plan),
		AutoRenew:  in.AutoRenew == nil || *in.AutoRenew,
	}
	var subscription *Subscription
	if plan.Billed() {
		subscription = NewSubscription(plan, now, s.location())
	}
	sealed := s.Sealer.Seal([]byte(in.Password), radius.SealSubscriberPassword.AD(sub.ID))
	if err := s.Store.CreateSubscriber(ctx, sub, sealed, subscription); err != nil {
		return nil, err
	}
	return sub, s.accountsChanged(ctx, sub.Username)
}

// UpdateSubscriber changes the status, the plan, the password, the bound MAC, MAC login,
// the static address or the profile of the subscriber called username. A plan change starts a new validity
// period of the new plan from now; for a subscriber with a subscription it follows
// planChange (scheduled for the next renewal unless upd.PlanNow). MAC login needs a
// bound MAC and a hotspot plan. ENOTFOUND, EINVALID (including an unknown plan),
// ECONFLICT for a MAC bound to another subscriber. When the change was stored but
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
	var ch SubscriberChange
	if upd.MAC != nil {
		mac, err := ParseMAC(*upd.MAC)
		if err != nil {
			return nil, err
		}
		ch.MAC = &mac
	}
	if upd.Name != nil {
		name, _, _, err := checkProfile(*upd.Name, "", "")
		if err != nil {
			return nil, err
		}
		ch.Name = &name
	}
	if upd.Email != nil {
		e, err := NormalizeEmail(*upd.Email)
		if err != nil {
			return nil, err
		}
		ch.Email = &e
	}
	if upd.Phone != nil {
		p, err := NormalizePhone(*upd.Phone)
		if err != nil {
			return nil, err
		}
		ch.Phone = &p
	}
	ch.AutoRenew = upd.AutoRenew
	if upd.StaticIP != nil {
		ip, err := ParseStaticIP(*upd.StaticIP)
		if err != nil {
			return nil, err
		}
		ch.StaticIP = &ip
	}
	sub, err := s.Store.FindSubscriberByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	if upd == (SubscriberUpdate{}) {
		return sub, nil
	}
	planName := sub.PlanName
	if upd.Plan != nil {
		plan, err := s.findPlan(ctx, *upd.Plan)
		if err != nil {
			return nil, err
		}
		if planName, err = s.planChange(ctx, sub, plan, upd.PlanNow, &ch); err != nil {
			return nil, err
		}
	}
	macLogin, mac := sub.MACLogin, sub.MAC
	if upd.MACLogin != nil {
		macLogin = *upd.MACLogin
		ch.MACLogin = upd.MACLogin
	}
	if ch.MAC != nil {
		mac = *ch.MAC
		if mac == "" && macLogin {
			if upd.MACLogin != nil {
				return nil, invalid("mac-login: needs a MAC; --mac \"\" unbinds it")
			}
			off := false // unbinding the device ends its MAC login
			macLogin, ch.MACLogin = false, &off
		}
	}
	if macLogin && mac == "" {
		return nil, invalid("mac-login: needs --mac, the device that logs in by its MAC")
	}
	if macLogin && (upd.MACLogin != nil || upd.Plan != nil) {
		plan, err := s.findPlan(ctx, planName)
		if err != nil {
			return nil, err
		}
		if err := checkMACLogin(true, plan); err != nil {
			return nil, err
		}
	}
	ch.Status = upd.Status
	if upd.Password != nil {
		ch.SealedPassword = s.Sealer.Seal([]byte(*upd.Password), radius.SealSubscriberPassword.AD(sub.ID))
	}
	oldMAC := sub.MAC
	sub, err = s.Store.UpdateSubscriber(ctx, sub.ID, ch)
	if err != nil {
		return nil, err
	}
	if oldMAC != "" && oldMAC != sub.MAC {
		// The old device's MAC login entry must go too.
		if err := s.macChanged(ctx, oldMAC); err != nil {
			return sub, err
		}
	}
	return sub, s.accountsChanged(ctx, sub.Username)
}

// planChange fills ch with the move of sub to plan and returns the plan sub is on
// afterwards. Without a subscription the move is at once, with a new validity period
// (and a subscription that starts now when plan is billed). With one:
//
//   - to another billed plan: scheduled for the next renewal (the paid period keeps its
//     plan), or at once with now, without proration (nothing is refunded or charged; an
//     owed period is then charged at the new price);
//   - back to its own plan: the scheduled change is dropped;
//   - to a plan that is not billed (free or hotspot): at once, and the subscription is
//     cancelled (nothing is refunded).
func (s *Service) planChange(ctx context.Context, sub *Subscriber, plan *Plan, now bool, ch *SubscriberChange) (string, error) {
	cur, err := s.Store.FindSubscription(ctx, sub.ID)
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		cur = nil
	case err != nil:
		return "", err
	}
	subscribed := cur != nil && cur.State != radius.SubscriptionCancelled
	switchNow := func() {
		u := validUntil(s.now(), plan)
		ch.PlanID, ch.ValidUntil = &plan.ID, &u
	}
	switch {
	case subscribed && plan.Billed() && plan.ID == cur.PlanID:
		none := int64(0)
		ch.Subscription = &SubscriptionChange{NextPlanID: &none}
		return sub.PlanName, nil
	case subscribed && plan.Billed() && !now:
		ch.Subscription = &SubscriptionChange{NextPlanID: &plan.ID}
		return sub.PlanName, nil
	case subscribed && plan.Billed():
		ch.PlanID = &plan.ID
		ch.Subscription = &SubscriptionChange{PlanID: &plan.ID}
	case subscribed:
		switchNow()
		ch.Subscription = &SubscriptionChange{Cancel: true}
	case plan.Billed():
		switchNow()
		ch.Subscription = &SubscriptionChange{Start: NewSubscription(plan, s.now(), s.location())}
	default:
		switchNow()
	}
	return plan.Name, nil
}

// macChanged tells Changes that the account cached under mac is stale.
func (s *Service) macChanged(ctx context.Context, mac string) error {
	if s.Changes == nil {
		return nil
	}
	if err := s.Changes.MACsChanged(ctx, mac); err != nil {
		return fmt.Errorf("billing: MAC %s unbound, but caches were not told: %w", mac, err)
	}
	return nil
}

// ImportSubscribers adds the subscribers of a CSV file (see ParseImport) on the named
// plan, or each on the plan its line names, all or nothing, and returns how many it
// added. Every line is checked before anything is stored; EINVALID names the faulty
// lines (an unknown plan, a line without a plan when plan is ""), ECONFLICT the first
// username that already exists. When the rows were stored but Changes failed, it
// returns both the count and the error.
func (s *Service) ImportSubscribers(ctx context.Context, plan string, r io.Reader) (int, error) {
	lines, err := ParseImport(r)
	if err != nil {
		return 0, err
	}
	var p *Plan
	if plan != "" {
		if p, err = s.findPlan(ctx, plan); err != nil {
			return 0, err
		}
	}
	// The lines' own plans, each looked up once.
	plans := map[string]*Plan{}
	now := s.now()
	for _, l := range lines {
		switch {
		case l.Plan == "" && p == nil:
			return 0, invalid("line %d: plan: required: give --plan, or a plan column", l.Line)
		case l.Plan == "" || plans[l.Plan] != nil:
			continue
		}
		lp, err := s.findPlan(ctx, l.Plan)
		if err != nil {
			return 0, invalid("line %d: %s", l.Line, radius.ErrorMessage(err))
		}
		plans[l.Plan] = lp
	}
	if p == nil {
		p = plans[lines[0].Plan] // every line names one
	}
	ids, err := s.Store.NextSubscriberIDs(ctx, len(lines))
	if err != nil {
		return 0, err
	}
	rows := make([]ImportRow, len(lines))
	usernames := make([]string, len(lines))
	for i, l := range lines {
		sealed := s.Sealer.Seal([]byte(l.Password), radius.SealSubscriberPassword.AD(ids[i]))
		rows[i] = ImportRow{ID: ids[i], Username: l.Username, Sealed: sealed, Line: l.Line,
			Name: l.Name, Email: l.Email, Phone: l.Phone, MAC: l.MAC, StaticIP: l.StaticIP}
		if lp := plans[l.Plan]; lp != nil {
			rows[i].PlanID, rows[i].ValidUntil = lp.ID, validUntil(now, lp)
		}
		usernames[i] = l.Username
	}
	// Subscribers of a billed plan start a subscription now, like those added one by one.
	subs := map[int64]*Subscription{}
	for _, lp := range append([]*Plan{p}, mapValues(plans)...) {
		if lp.Billed() {
			subs[lp.ID] = NewSubscription(lp, now, s.location())
		}
	}
	n, err := s.Store.ImportSubscribers(ctx, p.ID, validUntil(now, p), rows, subs)
	if err != nil {
		return 0, err
	}
	return n, s.accountsChanged(ctx, usernames...)
}

// mapValues returns the values of m.
func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
