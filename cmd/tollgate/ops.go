package main

import (
	"context"
	"log/slog"
	"time"

	billingpg "tollgate/billing/postgres"
	"tollgate/portal"
	"tollgate/radius"
	"tollgate/radius/server"
	"tollgate/webhook"
	webhookpg "tollgate/webhook/postgres"
)

// The operator's pages (portal.Ops) and the outgoing webhooks, wired: the stores on the
// pool, the RADIUS server's per-NAS counters when this process runs one, disconnects
// and CoA through the NAS table as of each request.

// portalOps is what the portal's operator pages call. srv is this process's RADIUS
// server (nil without the radius role).
func portalOps(d *deps, srv *server.Server) *portal.Ops {
	o := &portal.Ops{
		Activity:   d.radius,
		Revenue:    billingpg.NewStore(d.pool),
		Routers:    d.radius,
		Sessions:   d.radius,
		Disconnect: &lazyDisconnector{d: d, table: d.nasTableOrNone},
		NAS:        d.radius,
		Plans:      d.billing,
		PlanCoA:    planCoA{d: d},
		Resellers:  d.resellers(),
		Webhooks:   d.webhooks(),
		Now:        time.Now,
	}
	if srv != nil {
		o.RADIUS = srv
	}
	return o
}

// planCoA sends a plan's rate limit to the sessions online that get their rate from
// it, through the NAS table as of now.
type planCoA struct{ d *deps }

var _ portal.PlanCoA = planCoA{}

// CoAPlan implements portal.PlanCoA: a CoA with the session's rate (or, where the
// router takes no CoA or the rate is removed, a disconnect so it redials).
func (p planCoA) CoAPlan(ctx context.Context, planID int64) ([]radius.CoAResult, error) {
	views, err := p.d.radius.FindSessionViews(ctx, radius.SessionQuery{Online: true, RatePlanID: planID, Limit: 10000})
	if err != nil || len(views) == 0 {
		return nil, err
	}
	nas, err := p.d.nasTable(ctx)
	if err != nil {
		return nil, err
	}
	dis := &disconnector{coa: server.NewCoAClient(time.Second, 2, p.d.log), nas: nas, store: p.d.radius, routers: p.d.routers()}
	var out []radius.CoAResult
	for _, v := range views {
		res, err := dis.coaRateLimit(ctx, []radius.Session{v.Session}, &radius.Account{RateLimit: v.RateLimit}, "plan_change")
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// webhooks is the outgoing webhooks' service over this process's pool.
func (d *deps) webhooks() *webhook.Service {
	return &webhook.Service{
		Store:  webhookpg.New(d.pool),
		InTx:   webhookpg.InTx(d.pool),
		Sealer: d.sealer,
		Opener: d.sealer,
		Now:    time.Now,
		Log:    d.log,
	}
}

// webhookInterval is how often the cron role reads the outbox and sends what is due.
const webhookInterval = 2 * time.Second

// startWebhooks runs the webhooks' collector and sender until ctx ends; the returned
// function waits for the pass in progress.
func startWebhooks(ctx context.Context, d *deps) func(ctx context.Context) {
	svc := d.webhooks()
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(ctx, webhookInterval)
	}()
	return func(wait context.Context) {
		select {
		case <-done:
		case <-wait.Done():
			d.log.LogAttrs(wait, slog.LevelWarn, "webhooks: a delivery still runs at shutdown")
		}
	}
}

// sessionFeed is the radius role's feed of Starts and Stops into the webhooks.
func (d *deps) sessionFeed() *webhook.SessionFeed {
	return &webhook.SessionFeed{Store: webhookpg.New(d.pool), Log: d.log}
}
