package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/billing/payments"
	billingpg "tollgate/billing/postgres"
	"tollgate/portal"
	"tollgate/portal/auth"
	"tollgate/radius"
	"tollgate/radius/pg"
	radiuspg "tollgate/radius/postgres"
)

// The privacy center's rights (issue 9, second part): their wiring for the portal and
// cron, their settings, and the commands that answer requests arriving by email or on
// paper: privacy export, erase, reviews, decide, and run (the erasures that are due,
// which cron also runs).

// PrivacyConfig is TOLLGATE_ERASURE_GRACE and TOLLGATE_PAYBILL_TEXT.
type PrivacyConfig struct {
	// ErasureGrace is the delay between a subscriber's erasure request and its
	// execution, while it may be cancelled.
	ErasureGrace time.Duration
	// Paybill is what /my/topup shows when no payment provider is configured: the
	// operator's instructions ("Pay to paybill 123456, account = your username").
	Paybill string
}

// loadPrivacy reads TOLLGATE_ERASURE_GRACE (0 to 90 days, default 7d; "7d", "48h")
// and TOLLGATE_PAYBILL_TEXT (at most 500 characters).
func loadPrivacy(c *Config) error {
	c.Privacy.ErasureGrace = billing.DefaultErasureGrace
	if v := os.Getenv("TOLLGATE_ERASURE_GRACE"); v != "" {
		d, err := billing.ParseDuration(v)
		if err != nil || d < 0 || d > 90*24*time.Hour {
			return badVar("TOLLGATE_ERASURE_GRACE", "%q is not a duration from 0 to 90d (e.g. 7d)", v)
		}
		c.Privacy.ErasureGrace = d
	}
	c.Privacy.Paybill = strings.TrimSpace(os.Getenv("TOLLGATE_PAYBILL_TEXT"))
	if len(c.Privacy.Paybill) > 500 {
		return badVar("TOLLGATE_PAYBILL_TEXT", "at most 500 characters")
	}
	return nil
}

// redacted is what `tollgate config` prints of the privacy settings.
func (p PrivacyConfig) redacted() [][2]string {
	return [][2]string{
		{"TOLLGATE_ERASURE_GRACE", p.ErasureGrace.String()},
		{"TOLLGATE_PAYBILL_TEXT", p.Paybill},
	}
}

// rights is the requests service over the pool.
func (d *deps) rights() *billing.Rights {
	return &billing.Rights{
		Store: billingpg.NewStore(d.pool),
		InTx: func(ctx context.Context, fn func(billing.RightsStore) error) error {
			return pg.WithTx(ctx, d.pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx)) })
		},
		Grace: d.cfg.Privacy.ErasureGrace,
		Now:   time.Now,
	}
}

// notices are the privacy center's emails, sent with the notifier's email channel (off
// without TOLLGATE_SMTP_URL).
func (d *deps) notices() (*billing.Notices, error) {
	n, err := d.notifier(d.cfg)
	if err != nil {
		return nil, err
	}
	return &billing.Notices{
		Email:     n.Email,
		Templates: n.Templates,
		Operator:  n.Operator,
		InTx: func(ctx context.Context, fn func(billing.NoticeStore) error) error {
			return pg.WithTx(ctx, d.pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx)) })
		},
		Now: time.Now,
	}, nil
}

// erasure is the erasure service over the pool; dis ends the subscriber's sessions.
func (d *deps) erasure(dis billing.Disconnector) (*billing.Erasure, error) {
	notices, err := d.notices()
	if err != nil {
		return nil, err
	}
	svc, sessions, _ := portalStores(d, d.cfg)
	return &billing.Erasure{
		Rights: d.rights(),
		InTx: func(ctx context.Context, fn func(billing.ErasureStore, billing.LogEraser) error) error {
			return pg.WithTx(ctx, d.pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx), radiuspg.New(tx)) })
		},
		Changes:    d.billing.Changes,
		Disconnect: dis,
		Forget:     &forgetter{d: d, sessions: sessions, auth: svc},
		Notices:    notices,
		Sealer:     d.sealer,
		Now:        time.Now,
	}, nil
}

