package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"tollgate/billing"
	"tollgate/radius"
	"tollgate/radius/server"
)

type subscriberJSON struct {
	ID         int64      `json:"id"`
	Username   string     `json:"username"`
	Plan       string     `json:"plan"`
	Status     string     `json:"status"`
	StaticIP   string     `json:"static_ip,omitempty"`
	MAC        string     `json:"mac,omitempty"`
	MACLogin   bool       `json:"mac_login"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Name       string     `json:"name"`
	Email      string     `json:"email"`
	Phone      string     `json:"phone"`
	AutoRenew  bool       `json:"auto_renew"`
	// NextPlan is a plan change waiting for the next renewal.
	NextPlan string `json:"next_plan,omitempty"`
}

func toSubscriberJSON(s *billing.Subscriber) subscriberJSON {
	out := subscriberJSON{ID: s.ID, Username: s.Username, Plan: s.PlanName, Status: string(s.Status), MAC: s.MAC, MACLogin: s.MACLogin,
		Name: s.Name, Email: s.Email, Phone: s.Phone, AutoRenew: s.AutoRenew}
	if s.StaticIP.IsValid() {
		out.StaticIP = s.StaticIP.String()
	}
	if !s.ValidUntil.IsZero() {
		t := s.ValidUntil.UTC()
		out.ValidUntil = &t
	}
	return out
}

func cmdSubscriberAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscriber add")
	var in billing.NewSubscriber
	fs.StringVar(&in.Username, "username", "", "login name")
	fs.String("password", "", "password (PAP, CHAP, MS-CHAP); - reads it from stdin")
	fs.String("password-file", "", "read the password from the first line of this file")
	fs.StringVar(&in.Plan, "plan", "", "plan name")
	fs.StringVar(&in.StaticIP, "static-ip", "", "fixed IP address (Framed-IP-Address)")
	fs.StringVar(&in.MAC, "mac", "", "bind to this device MAC")
	fs.BoolVar(&in.MACLogin, "mac-login", false, "let the router log this subscriber in by its MAC (hotspot plans only; needs --mac)")
	profileFlags(fs)
	autoRenew := fs.Bool("auto-renew", true, "renew the subscription from the wallet by itself (priced PPPoE plans)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username"); err != nil {
		return err
	}
	in.Name, in.Email, in.Phone = flagValue(fs, "name"), flagValue(fs, "email"), flagValue(fs, "phone")
	in.AutoRenew = autoRenew
	pw, set, err := secretFlag(e, fs, "password")
	if err != nil {
		return err
	}
	if !set {
		return usagef("%s: --password or --password-file is required", fs.Name())
	}
	in.Password = pw
	if err := required(fs, "plan"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	s, err := d.billing.AddSubscriber(ctx, in)
	if err != nil {
		return err
	}
	return e.print(toSubscriberJSON(s), func(w io.Writer) {
		fmt.Fprintf(w, "added subscriber %q (id %d) on plan %q\n", s.Username, s.ID, s.PlanName)
		if st, err := d.money(nil).Subscription(ctx, s.Username); err == nil {
			fmt.Fprintf(w, "subscription: first period %s to %s, charged from the wallet by the next billing pass (balance %s)\n",
				st.PeriodStart.In(e.cfg.Location).Format(time.DateTime), st.PeriodEnd.In(e.cfg.Location).Format(time.DateTime),
				billing.FormatMoney(st.BalanceCents, e.cfg.Currency))
		}
	})
}

// profileFlags declares the profile flags of subscriber add and set.
func profileFlags(fs *flag.FlagSet) {
	fs.String("name", "", "the subscriber's name")
	fs.String("email", "", `e-mail address for notices ("" clears it)`)
	fs.String("phone", "", `phone number for SMS, international: +254712345678 or 00254 712 345 678 ("" clears it)`)
}

// flagValue returns the value of flag name.
func flagValue(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

func cmdSubscriberSet(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscriber set")
	username := fs.String("username", "", "login name")
	status := fs.String("status", "", "active, suspended or disabled")
	plan := fs.String("plan", "", "move to this plan (a subscriber with a subscription moves at the next renewal, see --now)")
	planNow := fs.Bool("now", false, "with --plan: switch a subscription's plan at once, without proration")
	profileFlags(fs)
	autoRenew := fs.Bool("auto-renew", true, "renew the subscription from the wallet by itself")
	fs.String("password", "", "new password; - reads it from stdin")
	fs.String("password-file", "", "read the new password from the first line of this file")
	mac := fs.String("mac", "", `bind to this device MAC ("" unbinds it)`)
	macLogin := fs.Bool("mac-login", false, "let the router log this subscriber in by its MAC (hotspot plans only)")
	portalPassword := fs.String("portal-password-file", "", "set the portal (/my) password from the first line of this file; - reads stdin")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username"); err != nil {
		return err
	}
	password, passwordSet, err := secretFlag(e, fs, "password")
	if err != nil {
		return err
	}
	var upd billing.SubscriberUpdate
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["status"] {
		st := radius.Status(*status)
		upd.Status = &st
	}
	if set["plan"] {
		upd.Plan = plan
	}
	if passwordSet {
		upd.Password = &password
	}
	if set["mac"] {
		upd.MAC = mac
	}
	if set["mac-login"] {
		upd.MACLogin = macLogin
	}
	for _, f := range []struct {
		name string
		dst  **string
	}{{"name", &upd.Name}, {"email", &upd.Email}, {"phone", &upd.Phone}} {
		if set[f.name] {
			v := flagValue(fs, f.name)
			*f.dst = &v
		}
	}
	if set["auto-renew"] {
		upd.AutoRenew = autoRenew
	}
	if set["now"] && !set["plan"] {
		return usagef("subscriber set: --now goes with --plan")
	}
	upd.PlanNow = *planNow
	if set["portal-password-file"] {
		if err := setPortalPassword(ctx, e, *username, *portalPassword, upd == (billing.SubscriberUpdate{})); err != nil {
			return err
		}
		if upd == (billing.SubscriberUpdate{}) {
			return nil
		}
	}
	if upd == (billing.SubscriberUpdate{}) {
		return usagef("subscriber set: nothing to change: give --status, --plan, --password, --password-file, --mac, --mac-login, --name, --email, --phone, --auto-renew or --portal-password-file")
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	s, err := d.billing.UpdateSubscriber(ctx, *username, upd)
	if err != nil {
		return err
	}
	// An online user feels the change at once: suspended or disabled users are cut, and a
	// new plan's rate limit reaches their open sessions by CoA.
	var coa []radius.CoAResult
	switch {
	case upd.Status != nil && *upd.Status != radius.StatusActive:
		enf, err := d.cliEnforcer(ctx)
		if err != nil {
			return err
		}
		if coa, err = enf.DisconnectUser(ctx, s.Username, string(*upd.Status)); err != nil {
			return err
		}
	case upd.Plan != nil && s.PlanName == *upd.Plan && s.Status == radius.StatusActive:
		if coa, err = d.planCoA(ctx, s.Username); err != nil {
			return err
		}
	}
	out := struct {
		subscriberJSON
		Sessions []coaJSON `json:"sessions"`
	}{toSubscriberJSON(s), toCoAJSON(coa)}
	if st, err := d.money(nil).Subscription(ctx, s.Username); err == nil && st.State != radius.SubscriptionCancelled {
		out.NextPlan = st.NextPlanName
	}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "updated subscriber %q: plan %q, status %s\n", s.Username, s.PlanName, s.Status)
		if out.NextPlan != "" {
			fmt.Fprintf(w, "plan %q takes effect at the next renewal (subscription show --username %s)\n", out.NextPlan, s.Username)
		}
		if len(coa) > 0 {
			printCoA(w, out.Sessions)
		}
	})
}

func cmdSubscriberImport(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscriber import")
	plan := fs.String("plan", "", "plan of every subscriber whose line names none (a plan column can name one per line)")
	file := fs.String("file", "", "CSV file: username,password lines, or a header naming username,password and any of plan,name,email,phone,mac,static_ip (- for stdin)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "file"); err != nil {
		return err
	}
	var r io.Reader = e.stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return radius.Errorf(radius.EINVALID, "file: %v", err)
		}
		defer f.Close()
		r = f
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := d.billing.ImportSubscribers(ctx, *plan, r)
	if err != nil {
		return err
	}
	took := time.Since(start)
	return e.print(map[string]any{"imported": n, "plan": *plan, "seconds": took.Seconds()}, func(w io.Writer) {
		if *plan == "" {
			fmt.Fprintf(w, "imported %d subscribers on the plans the file names in %.1fs\n", n, took.Seconds())
			return
		}
		fmt.Fprintf(w, "imported %d subscribers on plan %q in %.1fs\n", n, *plan, took.Seconds())
	})
}

// planCoA sends the subscriber's (new) rate limit to its open sessions.
func (d *deps) planCoA(ctx context.Context, username string) ([]radius.CoAResult, error) {
	open, err := d.radius.FindSessions(ctx, radius.SessionFilter{Username: username, Online: true, Limit: 1000})
	if err != nil || len(open) == 0 {
		return nil, err
	}
	a, err := d.radius.FindAccountByUsername(ctx, username, nil)
	if err != nil {
		return nil, err
	}
	nas, err := d.nasTable(ctx)
	if err != nil {
		return nil, err
	}
	dis := &disconnector{coa: server.NewCoAClient(time.Second, 2, d.log), nas: nas, store: d.radius}
	return dis.coaRateLimit(ctx, open, a, "plan_change")
}
