package portal

import (
	"context"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/radius"
	radiuspg "tollgate/radius/postgres"
	"tollgate/radius/seal"
	"tollgate/radius/server"
	"tollgate/webhook"
	webhookpg "tollgate/webhook/postgres"
)

// The operator's pages in tests: the real stores on the harness's database, and a
// disconnector and plan CoA that speak RFC 5176 to the NAS rows' CoA ports (a fake NAS
// from radiustest.MustCoANAS), as cmd's do.

// coaSender ends sessions and sends rates with a real CoA client, reading each NAS (its
// secret opened) from the database, and records the outcomes as cmd's disconnector does.
type coaSender struct {
	pool   *pgxpool.Pool
	sealer *seal.Sealer
	client *server.CoAClient
}

func (s *coaSender) nas(ctx context.Context, id int64) (radius.NAS, error) {
	list, err := radiuspg.New(s.pool).ListNAS(ctx)
	if err != nil {
		return radius.NAS{}, err
	}
	for _, n := range list {
		if n.ID == id {
			n.Secret, err = s.sealer.Open(n.Secret, radius.SealNASSecret.AD(n.ID))
			return n, err
		}
	}
	return radius.NAS{}, radius.Errorf(radius.ENOTFOUND, "nas: no NAS %d", id)
}

// Disconnect implements radius.Disconnector.
func (s *coaSender) Disconnect(ctx context.Context, ls radius.LiveSession, reason string) (radius.CoAResult, error) {
	n, err := s.nas(ctx, ls.Key.NASID)
	if err != nil {
		return radius.CoAResult{}, err
	}
	res, err := s.client.Disconnect(ctx, server.CoATarget{NAS: n, Addr: ls.NASAddr, Username: ls.Username, SessionID: ls.Key.SessionID, FramedIP: ls.FramedIP})
	res.Reason = reason
	if rerr := radiuspg.New(s.pool).RecordCoA(ctx, res); rerr != nil && err == nil {
		err = rerr
	}
	return res, err
}