// exporter makes the subscriber's export. Tables that other parts add beside
// billing's join it as ExportSections (billing.Exporter.Sections).
func (d *deps) exporter() *billing.Exporter {
	return &billing.Exporter{Store: billingpg.NewStore(d.pool), Currency: d.cfg.Currency, Now: time.Now}
}

// lazyEnforcer is an enforcer for a process that may run no RADIUS server: each
// disconnect loads the NAS table.
func (d *deps) lazyEnforcer() *radius.Enforcer {
	enf := d.enforcer(func(int64) (radius.NAS, bool) { return radius.NAS{}, false })
	enf.Disconnect = &lazyDisconnector{d: d, table: d.nasTableOrNone}
	return enf
}

// forgetter purges Redis of an erased subscriber: the cached accounts under its name
// and MACs, its usage and live sessions, its portal sessions and sign-in counters.
type forgetter struct {
	d        *deps
	sessions auth.SessionStore
	auth     *auth.Service
}

// Forget implements billing.Forgetter: every step is tried, and the errors are joined.
func (f *forgetter) Forget(ctx context.Context, s *billing.ErasureSubject) error {
	keys := []string{radius.AccountKey(s.Username)}
	for _, m := range s.MACs {
		keys = append(keys, radius.MACKey(m))
	}
	errs := []error{f.d.cache.DeleteAccounts(ctx, keys...), f.d.live.Forget(ctx, s.Username, s.Sessions)}
	if s.PortalUserID != 0 {
		_, err := f.sessions.EndUserSessions(ctx, s.PortalUserID)
		errs = append(errs, err)
	}
	for _, login := range []string{auth.SubscriberActor(s.Username), strings.ToLower(s.Username), s.Email} {
		if login != "" {
			errs = append(errs, f.auth.Limits.ClearEmail(ctx, login))
		}
	}
	return errors.Join(errs...)
}

// privacyRights fills the rights and money parts of the subscribers' pages.
func privacyRights(d *deps, m *portal.My) {
	cfg := d.cfg
	m.Money = d.money(d.lazyEnforcer())
	m.Currency, m.Paybill = cfg.Currency, cfg.Privacy.Paybill
	m.TopUp = topUpStarter(d)
	m.Rights = d.rights()
	m.Export = d.exporter()
	m.Profiles = d.billing
	notices, err := d.notices()
	if err != nil { // the configuration was checked at load: not reached
		d.log.Error("privacy notices off", "err", err)
		return
	}
	m.Emails = &billing.EmailChanges{
		InTx: func(ctx context.Context, fn func(billing.EmailChangeStore) error) error {
			return pg.WithTx(ctx, d.pool, func(tx pgx.Tx) error { return fn(billingpg.NewStore(tx)) })
		},
		Notices: notices,
		Now:     time.Now,
	}
	if m.Erasure, err = d.erasure(d.lazyEnforcer()); err != nil {
		d.log.Error("erasure off", "err", err)
	}
}

// topUpStarter is the payment provider's checkout for /my/topup: Paystack's, through
// the payments service, when TOLLGATE_PAYSTACK_SECRET_KEY is set; nil otherwise, which
// shows TOLLGATE_PAYBILL_TEXT instead.
func topUpStarter(d *deps) portal.TopUpStarter {
	if d.cfg.PaystackSecretKey == "" {
		return nil
	}
	return paystackTopUp{pay: d.payments(d.money(d.lazyEnforcer()))}
}

// paystackTopUp starts a subscriber's Paystack checkout.
type paystackTopUp struct{ pay *payments.Service }

// StartTopUp implements portal.TopUpStarter.
func (p paystackTopUp) StartTopUp(ctx context.Context, username string, amountCents int64) (string, error) {
	_, url, err := p.pay.StartTopUp(ctx, username, amountCents, string(payments.Paystack))
	return url, err
}

