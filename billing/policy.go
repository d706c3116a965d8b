package billing

import (
	"context"
	"strings"
	"time"
)

// Privacy policy versions. An operator publishes each version of the policy with the
// date it takes effect (tollgate policy publish). A material change must be announced
// at least PolicyNotice ahead: its effective date is at least 30 days after the day it
// is published, and every subscriber who consented to email gets a policy_published
// event. A minor change (wording, a typo, a new contact address) may take effect the
// day it is published and is not announced. Dates are days in the operator's time zone
// (the server's local zone): a version takes effect at the start of its day.
//
// Once a version is in effect, a subscriber accepts it before using the portal. The
// version that must be accepted is the newest one in effect that is material, or the
// first version when every later one is minor: a minor change does not ask everyone to
// accept again. Accepting it, or any later version, is enough.

// PolicyNotice is the least time between publishing a material change and its effect.
const PolicyNotice = 30 * 24 * time.Hour

// MaxPolicyLen bounds a policy's text.
const MaxPolicyLen = 200000

// PolicyVersion is one published version of the privacy policy.
type PolicyVersion struct {
	Version     int       `json:"version"`
	Body        string    `json:"-"` // Markdown
	PublishedAt time.Time `json:"published_at"`
	EffectiveAt time.Time `json:"effective_at"`
	Minor       bool      `json:"minor"`
}

// InEffect reports whether v has taken effect at now.
func (v *PolicyVersion) InEffect(now time.Time) bool { return !now.Before(v.EffectiveAt) }

// ParsePolicyDate reads the effective date YYYY-MM-DD as the start of that day in loc.
// EINVALID naming effective.
func ParsePolicyDate(s string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(s), loc)
	if err != nil {
		return time.Time{}, invalid("effective: %q is not a date YYYY-MM-DD", s)
	}
	return t, nil
}

// dayOf is the start of t's day in loc.
func dayOf(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// CheckPolicyVersion is the rule of publishing: a version published at now takes
// effect at effective (the start of a day in loc), not before today, and a material
// one not before 30 days after today. EINVALID naming effective.
func CheckPolicyVersion(now, effective time.Time, minor bool, loc *time.Location) error {
	today := dayOf(now, loc)
	earliest := today.AddDate(0, 0, int(PolicyNotice/(24*time.Hour)))
	switch {
	case effective.Before(today):
		return invalid("effective: %s is in the past; a version takes effect today (%s) at the earliest", effective.Format("2006-01-02"), today.Format("2006-01-02"))
	case !minor && effective.Before(earliest):
		return invalid("effective: a material change takes effect at least 30 days after it is published: %s or later (or publish it with --minor when it changes nothing material)", earliest.Format("2006-01-02"))
	}
	return nil
}

// CurrentPolicy returns the version in effect at now (the newest whose day has come),
// nil when none is. versions are in version order.
func CurrentPolicy(versions []PolicyVersion, now time.Time) *PolicyVersion {
	var cur *PolicyVersion
	for i := range versions {
		if versions[i].InEffect(now) && (cur == nil || versions[i].Version > cur.Version) {
			cur = &versions[i]
		}
	}
	return cur
}

// RequiredPolicy returns the version a subscriber must have accepted at now: the
// newest material version in effect, or the first version when every other in effect
// is minor; nil when no version is in effect.
func RequiredPolicy(versions []PolicyVersion, now time.Time) *PolicyVersion {
	var req *PolicyVersion
	for i := range versions {
		v := &versions[i]
		if !v.InEffect(now) {
			continue
		}
		if req == nil || !v.Minor && v.Version > req.Version {
			req = v
		}
	}
	return req
}

// PolicyToAccept returns the version a subscriber whose newest acceptance is accepted
// (0: none) must accept before going on at now, nil when there is none.
func PolicyToAccept(versions []PolicyVersion, accepted int, now time.Time) *PolicyVersion {
	req := RequiredPolicy(versions, now)
	if req == nil || accepted >= req.Version {
		return nil
	}
	return req
}

// PolicyStore keeps the policy versions and their acceptances (Postgres).
type PolicyStore interface {
	// PublishPolicy stores v as the next version (setting v.Version) and, unless it is
	// minor, records in the same statement a policy_published event for every subscriber
	// who consented to email, whose data carries effective and link; it returns how many
	// it recorded.
	PublishPolicy(ctx context.Context, v *PolicyVersion, effective, link string) (int, error)
	// ListPolicies returns every version, oldest first, with its text.
	ListPolicies(ctx context.Context) ([]PolicyVersion, error)
	// AcceptPolicy records that subscriber id accepted version at at from ip ("" when
	// unknown); accepting it again keeps the first record. ENOTFOUND for an unknown
	// version or subscriber.
	AcceptPolicy(ctx context.Context, id int64, version int, at time.Time, ip string) error
	// AcceptedPolicy returns the newest version subscriber id accepted, 0 for none.
	AcceptedPolicy(ctx context.Context, id int64) (int, error)
}

// Policies publishes policy versions and records their acceptance. Loc is the
// operator's time zone (time.Local when nil).
type Policies struct {
	Store PolicyStore
	Now   func() time.Time
	Loc   *time.Location
}

func (p *Policies) now() time.Time {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

func (p *Policies) loc() *time.Location {
	if p.Loc != nil {
		return p.Loc
	}
	return time.Local
}

// Published is the outcome of Publish.
type Published struct {
	PolicyVersion
	Announced int `json:"announced"` // policy_published events recorded
}

// Publish checks and stores a new version with text body taking effect on the day
// effective (YYYY-MM-DD), announced at link (the public /privacy page) unless minor.
// EINVALID naming effective or body.
func (p *Policies) Publish(ctx context.Context, body, effective string, minor bool, link string) (*Published, error) {
	if strings.TrimSpace(body) == "" {
		return nil, invalid("body: the policy text is empty")
	}
	if len(body) > MaxPolicyLen {
		return nil, invalid("body: at most %d bytes", MaxPolicyLen)
	}
	at, err := ParsePolicyDate(effective, p.loc())
	if err != nil {
		return nil, err
	}
	now := p.now()
	if err := CheckPolicyVersion(now, at, minor, p.loc()); err != nil {
		return nil, err
	}
	v := PolicyVersion{Body: body, PublishedAt: now, EffectiveAt: at, Minor: minor}
	n, err := p.Store.PublishPolicy(ctx, &v, at.Format("2006-01-02"), link)
	if err != nil {
		return nil, err
	}
	return &Published{PolicyVersion: v, Announced: n}, nil
}

// ToAccept returns the version subscriber id must accept before going on, nil when
// none.
func (p *Policies) ToAccept(ctx context.Context, id int64) (*PolicyVersion, error) {
	versions, err := p.Store.ListPolicies(ctx)
	if err != nil || len(versions) == 0 {
		return nil, err
	}
	accepted, err := p.Store.AcceptedPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	return PolicyToAccept(versions, accepted, p.now()), nil
}

// Accept records that subscriber id accepted version from ip. A version that was not
// published, or one older than what the subscriber must accept now, is EINVALID
// naming version.
func (p *Policies) Accept(ctx context.Context, id int64, version int, ip string) error {
	versions, err := p.Store.ListPolicies(ctx)
	if err != nil {
		return err
	}
	if version < 1 || version > len(versions) {
		return invalid("version: no policy version %d", version)
	}
	if req := RequiredPolicy(versions, p.now()); req != nil && version < req.Version {
		return invalid("version: %d is not the policy in effect; accept version %d", version, req.Version)
	}
	return p.Store.AcceptPolicy(ctx, id, version, p.now(), ip)
}
