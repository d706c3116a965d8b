package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

const createPlanSQL = `
INSERT INTO plans (name, kind, price_cents, rate_limit, validity_seconds, uptime_limit_seconds,
                   data_limit_bytes, shared_users, interim_seconds, pool, address_list,
                   reseller_price_cents, validity_from, lock_mac, nas_names, hotspot_servers,
                   period, grace_seconds, isolation_plan_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce(nullif($13, ''), 'first_login'), $14, $15, $16,
        coalesce(nullif($17, ''), '30d'), $18, $19)
RETURNING id, created_at, period`

// CreatePlan inserts p and sets its ID and CreatedAt. Durations are stored in whole
// seconds. ECONFLICT when the name is taken, EINVALID.
func (s *Store) CreatePlan(ctx context.Context, p *billing.Plan) error {
	err := s.db.QueryRow(ctx, createPlanSQL,
		p.Name, string(p.Kind), p.PriceCents, p.RateLimit,
		int64(p.Validity/time.Second), int64(p.UptimeLimit/time.Second),
		p.DataLimit, p.SharedUsers, int64(p.Interim/time.Second), p.Pool, p.AddressList,
		p.ResellerPriceCents, string(p.ValidityFrom), p.LockMAC, textArray(p.NASNames), textArray(p.HotspotServers),
		string(p.Period), int64(p.Grace/time.Second), nullID(p.IsolationPlanID),
	).Scan(&p.ID, &p.CreatedAt, &p.Period)
	if err != nil {
		switch {
		case pg.IsForeignKey(err, ""):
			err = pg.Translate(err, radius.EINVALID, "isolation-plan: no such plan")
		case pg.IsUnique(err, ""):
			err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("name: a plan named %q exists", p.Name))
		default:
			if cerr := pg.CheckField(err, checkFields); cerr != nil {
				err = cerr
			}
		}
		return fmt.Errorf("postgres: create plan %q: %w", p.Name, err)
	}
	return nil
}

const planColumns = `id, name, kind, price_cents, rate_limit, validity_seconds, uptime_limit_seconds,
       data_limit_bytes, shared_users, interim_seconds, pool, address_list, created_at,
       reseller_price_cents, validity_from, lock_mac, nas_names, hotspot_servers,
       period, grace_seconds, coalesce(isolation_plan_id, 0),
       coalesce((SELECT i.name FROM plans i WHERE i.id = plans.isolation_plan_id), '')`

const findPlanByNameSQL = `SELECT ` + planColumns + ` FROM plans WHERE name = $1`

// FindPlanByName returns the plan called name. ENOTFOUND.
func (s *Store) FindPlanByName(ctx context.Context, name string) (*billing.Plan, error) {
	var p billing.Plan
	if err := scanPlan(s.db.QueryRow(ctx, findPlanByNameSQL, name), &p); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("plan: no plan named %q", name))
		}
		return nil, fmt.Errorf("postgres: find plan %q: %w", name, err)
	}
	return &p, nil
}

const listPlansSQL = `SELECT ` + planColumns + ` FROM plans ORDER BY name`

// ListPlans returns every plan, by name.
func (s *Store) ListPlans(ctx context.Context) ([]billing.Plan, error) {
	rows, err := s.db.Query(ctx, listPlansSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: list plans: %w", err)
	}
	defer rows.Close()
	var plans []billing.Plan
	for rows.Next() {
		var p billing.Plan
		if err := scanPlan(rows, &p); err != nil {
			return nil, fmt.Errorf("postgres: list plans: %w", err)
		}
		plans = append(plans, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list plans: %w", err)
	}
	return plans, nil
}

// scanPlan scans planColumns into p.
func scanPlan(row pgx.Row, p *billing.Plan) error {
	var kind, from, period string
	var validity, uptime, interim, grace int64
	err := row.Scan(&p.ID, &p.Name, &kind, &p.PriceCents, &p.RateLimit, &validity, &uptime,
		&p.DataLimit, &p.SharedUsers, &interim, &p.Pool, &p.AddressList, &p.CreatedAt,
		&p.ResellerPriceCents, &from, &p.LockMAC, &p.NASNames, &p.HotspotServers,
		&period, &grace, &p.IsolationPlanID, &p.IsolationPlan)
	if err != nil {
		return err
	}
	p.Period = billing.Period(period)
	p.Grace = time.Duration(grace) * time.Second
	p.ValidityFrom = billing.ValidityFrom(from)
	if len(p.NASNames) == 0 {
		p.NASNames = nil
	}
	if len(p.HotspotServers) == 0 {
		p.HotspotServers = nil
	}
	p.Kind = radius.PlanKind(kind)
	p.Validity = time.Duration(validity) * time.Second
	p.UptimeLimit = time.Duration(uptime) * time.Second
	p.Interim = time.Duration(interim) * time.Second
	return nil
}

// nullID maps 0 (none) to SQL NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// textArray maps a nil list to an empty array: the columns are NOT NULL.
func textArray(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

const findPlanByIDSQL = `SELECT ` + planColumns + ` FROM plans WHERE id = $1`

// FindPlanByID returns plan id. ENOTFOUND.
func (s *Store) FindPlanByID(ctx context.Context, id int64) (*billing.Plan, error) {
	var p billing.Plan
	if err := scanPlan(s.db.QueryRow(ctx, findPlanByIDSQL, id), &p); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = pg.Translate(err, radius.ENOTFOUND, fmt.Sprintf("id: no plan with id %d", id))
		}
		return nil, fmt.Errorf("postgres: find plan %d: %w", id, err)
	}
	return &p, nil
}

