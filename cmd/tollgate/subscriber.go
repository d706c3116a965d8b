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
}

func toSubscriberJSON(s *billing.Subscriber) subscriberJSON {
	out := subscriberJSON{ID: s.ID, Username: s.Username, Plan: s.PlanName, Status: string(s.Status), MAC: s.MAC, MACLogin: s.MACLogin}
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
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username"); err != nil {
		return err
	}
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
	})
}

func cmdSubscriberSet(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscriber set")
	username := fs.String("username", "", "login name")
	status := fs.String("status", "", "active, suspended or disabled")
	plan := fs.String("plan", "", "move to this plan")
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
	if set["portal-password-file"] {
		if err := setPortalPassword(ctx, e, *username, *portalPassword, upd == (billing.SubscriberUpdate{})); err != nil {
			return err
		}
		if upd == (billing.SubscriberUpdate{}) {
			return nil
		}
	}
	if upd == (billing.SubscriberUpdate{}) {
		return usagef("subscriber set: nothing to change: give --status, --plan, --password, --password-file, --mac, --mac-login or --portal-password-file")
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
	case upd.Plan != nil && s.Status == radius.StatusActive:
		if coa, err = d.planCoA(ctx, s.Username); err != nil {
			return err
		}
	}
	out := struct {
		subscriberJSON
		Sessions []coaJSON `json:"sessions"`
	}{toSubscriberJSON(s), toCoAJSON(coa)}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "updated subscriber %q: plan %q, status %s\n", s.Username, s.PlanName, s.Status)
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
