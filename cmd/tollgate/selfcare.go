package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal"
	"tollgate/portal/auth"
	authpg "tollgate/portal/auth/postgres"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// The subscriber portal's wiring and commands: portal passwords and invitations,
// privacy-policy versions, retention, and the staff reads of subscriber data that a
// restriction makes name a reason.

// linkTx is the auth.LinkTx of the one-time links: one transaction on pool with the
// portal account store and billing's event store bound to it, so a link and the event
// that mails it (or a spent link and the password it set) commit together.
func linkTx(pool *pgxpool.Pool) auth.LinkTx {
	return func(ctx context.Context, fn func(auth.UserStore, auth.LinkStore, billing.EventStore) error) error {
		return pg.WithTx(ctx, pool, func(tx pgx.Tx) error {
			st := authpg.New(tx)
			return fn(st, st, billingpg.NewStore(tx))
		})
	}
}

// privacy is the privacy service over the pool.
func (d *deps) privacy() *billing.Privacy {
	return &billing.Privacy{Store: billingpg.NewStore(d.pool), Now: time.Now}
}

// policies is the policy service over the pool, in the server's time zone.
func (d *deps) policies() *billing.Policies {
	return &billing.Policies{Store: billingpg.NewStore(d.pool), Now: time.Now, Loc: time.Local}
}

// portalMy is what the subscribers' pages call.
func portalMy(d *deps, svc *auth.Service) *portal.My {
	m := &portal.My{
		Privacy:  d.privacy(),
		Policies: d.policies(),
		Sessions: d.radius,
		Usage:    d.radius,
		Daily:    d.radius,
		Links:    &auth.Links{Auth: svc, InTx: linkTx(d.pool)},
		Loc:      time.Local,
	}
	privacyRights(d, m)
	return m
}

// setPortalPassword reads the portal password of `subscriber set --portal-password-file`
// (a file, or - for stdin) and makes it the subscriber's, ending its portal sessions;
// it prints the outcome when report is set.
func setPortalPassword(ctx context.Context, e *env, username, file string, report bool) error {
	var pw string
	var err error
	if file == "-" {
		pw, err = readSecret(e, "portal password")
	} else {
		pw, err = readSecretFile(file, "portal-password-file")
	}
	if err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	pr, err := d.privacy().Store.FindProfileByUsername(ctx, username)
	if err != nil {
		return err
	}
	svc, _, audit := portalStores(d, e.cfg)
	u, err := svc.SetSubscriberPassword(ctx, pr.SubscriberID, pw)
	if err != nil {
		return err
	}
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "subscriber.portal_password",
		Target: fmt.Sprintf("subscriber:%d", pr.SubscriberID)}); err != nil {
		return err
	}
	if !report {
		return nil
	}
	return e.print(map[string]any{"username": pr.Username, "portal_user_id": u.ID, "portal_password": "set"}, func(w io.Writer) {
		fmt.Fprintf(w, "portal password set for subscriber %q; its open portal sessions are ended\n", pr.Username)
	})
}

func cmdSubscriberInvite(ctx context.Context, e *env, args []string) error {
	fs := e.flags("subscriber invite")
	username := fs.String("username", "", "the subscriber to invite")
	printLink := fs.Bool("print", false, "print the link too (for an operator without SMTP: hand it over yourself)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if e.cfg.PublicURL == "" {
		return badVar("TOLLGATE_PUBLIC_URL", "required for invitations: the link points at the portal (e.g. https://wifi.example.com)")
	}
	pr, err := d.privacy().Store.FindProfileByUsername(ctx, *username)
	if err != nil {
		return err
	}
	svc, _, audit := portalStores(d, e.cfg)
	links := &auth.Links{Auth: svc, InTx: linkTx(d.pool)}
	inv, err := links.Invite(ctx, pr.Username, e.cfg.PublicURL)
	if err != nil {
		return err
	}
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "subscriber.invite",
		Target: fmt.Sprintf("subscriber:%d", inv.SubscriberID), Detail: map[string]any{"expires": inv.ExpiresAt.UTC()}}); err != nil {
		return err
	}
	// The portal_invite event goes out by email only with an email channel (the
	// notification dispatcher's rule) and an address.
	emailed := pr.Email != "" && e.cfg.Notify.SMTP.Host != ""
	out := map[string]any{"username": inv.Username, "expires": inv.ExpiresAt.UTC(), "emailed": emailed}
	if *printLink {
		out["link"] = inv.URL
	}
	return e.print(out, func(w io.Writer) {
		switch {
		case emailed:
			fmt.Fprintf(w, "invited %q: the link goes to %s; it works once, until %s\n", inv.Username, billing.MaskEmail(pr.Email), inv.ExpiresAt.Local().Format(time.RFC1123))
		case pr.Email != "":
			fmt.Fprintf(w, "invited %q, but this server sends no email (TOLLGATE_SMTP_URL is unset): hand the link over yourself (--print); it works once, until %s\n", inv.Username, inv.ExpiresAt.Local().Format(time.RFC1123))
		default:
			fmt.Fprintf(w, "invited %q, who has no email address: hand the link over yourself (--print); it works once, until %s\n", inv.Username, inv.ExpiresAt.Local().Format(time.RFC1123))
		}
		if *printLink {
			fmt.Fprintln(w, inv.URL)
		}
	})
}

