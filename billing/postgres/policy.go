package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

var _ billing.PolicyStore = (*Store)(nil)

// publishPolicySQL stores the next version and, for a material one, the announcement
// to every subscriber who consented to email, in one statement (one bulk INSERT of the
// events). A concurrent publish that takes the same number fails on the primary key.
const publishPolicySQL = `
WITH v AS (
    INSERT INTO policy_versions (version, body, published_at, effective_at, minor)
    SELECT coalesce(max(version), 0) + 1, $1, $2, $3, $4 FROM policy_versions
    RETURNING version, minor
), e AS (
    INSERT INTO billing_events (kind, subscriber_id, key, data)
    SELECT 'policy_published', s.id, 'policy_published:' || v.version || ':' || s.id,
           jsonb_build_object('version', v.version::text, 'effective', $5::text, 'link', $6::text)
    FROM v CROSS JOIN subscribers s
    WHERE NOT v.minor AND s.notify_email AND s.email IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
)
SELECT v.version, (SELECT count(*) FROM e) FROM v`

// PublishPolicy stores v as the next version and announces a material one. ECONFLICT
// when another version was published at the same moment.
func (s *Store) PublishPolicy(ctx context.Context, v *billing.PolicyVersion, effective, link string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, publishPolicySQL, v.Body, v.PublishedAt, v.EffectiveAt, v.Minor, effective, link).Scan(&v.Version, &n)
	switch {
	case pg.IsUnique(err, ""):
		return 0, radius.Errorf(radius.ECONFLICT, "policy: another version was published at the same time; try again")
	case pg.IsCheck(err, "policy_versions_notice"):
		return 0, radius.Errorf(radius.EINVALID, "effective: a material change takes effect at least 30 days after it is published")
	case err != nil:
		return 0, fmt.Errorf("postgres: publish policy: %w", err)
	}
	return n, nil
}

const listPoliciesSQL = `SELECT version, body, published_at, effective_at, minor FROM policy_versions ORDER BY version`

// ListPolicies returns every version, oldest first.
func (s *Store) ListPolicies(ctx context.Context) ([]billing.PolicyVersion, error) {
	rows, err := s.db.Query(ctx, listPoliciesSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: list policies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.PolicyVersion, error) {
		var v billing.PolicyVersion
		err := r.Scan(&v.Version, &v.Body, &v.PublishedAt, &v.EffectiveAt, &v.Minor)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list policies: %w", err)
	}
	return out, nil
}

const acceptPolicySQL = `
INSERT INTO policy_acceptances (subscriber_id, version, at, ip) VALUES ($1, $2, $3, $4)
ON CONFLICT (subscriber_id, version) DO NOTHING`

// AcceptPolicy records the acceptance (the first one stays). ENOTFOUND for an unknown
// version or subscriber.
func (s *Store) AcceptPolicy(ctx context.Context, id int64, version int, at time.Time, ip string) error {
	var addr *netip.Addr
	if a, err := netip.ParseAddr(ip); err == nil {
		addr = &a
	}
	_, err := s.db.Exec(ctx, acceptPolicySQL, id, version, at, addr)
	switch {
	case pg.IsForeignKey(err, ""):
		return radius.Errorf(radius.ENOTFOUND, "no policy version %d or subscriber %d", version, id)
	case err != nil:
		return fmt.Errorf("postgres: accept policy %d for subscriber %d: %w", version, id, err)
	}
	return nil
}

const acceptedPolicySQL = `SELECT coalesce(max(version), 0) FROM policy_acceptances WHERE subscriber_id = $1`

// AcceptedPolicy returns the newest version subscriber id accepted, 0 for none.
func (s *Store) AcceptedPolicy(ctx context.Context, id int64) (int, error) {
	var v int
	if err := s.db.QueryRow(ctx, acceptedPolicySQL, id).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: accepted policy of subscriber %d: %w", id, err)
	}
	return v, nil
}
