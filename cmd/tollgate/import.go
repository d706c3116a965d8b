package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/billing/freeradius"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/pg"
	radiuspg "tollgate/radius/postgres"
)

// importReport is what `tollgate import freeradius` prints: what it created (or, with
// --dry-run, would create) and what it left out. Passwords and secrets never appear.
type importReport struct {
	DryRun      bool               `json:"dry_run"`
	Plans       []planJSON         `json:"plans"`
	Subscribers []importSubscriber `json:"subscribers"`
	NAS         []importNAS        `json:"nas"`
	Sessions    int                `json:"sessions"`
	Skipped     int                `json:"skipped_users"`
	Problems    []string           `json:"not_imported"`
}

type importSubscriber struct {
	Username   string     `json:"username"`
	Plan       string     `json:"plan"`
	StaticIP   string     `json:"static_ip,omitempty"`
	MAC        string     `json:"mac,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Disabled   bool       `json:"disabled,omitempty"`
}

type importNAS struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	WeakSecret bool   `json:"weak_secret,omitempty"`
}

func cmdImportFreeRADIUS(ctx context.Context, e *env, args []string) error {
	fs := e.flags("import freeradius")
	from := fs.String("from-database-url", "", "the FreeRADIUS database (postgres://…), read only")
	dry := fs.Bool("dry-run", false, "print what would be created and what cannot be mapped; change nothing")
	withAcct := fs.Bool("with-accounting", false, "also import radacct as closed sessions")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "from-database-url"); err != nil {
		return err
	}
	cc, err := pgx.ParseConfig(*from)
	if err != nil {
		return usagef("import freeradius: --from-database-url: not a Postgres URL")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	src, err := pgx.ConnectConfig(cctx, cc)
	if err != nil {
		return fmt.Errorf("freeradius: cannot reach --from-database-url: %w", err)
	}
	defer src.Close(context.WithoutCancel(ctx))
	data, err := freeradius.Read(ctx, src, *withAcct)
	if err != nil {
		return err
	}
	im := freeradius.Map(data)
	rep := newImportReport(im, *dry)
	if !*dry {
		d, err := e.open(ctx)
		if err != nil {
			return err
		}
		if err := storeImport(ctx, d, im); err != nil {
			return err
		}
		_, _, audit := portalStores(d, e.cfg)
		if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "import.freeradius", Target: "",
			Detail: map[string]any{"plans": len(im.Plans), "subscribers": len(im.Subscribers), "nas": len(im.NAS),
				"sessions": len(im.Sessions), "skipped": im.Skipped}}); err != nil {
			return err
		}
	}
	return e.print(rep, func(w io.Writer) { rep.text(w) })
}

func newImportReport(im *freeradius.Import, dry bool) *importReport {
	rep := &importReport{DryRun: dry, Sessions: len(im.Sessions), Skipped: im.Skipped, Problems: orEmpty(im.Problems),
		Plans: []planJSON{}, Subscribers: []importSubscriber{}, NAS: []importNAS{}}
	for i := range im.Plans {
		rep.Plans = append(rep.Plans, toPlanJSON(&im.Plans[i]))
	}
	for _, s := range im.Subscribers {
		is := importSubscriber{Username: s.Username, Plan: s.Plan, StaticIP: s.StaticIP, MAC: s.MAC, Disabled: s.Disabled}
		if !s.ValidUntil.IsZero() {
			t := s.ValidUntil.UTC()
			is.ValidUntil = &t
		}
		rep.Subscribers = append(rep.Subscribers, is)
	}
	for _, n := range im.NAS {
		rep.NAS = append(rep.NAS, importNAS{Name: n.Name, Address: n.Prefix.String(), WeakSecret: n.Weak})
	}
	return rep
}

func (r *importReport) text(w io.Writer) {
	verb := "imported"
	if r.DryRun {
		verb = "would import (dry run: nothing was changed)"
	}
	fmt.Fprintf(w, "FreeRADIUS: %s %d plans, %d subscribers, %d routers, %d sessions; %d users skipped\n",
		verb, len(r.Plans), len(r.Subscribers), len(r.NAS), r.Sessions, r.Skipped)
	for _, p := range r.Plans {
		fmt.Fprintf(w, "plan %q: %s, rate %q, shared users %d, uptime %ds, data %d bytes, interim %ds, pool %q, address list %q\n",
			p.Name, p.Kind, p.RateLimit, p.SharedUsers, p.UptimeLimitSeconds, p.DataLimitBytes, p.InterimSeconds, p.Pool, p.AddressList)
	}
	for _, s := range r.Subscribers {
		fmt.Fprintf(w, "subscriber %q on %q", s.Username, s.Plan)
		if s.StaticIP != "" {
			fmt.Fprintf(w, ", static IP %s", s.StaticIP)
		}
		if s.MAC != "" {
			fmt.Fprintf(w, ", MAC %s", s.MAC)
		}
		if s.ValidUntil != nil {
			fmt.Fprintf(w, ", valid until %s", s.ValidUntil.Format(time.RFC3339))
		}
		if s.Disabled {
			fmt.Fprint(w, ", disabled")
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.NAS {
		weak := ""
		if n.WeakSecret {
			weak = " (weak secret)"
		}
		fmt.Fprintf(w, "router %q at %s%s\n", n.Name, n.Address, weak)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "not imported (%d):\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
}

// storeImport creates everything im holds in one transaction: all of it, or nothing
// (a name already taken in tollgate, say, fails the whole import). Secrets and
// passwords are sealed to their rows' reserved IDs; the caches and the RADIUS servers
// are told after the commit.
func storeImport(ctx context.Context, d *deps, im *freeradius.Import) error {
	var usernames []string
	err := pg.WithTx(ctx, d.pool, func(tx pgx.Tx) error {
		bs := billingpg.NewStore(tx)
		svc := &billing.Service{Store: bs, Sealer: d.sealer, Now: time.Now}
		for _, p := range im.Plans {
			if _, err := svc.CreatePlan(ctx, p); err != nil {
				return importError("plan "+strconv.Quote(p.Name), err)
			}
		}
		for _, s := range im.Subscribers {
			sub, err := svc.AddSubscriber(ctx, s.NewSubscriber)
			if err != nil {
				return importError("user "+strconv.Quote(s.Username), err)
			}
			var ch billing.SubscriberChange
			if !s.ValidUntil.IsZero() {
				ch.ValidUntil = &s.ValidUntil
			}
			if s.Disabled {
				st := radius.StatusDisabled
				ch.Status = &st
			}
			if ch.ValidUntil != nil || ch.Status != nil {
				if _, err := bs.UpdateSubscriber(ctx, sub.ID, ch); err != nil {
					return err
				}
			}
			usernames = append(usernames, sub.Username)
		}
		rs := radiuspg.New(tx)
		ids := map[string]int64{}
		for _, n := range im.NAS {
			id, err := rs.NextNASID(ctx)
			if err != nil {
				return err
			}
			n.ID = id
			if err := rs.CreateNAS(ctx, &n.NAS, d.sealer.Seal(n.Secret, radius.SealNASSecret.AD(id))); err != nil {
				return importError("nas "+strconv.Quote(n.Name), err)
			}
			ids[n.Name] = id
		}
		for i := range im.Sessions {
			im.Sessions[i].NASID = ids[im.Sessions[i].NASName]
		}
		_, err := rs.ImportSessions(ctx, im.Sessions)
		return err
	})
	if err != nil {
		return err
	}
	if len(im.NAS) > 0 {
		if err := pg.Notify(ctx, d.pool, "nas"); err != nil {
			return err
		}
	}
	return d.billing.Changes.AccountsChanged(ctx, usernames...)
}

// importError names the row an error is about, keeping its code and cause.
func importError(what string, err error) error {
	return &radius.Error{Code: radius.ErrorCode(err), Message: what + ": " + radius.ErrorMessage(err), Err: err}
}