// staffRead applies the staff-read rule (billing.CheckStaffRead) to a command that reads
// the data of the subscriber called username, and audits the read with its reason. A
// name that is no subscriber (a voucher's account, a typo) has no restriction to
// honour; the read is audited all the same.
func staffRead(ctx context.Context, e *env, d *deps, username, reason, what string) error {
	pr, err := d.privacy().Store.FindProfileByUsername(ctx, username)
	target := "username:" + username
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		pr = &billing.Profile{Username: username}
	case err != nil:
		return err
	default:
		target = fmt.Sprintf("subscriber:%d", pr.SubscriberID)
	}
	if reason, err = billing.CheckStaffRead(pr, reason); err != nil {
		return err
	}
	return auditStaffRead(ctx, e, d, target, what, reason, pr.Restricted)
}

// auditStaffRead writes the audit entry of a staff read of what, about target, with
// its reason (checked already) and whether the subscriber restricted processing.
func auditStaffRead(ctx context.Context, e *env, d *deps, target, what, reason string, restricted bool) error {
	detail := map[string]any{"read": what}
	if reason != "" {
		detail["reason"] = reason
	}
	if restricted {
		detail["restricted"] = true
	}
	_, _, audit := portalStores(d, e.cfg)
	return audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "subscriber.read", Target: target, Detail: detail})
}

type privacyJSON struct {
	Username     string                      `json:"username"`
	Consents     billing.Consents            `json:"consents"`
	Restricted   bool                        `json:"restricted"`
	Consent      []billing.ConsentChange     `json:"consent_history"`
	Restrictions []billing.RestrictionChange `json:"restriction_history"`
	Accepted     int                         `json:"policy_accepted"`
}

func cmdPrivacyShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("privacy show")
	username := fs.String("username", "", "the subscriber")
	reason := fs.String("reason", "", "why you read it (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	store := d.privacy().Store
	pr, err := store.FindProfileByUsername(ctx, *username)
	if err != nil {
		return err
	}
	if err := staffRead(ctx, e, d, pr.Username, *reason, "privacy"); err != nil {
		return err
	}
	out := privacyJSON{Username: pr.Username, Consents: pr.Consents, Restricted: pr.Restricted}
	if out.Consent, err = store.FindConsentHistory(ctx, pr.SubscriberID); err != nil {
		return err
	}
	if out.Restrictions, err = store.FindRestrictionHistory(ctx, pr.SubscriberID); err != nil {
		return err
	}
	if out.Accepted, err = d.policies().Store.AcceptedPolicy(ctx, pr.SubscriberID); err != nil {
		return err
	}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: reminders by email %v, by SMS %v, marketing %v; restricted %v; policy accepted: %d\n",
			pr.Username, pr.Consents.RemindersEmail, pr.Consents.RemindersSMS, pr.Consents.Marketing, pr.Restricted, out.Accepted)
		for _, c := range out.Consent {
			fmt.Fprintf(w, "  %s %-5s consents: email %v, sms %v, marketing %v\n", c.At.Local().Format(time.RFC3339), c.Source, c.RemindersEmail, c.RemindersSMS, c.Marketing)
		}
		for _, r := range out.Restrictions {
			fmt.Fprintf(w, "  %s %-5s restricted %v\n", r.At.Local().Format(time.RFC3339), r.Source, r.Restricted)
		}
	})
}

func cmdPolicyPublish(ctx context.Context, e *env, args []string) error {
	fs := e.flags("policy publish")
	file := fs.String("file", "", "the policy text, Markdown (- for stdin)")
	effective := fs.String("effective", "", "the day it takes effect, YYYY-MM-DD in the server's time zone (at least 30 days ahead unless --minor)")
	minor := fs.Bool("minor", false, "a change that alters nothing material: may take effect at once, without notice")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "file", "effective"); err != nil {
		return err
	}
	var body []byte
	var err error
	if *file == "-" {
		body, err = io.ReadAll(io.LimitReader(e.stdin, billing.MaxPolicyLen+1))
	} else {
		body, err = os.ReadFile(*file)
	}
	if err != nil {
		return radius.Errorf(radius.EINVALID, "file: %v", err)
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	link := "/privacy"
	if e.cfg.PublicURL != "" {
		link = e.cfg.PublicURL + "/privacy"
	}
	pub, err := d.policies().Publish(ctx, string(body), *effective, *minor, link)
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "policy.publish", Target: fmt.Sprintf("policy:%d", pub.Version),
		Detail: map[string]any{"effective": *effective, "minor": *minor, "announced": pub.Announced}}); err != nil {
		return err
	}
	return e.print(pub, func(w io.Writer) {
		kind := "material"
		if pub.Minor {
			kind = "minor"
		}
		fmt.Fprintf(w, "published policy version %d (%s), in effect from %s; announced to %d subscriber(s)\n",
			pub.Version, kind, pub.EffectiveAt.Format("2006-01-02"), pub.Announced)
	})
}

