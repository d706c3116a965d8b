package postgres_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// TestDirectory: the admin's list finds subscribers by username, name, email, phone and
// MAC, filters by status, subscription state and plan, pages with a total, shows the
// subscription and the balance, and hides a restricted subscriber's personal data.
func TestDirectory(t *testing.T) {
	ctx := context.Background()
	m := mustMoneyEnv(t)
	m.plan(t, billing.Plan{Name: "Home 10M", PriceCents: 2000, Period: "month", Grace: 3 * 24 * time.Hour})
	day := m.plan(t, billing.Plan{Name: "Day pass", Kind: radius.KindHotspot, Validity: 24 * time.Hour})
	alice := m.add(t, "alice", "Home 10M")
	m.add(t, "bob", "Home 10M")
	m.add(t, "carol", "Day pass")
	m.add(t, "dave_1", "Home 10M")
	name, email, phone, mac := "Alice Wanjiru", "alice@example.com", "+254712345678", "aa:bb:cc:00:11:22"
	if _, err := m.svc.UpdateSubscriber(ctx, "alice", billing.SubscriberUpdate{Name: &name, Email: &email, Phone: &phone, MAC: &mac}); err != nil {
		t.Fatal(err)
	}
	m.credit(t, "alice", 5000) // pays the first month at once: 30.00 left
	suspended := radius.StatusSuspended
	if _, err := m.svc.UpdateSubscriber(ctx, "dave_1", billing.SubscriberUpdate{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	m.pass(t, "2027-01-31T11:00:00Z") // bob cannot pay: grace; dave is suspended: left alone
	dir := &billing.Directory{Store: m.store}
	list := func(q billing.SubscriberQuery) []string {
		t.Helper()
		page, err := dir.Subscribers(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		var names []string
		for _, r := range page.Rows {
			names = append(names, r.Username)
		}
		return names
	}
	for _, tc := range []struct {
		name string
		q    billing.SubscriberQuery
		want []string
	}{
		{"everyone by username", billing.SubscriberQuery{}, []string{"alice", "bob", "carol", "dave_1"}},
		{"a username", billing.SubscriberQuery{Search: "BO"}, []string{"bob"}},
		{"a name", billing.SubscriberQuery{Search: "wanjiru"}, []string{"alice"}},
		{"an email", billing.SubscriberQuery{Search: "@example.com"}, []string{"alice"}},
		{"a local phone number", billing.SubscriberQuery{Search: "0712 345"}, []string{"alice"}},
		{"a MAC in another spelling", billing.SubscriberQuery{Search: "00-11-22"}, []string{"alice"}},
		{"LIKE wildcards are literal", billing.SubscriberQuery{Search: "_"}, []string{"dave_1"}},
		{"nothing found", billing.SubscriberQuery{Search: "zed"}, nil},
		{"status", billing.SubscriberQuery{Status: radius.StatusSuspended}, []string{"dave_1"}},
		{"subscription state", billing.SubscriberQuery{State: radius.SubscriptionGrace}, []string{"bob"}},
		{"no subscription", billing.SubscriberQuery{State: billing.StateNone}, []string{"carol"}},
		{"plan", billing.SubscriberQuery{PlanID: day.ID}, []string{"carol"}},
		{"filters together", billing.SubscriberQuery{Search: "a", State: radius.SubscriptionActive}, []string{"alice", "dave_1"}},
		{"second page", billing.SubscriberQuery{Page: 2, PerPage: 3}, []string{"dave_1"}},
		{"past the end", billing.SubscriberQuery{Page: 9, PerPage: 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("%v; want %v", got, tc.want)
			}
		})
	}
	page, err := dir.Subscribers(ctx, billing.SubscriberQuery{PerPage: 3})
	if err != nil || page.Total != 4 || page.Pages() != 2 || len(page.Rows) != 3 {
		t.Fatalf("page %+v, %v", page, err)
	}
	a := page.Rows[0]
	if a.ID != alice.ID || a.Name != name || a.Email != email || a.Phone != phone || a.MAC != "AA:BB:CC:00:11:22" ||
		a.PlanName != "Home 10M" || a.State != radius.SubscriptionActive || a.BalanceCents != 3000 ||
		!a.NextRenewal.Equal(mustTime(t, "2027-02-28T10:00:00Z")) || !a.Paid {
		t.Errorf("alice's row %+v", a)
	}
	if c := page.Rows[2]; c.State != "" || !c.NextRenewal.IsZero() {
		t.Errorf("carol's row %+v: no subscription", c)
	}

	// A restricted subscriber is still found, but shows only what names the account.
	if _, err := m.pool.Exec(ctx, `UPDATE subscribers SET restricted = true WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	page, err = dir.Subscribers(ctx, billing.SubscriberQuery{Search: "wanjiru"})
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("%+v %v", page, err)
	}
	if r := page.Rows[0]; !r.Restricted || r.Name != "" || r.Email != "" || r.Phone != "" || r.MAC != "" || r.Username != "alice" || r.BalanceCents != 3000 {
		t.Errorf("restricted row %+v", r)
	}
	if _, err := dir.Subscribers(ctx, billing.SubscriberQuery{State: "late"}); radius.ErrorCode(err) != radius.EINVALID {
		t.Errorf("bad state: %v", err)
	}
}

// TestStaticIPUpdate: an admin sets, changes and clears a subscriber's static address;
// a bad one is refused naming the field.
func TestStaticIPUpdate(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	e.mustPlan(t, "Home", 0)
	if _, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "alice", Password: "pw", Plan: "Home", StaticIP: "10.0.0.5"}); err != nil {
		t.Fatal(err)
	}
	e.rec.take()
	set := func(ip string) (*billing.Subscriber, error) {
		return e.svc.UpdateSubscriber(ctx, "alice", billing.SubscriberUpdate{StaticIP: &ip})
	}
	s, err := set("10.0.0.9")
	if err != nil || s.StaticIP != netip.MustParseAddr("10.0.0.9") {
		t.Fatalf("set: %+v %v", s, err)
	}
	wantCalls(t, e.rec, []string{"alice"})
	name := "Alice"
	if s, err = e.svc.UpdateSubscriber(ctx, "alice", billing.SubscriberUpdate{Name: &name}); err != nil || s.StaticIP != netip.MustParseAddr("10.0.0.9") {
		t.Fatalf("another change kept the address: %+v %v", s, err)
	}
	if s, err = set(""); err != nil || s.StaticIP.IsValid() {
		t.Fatalf("clear: %+v %v", s, err)
	}
	_, err = set("10.0.0.300")
	wantErr(t, err, radius.EINVALID, `static-ip: "10.0.0.300" is not an IPv4 or IPv6 address`)
}
