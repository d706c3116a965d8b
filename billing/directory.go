package billing

import (
	"context"
	"strings"
	"time"
	"unicode"

	"tollgate/radius"
)

// The admin's directory of subscribers: one page of a list that an operator searches by
// what a customer tells on the phone (username, name, email, phone number, a router's
// MAC) and narrows by account status, subscription state and plan.

// SubscriberQuery selects one page of the directory. Zero fields do not filter.
type SubscriberQuery struct {
	// Search is what the admin typed (see ParseSearch).
	Search string
	Status radius.Status
	// State is a subscription state, or StateNone for subscribers without a
	// subscription (hotspot and free plans).
	State  radius.SubscriptionState
	PlanID int64
	// Page counts from 1; PerPage is its length (default DefaultPerPage, at most
	// MaxPerPage).
	Page    int
	PerPage int
}

// StateNone selects, in SubscriberQuery.State, the subscribers who have no
// subscription.
const StateNone radius.SubscriptionState = "none"

// Directory page lengths.
const (
	DefaultPerPage = 50
	MaxPerPage     = 200
	maxSearchLen   = 200
)

// SearchTerms are what a search matches, as ParseSearch derives them; the store ORs
// them.
type SearchTerms struct {
	// Text is matched, case-insensitively, anywhere in the username, name and email.
	Text string
	// Digits, when the search looks like a phone number, are matched inside the stored
	// E.164 number: the digits without leading zeros, so "0712 345" finds +254712345678.
	Digits string
	// MAC, when the search looks like (part of) a MAC address, is its hex digits in
	// upper case, matched inside the stored MAC without its colons.
	MAC string
}

// ParseSearch reads what an admin typed into the terms a store matches. A phone number
// is recognised when s holds at least 3 digits and otherwise only +, spaces, dashes,
// dots and brackets; a MAC when s holds at least 4 hex digits and otherwise only :, -
// and dots.
func ParseSearch(s string) SearchTerms {
	t := SearchTerms{Text: strings.TrimSpace(s)}
	if t.Text == "" {
		return SearchTerms{}
	}
	var digits, hex strings.Builder
	phone, mac := true, true
	for _, r := range t.Text {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
			hex.WriteRune(r)
		case r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F':
			phone = false
			hex.WriteRune(unicode.ToUpper(r))
		case r == ':':
			phone = false
		case r == '-' || r == '.':
		case r == '+' || r == ' ' || r == '(' || r == ')':
			mac = false
		default:
			phone, mac = false, false
		}
	}
	if d := strings.TrimLeft(digits.String(), "0"); phone && digits.Len() >= 3 && d != "" {
		t.Digits = d
	}
	if mac && hex.Len() >= 4 && hex.Len() <= 12 {
		t.MAC = hex.String()
	}
	return t
}

// SubscriberRow is one line of the directory.
type SubscriberRow struct {
	ID       int64
	Username string
	// Name, Email, Phone and MAC are "" for a restricted subscriber (see Directory).
	Name     string
	Email    string
	Phone    string
	MAC      string
	PlanName string
	Status   radius.Status
	// State is the subscription's, "" without one; NextRenewal when it is next
	// charged (zero without one), Paid whether the current period is paid (if not,
	// NextRenewal is when it was due).
	State       radius.SubscriptionState
	NextRenewal time.Time
	Paid        bool
	// BalanceCents is the wallet's balance.
	BalanceCents int64
	Restricted   bool
}

// SubscriberPage is one page of the directory and how many subscribers the query
// selects in all.
type SubscriberPage struct {
	Rows    []SubscriberRow
	Total   int
	Page    int
	PerPage int
}

// Pages is the number of pages of the query (at least 1).
func (p *SubscriberPage) Pages() int {
	if p.PerPage <= 0 || p.Total <= p.PerPage {
		return 1
	}
	return (p.Total + p.PerPage - 1) / p.PerPage
}

// DirectoryStore runs directory queries (Postgres).
type DirectoryStore interface {
	// FindSubscriberRows returns the page q selects, by username, with the total
	// count; terms are q.Search parsed. q is checked (Directory.Subscribers).
	FindSubscriberRows(ctx context.Context, q SubscriberQuery, terms SearchTerms) ([]SubscriberRow, int, error)
}

// Directory answers the admin's list of subscribers.
type Directory struct {
	Store DirectoryStore
}

// CheckSubscriberQuery checks q and fills its defaults. EINVALID naming the field.
func CheckSubscriberQuery(q SubscriberQuery) (SubscriberQuery, error) {
	q.Search = strings.TrimSpace(q.Search)
	switch {
	case len(q.Search) > maxSearchLen:
		return q, invalid("search: at most %d characters", maxSearchLen)
	case q.Status != "" && !q.Status.Valid():
		return q, invalid("status: %q is not %s, %s or %s", q.Status, radius.StatusActive, radius.StatusSuspended, radius.StatusDisabled)
	case q.State != "" && q.State != StateNone && !q.State.Valid():
		return q, invalid("state: %q is not %s, %s, %s, %s or %s", q.State, radius.SubscriptionActive, radius.SubscriptionGrace,
			radius.SubscriptionIsolated, radius.SubscriptionCancelled, StateNone)
	case q.PlanID < 0:
		return q, invalid("plan: not a plan")
	case q.Page < 0:
		return q, invalid("page: must be 1 or more")
	case q.PerPage < 0 || q.PerPage > MaxPerPage:
		return q, invalid("per_page: must be 1 to %d", MaxPerPage)
	}
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PerPage == 0 {
		q.PerPage = DefaultPerPage
	}
	return q, nil
}

// Subscribers returns the page q selects. A restricted subscriber's row keeps only
// what identifies the account (username, plan, states, balance): reading the name,
// email, phone or MAC of one takes a reason (CheckStaffRead), given on the subscriber's
// own page. EINVALID.
func (d *Directory) Subscribers(ctx context.Context, q SubscriberQuery) (*SubscriberPage, error) {
	q, err := CheckSubscriberQuery(q)
	if err != nil {
		return nil, err
	}
	rows, total, err := d.Store.FindSubscriberRows(ctx, q, ParseSearch(q.Search))
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if r := &rows[i]; r.Restricted {
			r.Name, r.Email, r.Phone, r.MAC = "", "", "", ""
		}
	}
	return &SubscriberPage{Rows: rows, Total: total, Page: q.Page, PerPage: q.PerPage}, nil
}