// CoAPlan implements PlanCoA.
func (s *coaSender) CoAPlan(ctx context.Context, planID int64) ([]radius.CoAResult, error) {
	views, err := radiuspg.New(s.pool).FindSessionViews(ctx, radius.SessionQuery{Online: true, RatePlanID: planID, Limit: 10000})
	if err != nil {
		return nil, err
	}
	var out []radius.CoAResult
	for _, v := range views {
		n, err := s.nas(ctx, v.NASID)
		if err != nil {
			return out, err
		}
		res, err := s.client.CoA(ctx, server.CoATarget{NAS: n, Addr: v.NASAddr, Username: v.Username, SessionID: v.SessionID, FramedIP: v.FramedIP}, v.RateLimit, 0)
		if err != nil && res.Result == "" {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// fakeRADIUS is a RADIUS server's per-NAS counters as the NAS pages read them.
type fakeRADIUS struct {
	mu sync.Mutex
	a  []radius.NASActivity
}

func (f *fakeRADIUS) NASActivity() []radius.NASActivity {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]radius.NASActivity(nil), f.a...)
}

func (f *fakeRADIUS) set(a ...radius.NASActivity) {
	f.mu.Lock()
	f.a = a
	f.mu.Unlock()
}

// mustOps is the harness's Ops: the Postgres stores, billing's services, a webhook
// service, and CoA through coaSender.
func mustOps(tb testing.TB, pool *pgxpool.Pool, sealer *seal.Sealer, v *Vouchers) *Ops {
	tb.Helper()
	rs := radiuspg.New(pool)
	bs := billingpg.NewStore(pool)
	coa := &coaSender{pool: pool, sealer: sealer, client: server.NewCoAClient(300*time.Millisecond, 1, nil)}
	ws := webhookpg.New(pool)
	return &Ops{
		Activity:   rs,
		Revenue:    bs,
		Routers:    rs,
		Sessions:   rs,
		Disconnect: coa,
		RADIUS:     &fakeRADIUS{},
		NAS:        rs,
		Plans:      &billing.Service{Store: bs, Sealer: sealer},
		PlanCoA:    coa,
		Resellers:  v.Resellers,
		Webhooks:   &webhook.Service{Store: ws, InTx: webhookpg.InTx(pool), Sealer: sealer, Opener: sealer},
	}
}

// opsPages give the page walk (renderPage) each operator page's view, with sample data.
var opsPages = map[string]func(v *view) any{
	"admin": func(v *view) any {
		return &dashboardView{view: v, loc: time.UTC, D: &dashboard{
			Online: 2, OnlineByNAS: []radius.NamedCount{{Name: "core", Count: 2}}, OnlineByPlan: []radius.NamedCount{{Name: "gold", Count: 2}},
			Reasons: []radius.NamedCount{{Name: "bad_password", Count: 3}}, Routers: []radius.RouterState{{NASName: "core"}},
			SessionsChart: sessionsChart(nil, time.UTC), AuthChart: authChart(nil, time.Now(), time.UTC),
			RevenueChart: revenueChart(nil, newFormats(Config{}))}}
	},
	"admin-sessions": func(v *view) any {
		return &sessionsView{view: v, loc: time.UTC, Sessions: []radius.SessionView{{Session: radius.Session{Username: "alice"}}},
			Result: &disconnectResult{Result: "ack", OK: true}}
	},
	"admin-plans": func(v *view) any {
		return &plansView{view: v, Plans: []billing.Plan{{Name: "gold", Kind: radius.KindPPPoE, PriceCents: 2000}}, formView: formView{Form: map[string]string{}}}
	},
	"users": func(v *view) any {
		return &usersView{view: v, formView: formView{Form: map[string]string{"role": "admin"}}}
	},
	"admin-plan-coa": func(v *view) any {
		return &plansView{view: v, Plan: &billing.Plan{ID: 1, Name: "gold"}, Online: 2}
	},
	"admin-nas": func(v *view) any {
		return &nasView{view: v, loc: time.UTC, NAS: []nasRow{{NAS: radius.NAS{Name: "core", Prefix: netip.MustParsePrefix("10.0.0.1/32")}}},
			formView: formView{Form: map[string]string{}}}
	},
	"admin-nas-one": func(v *view) any {
		return &nasView{view: v, loc: time.UTC, One: &nasRow{NAS: radius.NAS{Name: "core"}}, formView: formView{Form: map[string]string{}}}
	},
	"admin-reseller": func(v *view) any {
		return &resellerView{view: v, Reseller: &billing.Reseller{ID: 1, Name: "Shop"}, formView: formView{Form: map[string]string{}}}
	},
	"admin-webhooks": func(v *view) any {
		return &webhooksView{view: v, loc: time.UTC, Types: webhook.EventTypes, Endpoints: []webhook.Endpoint{{ID: 1, URL: "https://x.example"}},
			formView: formView{Form: map[string]string{}}}
	},
	"admin-webhook-delivery": func(v *view) any {
		return &webhooksView{view: v, loc: time.UTC, Delivery: &webhook.Delivery{ID: 1}}
	},
}

// opsSeed is what the route walk's fixtures of the operator's pages need.
type opsSeed struct {
	nas      string
	plan     int64
	reseller int64
	endpoint int64
	delivery int64
}

var opsSeeds sync.Map // *harness → *opsSeed

var plansToDelete sync.Map // *harness → *billing.Plan: the route walk's plan to delete

// opsSeed makes, once per harness, a NAS, a plan, an endpoint with a delivery.
func (h *harness) opsSeed() *opsSeed {
	if s, ok := opsSeeds.Load(h); ok {
		return s.(*opsSeed)
	}
	h.t.Helper()
	ctx := context.Background()
	s := &opsSeed{nas: "walk-nas"}
	h.mustNAS(s.nas, "10.99.0.1", 3799)
	h.mustNAS("walk-del", "10.99.0.2", 3799)
	pl, err := h.p.deps.Vouchers.Plans.CreatePlan(ctx, billing.Plan{Name: "walk-plan", Kind: radius.KindPPPoE, RateLimit: "1M/1M"})
	if err != nil {
		h.t.Fatal(err)
	}
	s.plan = pl.ID
	list, err := h.p.deps.Vouchers.Resellers.ListResellers(ctx)
	if err != nil || len(list) == 0 {
		h.t.Fatal(err)
	}
	s.reseller = list[0].ID
	ep, _, err := h.p.deps.Ops.Webhooks.AddEndpoint(ctx, webhook.NewEndpoint{URL: "http://127.0.0.1:9/none", Events: []string{webhook.SessionStart}})
	if err != nil {
		h.t.Fatal(err)
	}
	s.endpoint = ep.ID
	if _, err := h.p.deps.Ops.Webhooks.SendTest(ctx, ep.ID); err != nil {
		h.t.Fatal(err)
	}
	ds, err := h.p.deps.Ops.Webhooks.Deliveries(ctx, webhook.DeliveryFilter{EndpointID: ep.ID})
	if err != nil || len(ds) == 0 {
		h.t.Fatal(err)
	}
	s.delivery = ds[0].ID
	opsSeeds.Store(h, s)
	return s
}

// mustNAS adds a NAS at addr whose CoA port is port, with the secret "coa-secret-" + name.
func (h *harness) mustNAS(name, addr string, port int) *radius.NAS {
	h.t.Helper()
	ctx := context.Background()
	rs := radiuspg.New(h.pool)
	n := &radius.NAS{Name: name, Prefix: netip.MustParsePrefix(addr + "/32"), CoAPort: port, RequireMessageAuthenticator: true}
	var err error
	if n.ID, err = rs.NextNASID(ctx); err != nil {
		h.t.Fatal(err)
	}
	if err := rs.CreateNAS(ctx, n, h.p.deps.Vouchers.Sealer.Seal([]byte("coa-secret-"+name), radius.SealNASSecret.AD(n.ID))); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func init() {
	unaudited["GET /admin/dashboard.json"] = "polled by static/dashboard.js; totals only, and the page is audited"
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	fixtures := map[string]func(h *harness, s *opsSeed) (string, url.Values){
		"GET /admin/nas/:name": func(h *harness, s *opsSeed) (string, url.Values) { return "/admin/nas/" + s.nas, nil },
		"POST /admin/nas/:name": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/nas/" + s.nas, url.Values{"address": {"10.99.0.1"}, "coa_port": {"3799"}, "require_ma": {"on"}}
		},
		"POST /admin/nas/:name/delete": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/nas/walk-del/delete", url.Values{"confirm": {"walk-del"}}
		},
		"GET /admin/plans/:id": func(h *harness, s *opsSeed) (string, url.Values) { return "/admin/plans/" + id(s.plan), nil },
		"POST /admin/plans/:id": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/plans/" + id(s.plan), url.Values{"name": {"walk-plan"}, "rate_limit": {"1M/1M"}}
		},
		"POST /admin/plans/:id/delete": func(h *harness, s *opsSeed) (string, url.Values) {
			// The walk asks for the path and the form apart: the first call makes a plan
			// to delete, the second takes the same one.
			if pl, ok := plansToDelete.LoadAndDelete(h); ok {
				pl := pl.(*billing.Plan)
				return "/admin/plans/" + id(pl.ID) + "/delete", url.Values{"confirm": {pl.Name}}
			}
			pl, err := h.p.deps.Vouchers.Plans.CreatePlan(context.Background(), billing.Plan{Name: "walk-gone-" + nextWalk(), Kind: radius.KindHotspot})
			if err != nil {
				h.t.Fatal(err)
			}
			plansToDelete.Store(h, pl)
			return "/admin/plans/" + id(pl.ID) + "/delete", url.Values{"confirm": {pl.Name}}
		},
		"GET /admin/plans/:id/coa": func(h *harness, s *opsSeed) (string, url.Values) { return "/admin/plans/" + id(s.plan) + "/coa", nil },
		"POST /admin/plans/:id/coa": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/plans/" + id(s.plan) + "/coa", url.Values{}
		},
		"GET /admin/resellers/:id": func(h *harness, s *opsSeed) (string, url.Values) { return "/admin/resellers/" + id(s.reseller), nil },
		"POST /admin/resellers/:id": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/resellers/" + id(s.reseller), url.Values{"email": {"shop@example.com"}, "credit_limit": {"0"}, "status": {"active"}}
		},
		"POST /admin/users": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/users", url.Values{"email": {"walk-add-" + nextWalk() + "@example.com"}, "password": {"walk-password-1"}, "role": {"admin"}}
		},
		"POST /admin/users/:id/role": func(h *harness, s *opsSeed) (string, url.Values) {
			u := h.mustUser("walk-role-" + nextWalk() + "@example.com")
			return "/admin/users/" + itoa64(u.ID) + "/role", url.Values{"role": {"admin"}}
		},
		"POST /admin/sessions/disconnect": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/sessions/disconnect", url.Values{"nas": {s.nas}, "id": {"gone"}}
		},
		"POST /admin/webhooks": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/webhooks", url.Values{"url": {"https://hooks.example.com/" + nextWalk()}, "event:session.stop": {"on"}}
		},
		"GET /admin/webhooks/deliveries/:id": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/webhooks/deliveries/" + id(s.delivery), nil
		},
		"POST /admin/webhooks/deliveries/:id/retry": func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/webhooks/deliveries/" + id(s.delivery) + "/retry", url.Values{}
		},
	}
	for _, a := range []string{"enable", "disable", "test"} {
		fixtures["POST /admin/webhooks/:id/"+a] = func(h *harness, s *opsSeed) (string, url.Values) {
			return "/admin/webhooks/" + id(s.endpoint) + "/" + a, url.Values{}
		}
	}
	fixtures["POST /admin/webhooks/:id/delete"] = func(h *harness, s *opsSeed) (string, url.Values) {
		ep, _, err := h.p.deps.Ops.Webhooks.AddEndpoint(context.Background(), webhook.NewEndpoint{URL: "https://gone.example.com", Events: []string{webhook.SessionStop}})
		if err != nil {
			h.t.Fatal(err)
		}
		return "/admin/webhooks/" + id(ep.ID) + "/delete", url.Values{}
	}
	for k, f := range fixtures {
		routeFixtures[k] = func(h *harness) (string, url.Values) {
			p, v := f(h, h.opsSeed())
			if v == nil {
				v = url.Values{}
			}
			return p, v
		}
	}
}