const updatePlanSQL = `
UPDATE plans SET name = $2, price_cents = $3, rate_limit = $4, validity_seconds = $5,
    uptime_limit_seconds = $6, data_limit_bytes = $7, shared_users = $8, interim_seconds = $9,
    pool = $10, address_list = $11, reseller_price_cents = $12, validity_from = $13,
    lock_mac = $14, nas_names = $15, hotspot_servers = $16,
    period = coalesce(nullif($17, ''), period), grace_seconds = $18, isolation_plan_id = $19
WHERE id = $1`

// UpdatePlan writes every field of p but its kind to plan p.ID. ENOTFOUND, ECONFLICT
// when the name is taken, EINVALID.
func (s *Store) UpdatePlan(ctx context.Context, p *billing.Plan) error {
	tag, err := s.db.Exec(ctx, updatePlanSQL, p.ID,
		p.Name, p.PriceCents, p.RateLimit, int64(p.Validity/time.Second), int64(p.UptimeLimit/time.Second),
		p.DataLimit, p.SharedUsers, int64(p.Interim/time.Second), p.Pool, p.AddressList,
		p.ResellerPriceCents, string(p.ValidityFrom), p.LockMAC, textArray(p.NASNames), textArray(p.HotspotServers),
		string(p.Period), int64(p.Grace/time.Second), nullID(p.IsolationPlanID))
	switch {
	case pg.IsForeignKey(err, ""):
		err = pg.Translate(err, radius.EINVALID, "isolation-plan: no such plan")
	case pg.IsUnique(err, ""):
		err = pg.Translate(err, radius.ECONFLICT, fmt.Sprintf("name: a plan named %q exists", p.Name))
	case err != nil:
		if cerr := pg.CheckField(err, checkFields); cerr != nil {
			err = cerr
		}
	case tag.RowsAffected() == 0:
		err = radius.Errorf(radius.ENOTFOUND, "id: no plan with id %d", p.ID)
	}
	if err != nil {
		return fmt.Errorf("postgres: update plan %d: %w", p.ID, err)
	}
	return nil
}

const deletePlanSQL = `DELETE FROM plans WHERE id = $1`

// planUsers names, by the table a foreign key violation reports, what keeps a plan.
var planUsers = map[string]string{
	"subscribers":     "subscribers are on it",
	"subscriptions":   "subscriptions are on it or move to it",
	"renewals":        "renewals were paid for it",
	"voucher_batches": "voucher batches were made for it",
	"vouchers":        "vouchers were made for it",
	"plans":           "another plan isolates its unpaid subscribers to it",
}

// DeletePlan removes plan id. ENOTFOUND; ECONFLICT naming what uses it when a row refers
// to it (the foreign keys refuse the delete).
func (s *Store) DeletePlan(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, deletePlanSQL, id)
	switch {
	case pg.IsForeignKey(err, ""):
		why, ok := planUsers[pg.Error(err).TableName]
		if !ok {
			why = "other records refer to it"
		}
		err = pg.Translate(err, radius.ECONFLICT, "plan: cannot be deleted: "+why)
	case err == nil && tag.RowsAffected() == 0:
		err = radius.Errorf(radius.ENOTFOUND, "id: no plan with id %d", id)
	}
	if err != nil {
		return fmt.Errorf("postgres: delete plan %d: %w", id, err)
	}
	return nil
}
