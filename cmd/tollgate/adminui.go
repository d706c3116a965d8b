package main

import (
	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal"
	"tollgate/radius"
)

// portalSubscribers is what the admin's subscriber pages call: the subscriber service,
// the money engine, the directory and the privacy store over the pool, and the RADIUS
// store for sessions and the auth log. Disconnects (a suspended subscriber's sessions,
// a restore after a top-up) load the NAS table as they go, as the API's do, so a
// portal-only process reaches every router.
func portalSubscribers(d *deps) *portal.Subscribers {
	dis := &lazyDisconnector{d: d, table: d.nasTableOrNone}
	enf := d.enforcer(func(int64) (radius.NAS, bool) { return radius.NAS{}, false })
	enf.Disconnect = dis
	st := billingpg.NewStore(d.pool)
	return &portal.Subscribers{
		Service:    d.billing,
		Money:      d.money(enf),
		Directory:  &billing.Directory{Store: st},
		Profiles:   st,
		Sessions:   d.radius,
		AuthLog:    d.radius,
		Disconnect: dis,
	}
}
