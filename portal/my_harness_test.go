package portal

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal/auth"
	authpg "tollgate/portal/auth/postgres"
	"tollgate/radius/pg"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/seal"
)

// mustMy wires the subscribers' pages on pool as cmd/tollgate does, with the auth
// service's clock.
func mustMy(tb testing.TB, pool *pgxpool.Pool, svc *auth.Service) *My {
	tb.Helper()
	bs, rs := billingpg.NewStore(pool), radiuspg.New(pool)
	linkTx := func(ctx context.Context, fn func(auth.UserStore, auth.LinkStore, billing.EventStore) error) error {
		return pg.WithTx(ctx, pool, func(tx pgx.Tx) error {
			st := authpg.New(tx)
			return fn(st, st, billingpg.NewStore(tx))
		})
	}
	now := func() time.Time { return svc.Now() }
	sealer, err := seal.New(testKey)
	if err != nil {
		tb.Fatal(err)
	}
	rights := &billing.Rights{Store: bs, Now: now, Grace: billing.DefaultErasureGrace,
		InTx: func(ctx context.Context, fn func(billing.RightsStore) error) error {
			return pg.WithTx(ctx, pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx)) })
		}}
	// Notices have no email channel until a test gives one (withMail).
	notices := &billing.Notices{Operator: "Example ISP", Now: now,
		InTx: func(ctx context.Context, fn func(billing.NoticeStore) error) error {
			return pg.WithTx(ctx, pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx)) })
		}}
	return &My{
		Privacy:  &billing.Privacy{Store: bs, Now: now},
		Policies: &billing.Policies{Store: bs, Now: now},
		Sessions: rs, Usage: rs, Daily: rs,
		Links: &auth.Links{Auth: svc, InTx: linkTx},
		Money: &billing.SubscriberService{Store: bs, InTx: billingpg.InTx(pool), Now: now,
			Config: billing.MoneyConfig{TaxRules: billing.TaxRules{Currency: "KES", TaxRateBP: 1600, TaxName: "VAT"},
				Rules: billing.Rules{Location: time.UTC}}},
		Currency: "KES",
		Paybill:  "Pay to paybill 123456, account = your username",
		Rights:   rights,
		Export:   &billing.Exporter{Store: bs, Currency: "KES", Now: now},
		Emails: &billing.EmailChanges{Notices: notices, Now: now,
			InTx: func(ctx context.Context, fn func(billing.EmailChangeStore) error) error {
				return pg.WithTx(ctx, pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx)) })
			}},
		Profiles: &billing.Service{Store: bs, Sealer: sealer, Now: now},
		Erasure: &billing.Erasure{Rights: rights, Notices: notices, Sealer: sealer, Now: now,
			InTx: func(ctx context.Context, fn func(billing.ErasureStore, billing.LogEraser) error) error {
				return pg.WithTx(ctx, pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx), radiuspg.New(tx)) })
			}},
	}
}

// sub is a subscriber of the tests, whose portal password is "password-" + username.
type sub struct {
	ID       int64
	Username string
	Email    string
}

var planOnce sync.Map // harness → the plan was made

// mustSubscriber adds a PPPoE subscriber with email (may be "") and, when withPortal,
// a portal password "password-" + username.
func (h *harness) mustSubscriber(username, email string, withPortal bool) sub {
	h.t.Helper()
	ctx := context.Background()
	sealer, err := seal.New(testKey)
	if err != nil {
		h.t.Fatal(err)
	}
	bsvc := &billing.Service{Store: billingpg.NewStore(h.pool), Sealer: sealer}
	if _, loaded := planOnce.LoadOrStore(h, true); !loaded {
		if _, err := bsvc.CreatePlan(ctx, billing.Plan{Name: "Home 10M", Kind: "pppoe", RateLimit: "10M/10M", Validity: 30 * 24 * time.Hour}); err != nil {
			h.t.Fatal(err)
		}
	}
	s, err := bsvc.AddSubscriber(ctx, billing.NewSubscriber{Username: username, Password: "pppoe-secret", Plan: "Home 10M"})
	if err != nil {
		h.t.Fatal(err)
	}
	if email != "" {
		if _, err := h.pool.Exec(ctx, `UPDATE subscribers SET email = $2, phone = '+254712345678', name = 'Alice Wanjiru' WHERE id = $1`, s.ID, email); err != nil {
			h.t.Fatal(err)
		}
	}
	if withPortal {
		if _, err := h.p.deps.Auth.SetSubscriberPassword(ctx, s.ID, "password-"+username); err != nil {
			h.t.Fatal(err)
		}
	}
	return sub{ID: s.ID, Username: username, Email: email}
}

var walkers sync.Map // harness → sub

// walker is the harness's subscriber for the route walks, made on first use.
func (h *harness) walker() sub {
	if s, ok := walkers.Load(h); ok {
		return s.(sub)
	}
	s := h.mustSubscriber("walker", "walker@example.net", true)
	walkers.Store(h, s)
	return s
}

// mustLoginSubscriber signs s in through /login by username and checks it landed on /my.
func (c *client) mustLoginSubscriber(s sub) *client {
	c.h.t.Helper()
	resp, body := c.login(s.Username, "password-"+s.Username)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/my" || c.cookies[sessionCookie] == nil {
		c.h.t.Fatalf("subscriber login %s: %d %q %s", s.Username, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return c
}

// subscriberPages are the pages rendered with a myView (renderMy).
var subscriberPages = map[string]bool{"my": true, "my-privacy": true, "my-policy": true, "privacy": true, "forgot": true, "password": true,
	"email-confirm": true}

func init() {
	// The data of the money and rights pages, for renderPage.
	pageData["my-renew"] = func(v *view) any { return &myMoneyPage{view: v, Money: &moneyView{}} }
	pageData["my-invoices"] = func(v *view) any { return &myMoneyPage{view: v, Money: &moneyView{}} }
	pageData["my-topup"] = func(v *view) any { return &myMoneyPage{view: v, Money: &moneyView{}, Paybill: "Pay to paybill 1"} }
	pageData["my-invoice"] = func(v *view) any {
		return &myMoneyPage{view: v, Invoice: &billing.Invoice{Number: "INV-2026-000001", Kind: billing.KindInvoice}}
	}
	pageData["admin-requests"] = func(v *view) any { return &requestsView{view: v, Queue: &billing.Queue{}} }
}