// privacyJob is cron's job of the erasures that are due, under the job lock that
// `privacy run` also takes.
func privacyJob(d *deps, dis billing.Disconnector) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		er, err := d.erasure(dis)
		if err != nil {
			return err
		}
		run, err := er.RunDue(ctx, time.Now())
		if err != nil {
			return err
		}
		for _, x := range run.Erased {
			d.log.Info("erasure done", "request", x.RequestID, "pseudonym", x.Pseudonym, "notified", x.Notified)
			if err := auditErased(ctx, d, "cron", &x); err != nil {
				return err
			}
		}
		if len(run.Postponed) > 0 {
			return fmt.Errorf("erasures postponed: %s", strings.Join(run.Postponed, "; "))
		}
		return nil
	}
}

// auditErased writes the audit entry of an erasure carried out: the pseudonym, never
// an old identifier.
func auditErased(ctx context.Context, d *deps, actor string, x *billing.Erased) error {
	_, _, audit := portalStores(d, d.cfg)
	detail := map[string]any{"pseudonym": x.Pseudonym, "notified": x.Notified, "disconnected": x.Disconnected}
	if x.NoNotice != "" {
		detail["no_notice"] = x.NoNotice
	}
	return audit.Audit(ctx, auth.AuditEntry{Actor: actor, Action: "erasure.done", Target: billing.RequestTarget(x.RequestID), Detail: detail})
}

// parseNow reads a --now flag: RFC 3339, or "" for the present.
func parseNow(cmd, v string) (time.Time, error) {
	if v == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("%s: --now: %q is not RFC 3339 (2026-12-01T00:00:00Z)", cmd, v)
	}
	return t, nil
}

func cmdPrivacyExport(ctx context.Context, e *env, args []string) error {
	fs := e.flags("privacy export")
	username := fs.String("username", "", "the subscriber")
	out := fs.String("out", "", "write the document to FILE (default: standard output)")
	reason := fs.String("reason", "", "the request it answers (required when the subscriber restricted processing)")
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
	pr, err := d.privacy().Store.FindProfileByUsername(ctx, *username)
	if err != nil {
		return err
	}
	if err := staffRead(ctx, e, d, pr.Username, *reason, "export"); err != nil {
		return err
	}
	doc, err := d.exporter().Export(ctx, pr.SubscriberID)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	req, err := d.rights().RecordExport(ctx, pr.SubscriberID, billing.SourceCLI, auditActor(), *reason)
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "privacy.export", Target: billing.RequestTarget(req.ID),
		Detail: map[string]any{"subscriber": pr.SubscriberID, "bytes": len(b), "file": *out != ""}}); err != nil {
		return err
	}
	if *out == "" {
		_, err := e.stdout.Write(append(b, '\n'))
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o600); err != nil {
		return radius.Errorf(radius.EINVALID, "out: %v", err)
	}
	fmt.Fprintf(e.stderr, "wrote the export of %q (%d bytes) to %s; request %d recorded as answered\n", pr.Username, len(b), *out, req.ID)
	return nil
}

func cmdPrivacyRun(ctx context.Context, e *env, args []string) error {
	fs := e.flags("privacy run")
	nowFlag := fs.String("now", "", "run as if it were this time (RFC 3339), for a test or a catch-up")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	now, err := parseNow("privacy run", *nowFlag)
	if err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	enf, err := d.cliEnforcer(ctx)
	if err != nil {
		return err
	}
	er, err := d.erasure(enf)
	if err != nil {
		return err
	}
	var run *billing.ErasureRun
	ran, err := pg.WithJobLock(ctx, d.pool, "privacy", func(ctx context.Context) error {
		run, err = er.RunDue(ctx, now)
		return err
	})
	if err != nil {
		return err
	}
	if !ran {
		return radius.Errorf(radius.ECONFLICT, "privacy run: another run holds the lock; try again when it is done")
	}
	for i := range run.Erased {
		if err := auditErased(ctx, d, auditActor(), &run.Erased[i]); err != nil {
			return err
		}
	}
	err = e.print(run, func(w io.Writer) {
		for _, x := range run.Erased {
			fmt.Fprintf(w, "erased subscriber %d (request %d): now %s; notified %v\n", x.SubscriberID, x.RequestID, x.Pseudonym, x.Notified)
			for _, warn := range x.Warnings {
				fmt.Fprintf(w, "  warning: %s\n", warn)
			}
		}
		for _, p := range run.Postponed {
			fmt.Fprintf(w, "postponed: %s\n", p)
		}
		if len(run.Erased)+len(run.Postponed) == 0 {
			fmt.Fprintln(w, "no erasure is due")
		}
	})
	if err == nil && len(run.Postponed) > 0 {
		return radius.Errorf(radius.ECONFLICT, "privacy run: %d erasure(s) postponed", len(run.Postponed))
	}
	return err
}