func cmdPolicyList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("policy list")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	versions, err := d.policies().Store.ListPolicies(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	cur := billing.CurrentPolicy(versions, now)
	type row struct {
		billing.PolicyVersion
		InEffect bool `json:"in_effect"`
		Current  bool `json:"current"`
		Bytes    int  `json:"bytes"`
	}
	out := make([]row, 0, len(versions))
	for _, v := range versions {
		out = append(out, row{PolicyVersion: v, InEffect: v.InEffect(now), Current: cur != nil && cur.Version == v.Version, Bytes: len(v.Body)})
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tPUBLISHED\tEFFECTIVE\tKIND\tSTATE")
		for _, r := range out {
			kind, state := "material", "pending"
			if r.Minor {
				kind = "minor"
			}
			switch {
			case r.Current:
				state = "current"
			case r.InEffect:
				state = "superseded"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Version, r.PublishedAt.Local().Format(time.RFC3339), r.EffectiveAt.Local().Format("2006-01-02"), kind, state)
		}
		tw.Flush()
	})
}

// retention is the retention pass over the pool.
func (d *deps) retention(months, financeYears int) *billing.Retention {
	return &billing.Retention{Store: billingpg.NewStore(d.pool), Months: months, FinanceYears: financeYears, Loc: time.Local}
}

func cmdRetentionRun(ctx context.Context, e *env, args []string) error {
	fs := e.flags("retention run")
	nowFlag := fs.String("now", "", "run as if it were this time (RFC 3339), for a test or a catch-up")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return usagef("retention run: --now: %q is not RFC 3339 (2026-12-01T00:00:00Z)", *nowFlag)
		}
		now = t
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	var rep *billing.RetentionReport
	ran, err := pg.WithJobLock(ctx, d.pool, "retention", func(ctx context.Context) error {
		rep, err = d.retention(e.cfg.RetentionMonths, e.cfg.FinanceRetentionYears).Run(ctx, now)
		return err
	})
	if err != nil {
		return err
	}
	if !ran {
		return radius.Errorf(radius.ECONFLICT, "retention: another run holds the lock; try again when it is done")
	}
	return e.print(rep, func(w io.Writer) {
		fmt.Fprintf(w, "retention %d months: keeping everything from %s\n", rep.Months, rep.Cutoff.Format(time.RFC3339))
		for _, p := range rep.Dropped {
			fmt.Fprintf(w, "dropped %s (%s, %s to %s)\n", p.Name, p.Table, p.From.Format("2006-01-02"), p.To.Format("2006-01-02"))
		}
		for table, n := range rep.Deleted {
			switch {
			case n > 0 && table == "coa_log":
				fmt.Fprintf(w, "deleted %d old rows of the CoA log\n", n)
			case n > 0:
				fmt.Fprintf(w, "deleted %d old rows of %s from its default partition\n", n, table)
			}
		}
		if len(rep.Dropped) == 0 {
			fmt.Fprintln(w, "no partition is past retention")
		}
		for table, n := range rep.Finance {
			if n > 0 {
				fmt.Fprintf(w, "finance records before %s: %d rows of %s archived\n", rep.FinanceCutoff.Format("2006-01-02"), n, table)
			}
		}
	})
}

// retentionJob is the daily cron job of retention.
func retentionJob(d *deps, months, financeYears int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		rep, err := d.retention(months, financeYears).Run(ctx, time.Now())
		if rep != nil {
			for _, p := range rep.Dropped {
				d.log.Info("retention dropped a partition", "table", p.Table, "partition", p.Name, "to", p.To.Format(time.RFC3339))
			}
			for table, n := range rep.Finance {
				if n > 0 {
					d.log.Info("retention archived finance records", "table", table, "rows", n, "before", rep.FinanceCutoff.Format(time.DateOnly))
				}
			}
		}
		return err
	}
}

// loadRetention reads TOLLGATE_RETENTION_MONTHS (1-1200, default 12) and
// TOLLGATE_FINANCE_RETENTION_YEARS (1-100, default 7).
func loadRetention(c *Config) error {
	for _, v := range []struct {
		name     string
		dst      *int
		def, max int
	}{
		{"TOLLGATE_RETENTION_MONTHS", &c.RetentionMonths, billing.DefaultRetentionMonths, 1200},
		{"TOLLGATE_FINANCE_RETENTION_YEARS", &c.FinanceRetentionYears, billing.DefaultFinanceRetentionYears, 100},
	} {
		*v.dst = v.def
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > v.max {
				return badVar(v.name, "%q is not a whole number from 1 to %d", s, v.max)
			}
			*v.dst = n
		}
	}
	return nil
}
