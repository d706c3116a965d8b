package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/radius"
)

var _ billing.DirectoryStore = (*Store)(nil)

// The admin's directory of subscribers. An admin query: its WHERE is built from
// constant pieces with every value a parameter, so each filter only adds what it needs
// (style habit 5 allows it here, never on the RADIUS path).

// directoryFrom joins what a row shows: the plan, the subscription (if any) and the
// wallet (every subscriber has one).
const directoryFrom = `
FROM subscribers s
JOIN plans p ON p.id = s.plan_id
LEFT JOIN subscriptions su ON su.subscriber_id = s.id
LEFT JOIN wallets w ON w.subscriber_id = s.id`

const directoryColumns = `s.id, s.username, s.name, coalesce(s.email, ''), coalesce(s.phone, ''), coalesce(s.mac, ''),
       p.name, s.status, coalesce(su.state, ''), su.paid, su.period_start, su.period_end,
       coalesce(w.balance_cents, 0), s.restricted`

// likePattern escapes s for LIKE with the default escape character and wraps it in %.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// FindSubscriberRows returns the page q selects, by username, and how many rows q
// selects in all. terms are q.Search parsed (billing.ParseSearch).
func (s *Store) FindSubscriberRows(ctx context.Context, q billing.SubscriberQuery, terms billing.SearchTerms) ([]billing.SubscriberRow, int, error) {
	var (
		args  []any
		where []string
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if terms.Text != "" {
		p := arg(likePattern(terms.Text))
		or := []string{"s.username ILIKE " + p, "s.name ILIKE " + p, "s.email ILIKE " + p}
		if terms.Digits != "" {
			or = append(or, "s.phone LIKE "+arg(likePattern(terms.Digits)))
		}
		if terms.MAC != "" {
			or = append(or, "replace(s.mac, ':', '') LIKE "+arg(likePattern(terms.MAC)))
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if q.Status != "" {
		where = append(where, "s.status = "+arg(string(q.Status)))
	}
	switch q.State {
	case "":
	case billing.StateNone:
		where = append(where, "su.id IS NULL")
	default:
		where = append(where, "su.state = "+arg(string(q.State)))
	}
	if q.PlanID != 0 {
		where = append(where, "s.plan_id = "+arg(q.PlanID))
	}
	cond := ""
	if len(where) > 0 {
		cond = "\nWHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRow(ctx, "SELECT count(*)"+directoryFrom+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: count subscribers: %w", err)
	}
	page := "\nORDER BY s.username\nLIMIT " + arg(q.PerPage) + " OFFSET " + arg((max(q.Page, 1)-1)*q.PerPage)
	rows, err := s.db.Query(ctx, "SELECT "+directoryColumns+directoryFrom+cond+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: find subscribers: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (billing.SubscriberRow, error) {
		var r billing.SubscriberRow
		var status, state string
		var paid *bool
		var start, end *time.Time
		err := row.Scan(&r.ID, &r.Username, &r.Name, &r.Email, &r.Phone, &r.MAC, &r.PlanName, &status, &state,
			&paid, &start, &end, &r.BalanceCents, &r.Restricted)
		r.Status, r.State = radius.Status(status), radius.SubscriptionState(state)
		if paid != nil && start != nil && end != nil && r.State != radius.SubscriptionCancelled {
			sub := billing.Subscription{Paid: *paid, PeriodStart: *start, PeriodEnd: *end}
			r.NextRenewal, r.Paid = sub.NextRenewal(), *paid
		}
		return r, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: find subscribers: %w", err)
	}
	return list, total, nil
}