func cmdPrivacyErase(ctx context.Context, e *env, args []string) error {
	fs := e.flags("privacy erase")
	username := fs.String("username", "", "the subscriber to erase now")
	reason := fs.String("reason", "", "the request it answers: when and how it came")
	noNotice := fs.Bool("no-email", false, "erase without emailing the old address (it is known to be dead)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "username", "reason"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	pr, err := d.privacy().Store.FindProfileByUsername(ctx, *username)
	if err != nil {
		return err
	}
	enf, err := d.cliEnforcer(ctx)
	if err != nil {
		return err
	}
	er, err := d.erasure(enf)
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	// Written before the erasure, which then pseudonymises it with everything else.
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "erasure.on_request",
		Target: fmt.Sprintf("subscriber:%d", pr.SubscriberID), Detail: map[string]any{"reason": *reason}}); err != nil {
		return err
	}
	x, err := er.EraseNow(ctx, pr.SubscriberID, billing.SourceCLI, auditActor(), *reason, billing.EraseOptions{NoNotice: *noNotice})
	if err != nil {
		return err
	}
	if err := auditErased(ctx, d, auditActor(), x); err != nil {
		return err
	}
	return e.print(x, func(w io.Writer) {
		fmt.Fprintf(w, "erased subscriber %d: the kept records now carry %s\n", x.SubscriberID, x.Pseudonym)
		if x.Notified {
			fmt.Fprintln(w, "the old address was told before it was dropped")
		} else {
			fmt.Fprintf(w, "no notice sent: %s\n", x.NoNotice)
		}
		for _, warn := range x.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	})
}

func cmdPrivacyReviews(ctx context.Context, e *env, args []string) error {
	fs := e.flags("privacy reviews")
	all := fs.Bool("all", false, "the decided reviews too")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.rights().Reviews(ctx, *all)
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "privacy_request.list", Detail: map[string]any{"kind": "review", "count": len(list)}}); err != nil {
		return err
	}
	if list == nil {
		list = []billing.DataRequest{}
	}
	now := time.Now()
	return e.print(list, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSUBSCRIBER\tASKED\tDUE\tSTATE\tDECISION")
		for _, r := range list {
			state := string(r.State)
			if r.Outcome != "" {
				state += ": " + r.Outcome
			}
			if r.Overdue(now) {
				state += " (overdue)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Username, r.CreatedAt.Local().Format(time.DateOnly),
				r.DueAt.Local().Format(time.DateOnly), state, r.Decision)
		}
		tw.Flush()
		for _, r := range list {
			if r.State == billing.RequestOpen {
				fmt.Fprintf(w, "\n#%d %s: %s\n", r.ID, r.Username, r.Message)
			}
		}
	})
}

func cmdPrivacyDecide(ctx context.Context, e *env, args []string) error {
	fs := e.flags("privacy decide")
	id := fs.Int64("id", 0, "the review's request id (privacy reviews)")
	outcome := fs.String("outcome", "", "upheld (the decision stands) or changed (you changed it)")
	note := fs.String("note", "", "the explanation the subscriber is sent")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "outcome", "note"); err != nil {
		return err
	}
	if *id <= 0 {
		return usagef("privacy decide: --id is required")
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	r, err := d.rights().DecideReview(ctx, *id, *outcome, *note, auditActor())
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "review.decide", Target: billing.RequestTarget(r.ID),
		Detail: map[string]any{"outcome": r.Outcome}}); err != nil {
		return err
	}
	return e.print(r, func(w io.Writer) {
		fmt.Fprintf(w, "review %s decided: %s; the subscriber %s is told\n", strconv.FormatInt(r.ID, 10), r.Outcome, r.Username)
	})
}
