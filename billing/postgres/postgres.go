// Package postgres stores billing's plans and subscribers in Postgres with pgx. Every
// query is a constant next to the method that scans it; every method runs on a pg.DBTX,
// so a caller can pass a pool or a transaction it already holds.
package postgres

import (
	"time"

	"tollgate/billing"
	"tollgate/radius/pg"
)

// Store is billing's Postgres store.
type Store struct {
	db pg.DBTX
}

var _ billing.Store = (*Store)(nil)

// NewStore returns a Store that runs on db, a pool or a transaction.
func NewStore(db pg.DBTX) *Store { return &Store{db: db} }

// checkFields names the field (as the CLI flag) that a CHECK constraint guards, for the
// rare value that passes billing's validation but not the schema.
var checkFields = map[string]string{
	"plans_name_check":                 "name",
	"plans_kind_check":                 "kind",
	"plans_price_cents_check":          "price",
	"plans_validity_seconds_check":     "validity",
	"plans_uptime_limit_seconds_check": "uptime-limit",
	"plans_data_limit_bytes_check":     "data-limit",
	"plans_shared_users_check":         "shared-users",
	"plans_interim_seconds_check":      "interim",
	"plans_reseller_price_cents_check": "reseller-price",
	"plans_validity_from_check":        "validity-from",
	"plans_period_check":               "period",
	"plans_grace_seconds_check":        "grace",
	"plans_isolation_not_self":         "isolation-plan",
	"subscribers_username_check":       "username",
	"subscribers_status_check":         "status",
	"subscribers_mac_check":            "mac",
	"subscribers_name_check":           "name",
	"subscribers_email_check":          "email",
	"subscribers_phone_check":          "phone",
}

// nullTime maps a zero time to SQL NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nullString maps "" to SQL NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// timeOrZero maps SQL NULL back to a zero time.
func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
