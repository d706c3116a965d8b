package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// The demo's names and credentials are printed on purpose: they exist to be typed.
const (
	demoNAS      = "demo-local"
	demoSecret   = "tollgate-demo"
	demoUser     = "demo"
	demoPassword = "demo-pass"
)

// cmdDemo loads a NAS for 127.0.0.1, a PPPoE plan, a hotspot plan and one subscriber,
// and prints the radclient line that logs the subscriber in. Plans that exist are left
// alone; the demo NAS's secret and the demo subscriber's password are sealed again with
// this process's key, so a second clone (another ./var/secret.key) on the same Postgres
// works.
func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := e.flags("demo")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if err := demoNASLoad(ctx, e, d); err != nil {
		return err
	}
	if err := pg.Notify(ctx, d.pool, "nas"); err != nil {
		return err
	}
	for _, p := range []billing.Plan{
		{Name: "home-10M", Kind: radius.KindPPPoE, PriceCents: 2000, RateLimit: "5M/10M 10M/20M 4M/8M 10/10", Validity: 30 * 24 * 3600e9, SharedUsers: 1, Interim: 300e9, Pool: "pppoe-pool"},
		{Name: "hotspot-1h", Kind: radius.KindHotspot, PriceCents: 100, RateLimit: "2M/4M", UptimeLimit: 3600e9, DataLimit: 1 << 30, SharedUsers: 1, Interim: 300e9},
	} {
		if _, err := d.billing.CreatePlan(ctx, p); ignoreConflict(err) != nil {
			return err
		}
	}
	_, err = d.billing.AddSubscriber(ctx, billing.NewSubscriber{Username: demoUser, Password: demoPassword, Plan: "home-10M"})
	if radius.ErrorCode(err) == radius.ECONFLICT {
		pw := demoPassword
		_, err = d.billing.UpdateSubscriber(ctx, demoUser, billing.SubscriberUpdate{Password: &pw})
	}
	if err != nil {
		return err
	}
	// home-10M is a priced PPPoE plan: the demo subscriber pays for a year in advance,
	// or the first billing pass would isolate him. The key makes a second demo a replay.
	_, err = d.money(nil).Credit(ctx, billing.CreditRequest{Username: demoUser, AmountCents: 12 * 2000, Note: "demo",
		IdempotencyKey: "demo-wallet", Actor: auditActor()})
	if err != nil {
		return err
	}
	port := "1812"
	if i := strings.LastIndex(e.cfg.RadiusAuthAddr, ":"); i >= 0 && e.cfg.RadiusAuthAddr[i+1:] != "" {
		port = e.cfg.RadiusAuthAddr[i+1:]
	}
	line := fmt.Sprintf("echo 'User-Name=%s,User-Password=%s,Service-Type=Framed-User,Framed-Protocol=PPP,Message-Authenticator=0x00' | radclient -x 127.0.0.1:%s auth %s", demoUser, demoPassword, port, demoSecret)
	return e.print(map[string]string{"nas": demoNAS, "user": demoUser, "radclient": line}, func(w io.Writer) {
		fmt.Fprintf(w, "demo loaded: NAS %q (127.0.0.1), plans home-10M (pppoe) and hotspot-1h (hotspot), subscriber %q (a year paid from the wallet)\n", demoNAS, demoUser)
		fmt.Fprintf(w, "log the demo subscriber in (needs freeradius-utils):\n  %s\n", line)
	})
}

// demoNASLoad adds the demo NAS, or seals the secret of the one there again.
func demoNASLoad(ctx context.Context, e *env, d *deps) error {
	n := &radius.NAS{Name: demoNAS, Prefix: netip.MustParsePrefix("127.0.0.1/32"), CoAPort: 3799, RequireMessageAuthenticator: true}
	id, err := d.radius.NextNASID(ctx) // the secret is sealed to the row's id
	if err != nil {
		return err
	}
	n.ID = id
	err = d.radius.CreateNAS(ctx, n, sealNASSecret(d, n, []byte(demoSecret)))
	if radius.ErrorCode(err) != radius.ECONFLICT {
		return err
	}
	cur, err := d.radius.FindNASByName(ctx, demoNAS)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		// Another NAS holds 127.0.0.1: it is the operator's, and stays as it is.
		fmt.Fprintf(e.stderr, "tollgate: warning: 127.0.0.1 belongs to another NAS (see tollgate nas list): the demo NAS was not added\n")
		return nil
	}
	if err != nil {
		return err
	}
	_, err = d.radius.UpdateNAS(ctx, demoNAS, radius.NASUpdate{SealedSecret: sealNASSecret(d, cur, []byte(demoSecret))})
	return err
}

func ignoreConflict(err error) error {
	if radius.ErrorCode(err) == radius.ECONFLICT {
		return nil
	}
	return err
}
