package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/billing/sms"
	"tollgate/billing/smtp"
	"tollgate/portal/auth"
	authpg "tollgate/portal/auth/postgres"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// notifier builds the notification service over d's pool with the channels cfg turns
// on: email with TOLLGATE_SMTP_URL, SMS with TOLLGATE_SMS_URL. Alerts go to the enabled
// portal admins.
func (d *deps) notifier(cfg *Config) (*billing.Notifier, error) {
	n := &billing.Notifier{
		InTx:      notifyTx(d.pool),
		Templates: billing.MustTemplates(),
		Operator:  cfg.OperatorName,
		Admins:    adminEmails(authpg.New(d.pool)),
		Now:       time.Now,
	}
	if n.Operator == "" {
		n.Operator = "tollgate"
	}
	nc := cfg.Notify
	if nc.SMTP.Host != "" {
		s, err := smtp.New(smtp.Config{Server: nc.SMTP, From: nc.MailFrom})
		if err != nil {
			return nil, badVar("TOLLGATE_SMTP_URL", "%s", radius.ErrorMessage(err))
		}
		n.Email = s
	}
	if nc.SMS.URL != "" {
		s, err := sms.New(nc.SMS)
		if err != nil {
			return nil, badVar("TOLLGATE_SMS_URL", "%s", radius.ErrorMessage(err))
		}
		n.SMS = s
	}
	return n, nil
}

// notifyTx is the notifier's billing.NotifyTx: one transaction on pool with billing's
// store (the outbox and the queue) bound to it.
func notifyTx(pool *pgxpool.Pool) billing.NotifyTx {
	return func(ctx context.Context, fn func(billing.EventStore, billing.NotificationStore) error) error {
		return pg.WithTx(ctx, pool, func(tx pgx.Tx) error {
			s := billingpg.NewStore(tx)
			return fn(s, s)
		})
	}
}

// adminEmails lists the addresses of the portal's enabled admins, for the alerts.
func adminEmails(users auth.UserStore) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		list, err := users.FindUsers(ctx)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, u := range list {
			if u.Role == auth.RoleAdmin && !u.Disabled() {
				out = append(out, u.Email)
			}
		}
		return out, nil
	}
}

// channelsLine says which notification channels are on, and where they go.
func channelsLine(n *billing.Notifier) []any {
	email, text := "off (TOLLGATE_SMTP_URL unset)", "off (TOLLGATE_SMS_URL unset)"
	if s, ok := n.Email.(fmt.Stringer); ok {
		email = "on, " + s.String()
	}
	if s, ok := n.SMS.(fmt.Stringer); ok {
		text = "on, " + s.String()
	}
	return []any{"email", email, "sms", text}
}

// notifyJobs are the cron jobs of the notifications: the dispatcher (events to queued
// messages) and the sender (queued messages out), each every TOLLGATE_NOTIFY_INTERVAL.
// It logs once which channels are on.
func notifyJobs(d *deps, cfg *Config) []job {
	n, err := d.notifier(cfg)
	if err != nil { // the configuration was checked at load: not reached
		d.log.Error("notifications off", "err", err)
		return nil
	}
	d.log.Info("notifications", channelsLine(n)...)
	return []job{
		{name: "notify-dispatch", every: cfg.Notify.Interval, run: func(ctx context.Context) error {
			r, err := n.Dispatch(ctx)
			logDispatch(ctx, d.log, r)
			return err
		}},
		{name: "notify-send", every: cfg.Notify.Interval, run: func(ctx context.Context) error {
			r, err := n.SendDue(ctx)
			if r.Sent+r.Retrying+r.Failed+r.Withheld > 0 {
				d.log.Debug("notifications sent", "sent", r.Sent, "retrying", r.Retrying, "failed", r.Failed, "withheld", r.Withheld)
			}
			if r.Failed > 0 {
				d.log.Warn("notifications failed for good (see tollgate notification list --state failed)", "count", r.Failed)
			}
			return err
		}},
	}
}

func logDispatch(ctx context.Context, log *slog.Logger, r billing.DispatchResult) {
	if len(r.Unknown) > 0 {
		kinds := make([]string, len(r.Unknown))
		for i, k := range r.Unknown {
			kinds[i] = string(k)
		}
		log.LogAttrs(ctx, slog.LevelWarn, "billing events without a message template were processed without a message",
			slog.String("kinds", strings.Join(kinds, ",")))
	}
}

type notifyRunJSON struct {
	Events   int      `json:"events"`
	Queued   int      `json:"queued"`
	Unknown  []string `json:"unknown_kinds"`
	Sent     int      `json:"sent"`
	Retrying int      `json:"retrying"`
	Failed   int      `json:"failed"`
	Withheld int      `json:"withheld"`
	Email    bool     `json:"email"`
	SMS      bool     `json:"sms"`
}

// cmdNotifyRun runs one pass of the notifications, as cron does: dispatch the pending
// events, then send the due messages.
func cmdNotifyRun(ctx context.Context, e *env, args []string) error {
	fs := e.flags("notify run")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	n, err := d.notifier(e.cfg)
	if err != nil {
		return err
	}
	dr, err := n.Dispatch(ctx)
	logDispatch(ctx, d.log, dr)
	if err != nil {
		return err
	}
	sr, err := n.SendDue(ctx)
	if err != nil {
		return err
	}
	on := n.Channels()
	out := notifyRunJSON{Events: dr.Events, Queued: dr.Queued, Unknown: []string{}, Sent: sr.Sent, Retrying: sr.Retrying,
		Failed: sr.Failed, Withheld: sr.Withheld, Email: on.Email, SMS: on.SMS}
	for _, k := range dr.Unknown {
		out.Unknown = append(out.Unknown, string(k))
	}
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "events processed: %d, messages queued: %d\n", out.Events, out.Queued)
		fmt.Fprintf(w, "sent: %d, to retry: %d, failed: %d, withheld (consent withdrawn): %d\n", out.Sent, out.Retrying, out.Failed, out.Withheld)
		line := channelsLine(n)
		fmt.Fprintf(w, "email: %s\nsms: %s\n", line[1], line[3])
	})
}

type notificationJSON struct {
	ID            int64      `json:"id"`
	CreatedAt     time.Time  `json:"created_at"`
	Kind          string     `json:"kind"`
	Subscriber    string     `json:"subscriber,omitempty"`
	Channel       string     `json:"channel"`
	Recipient     string     `json:"recipient"`
	Subject       string     `json:"subject,omitempty"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

type attemptJSON struct {
	At             time.Time `json:"at"`
	NotificationID int64     `json:"notification_id"`
	Attempt        int       `json:"attempt"`
	Kind           string    `json:"kind"`
	Subscriber     string    `json:"subscriber,omitempty"`
	Channel        string    `json:"channel"`
	Recipient      string    `json:"recipient"`
	Result         string    `json:"result"`
	Error          string    `json:"error,omitempty"`
	ProviderID     string    `json:"provider_id,omitempty"`
}

type notificationListJSON struct {
	Queue []notificationJSON `json:"queue"`
	Log   []attemptJSON      `json:"log"`
}

// cmdNotificationList shows the delivery queue and the notification log, newest first.
// They hold subscribers' addresses and numbers, so the read is audited.
func cmdNotificationList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("notification list")
	user := fs.String("subscriber", "", "only this subscriber's messages (username)")
	state := fs.String("state", "", "only messages in this state: queued, sent or failed")
	limit := fs.Int("limit", 50, "how many of each, newest first (1-10000)")
	reason := fs.String("reason", "", "why you read this subscriber's messages (required when the subscriber restricted processing)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *state != "" && !billing.NotificationState(*state).Valid() {
		return usagef("notification list: --state: %q is not queued, sent or failed", *state)
	}
	if *limit < 1 || *limit > 10000 {
		return usagef("notification list: --limit must be 1-10000")
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	f := billing.NotificationFilter{State: billing.NotificationState(*state), Limit: *limit}
	target := ""
	if *user != "" {
		sub, err := d.billing.Store.FindSubscriberByUsername(ctx, *user)
		if err != nil {
			return err
		}
		f.SubscriberID, target = sub.ID, fmt.Sprintf("subscriber:%d", sub.ID)
		pr, err := d.privacy().Store.FindProfile(ctx, sub.ID)
		if err != nil {
			return err
		}
		if *reason, err = billing.CheckStaffRead(pr, *reason); err != nil {
			return err
		}
	}
	store := billingpg.NewStore(d.pool)
	queue, err := store.FindNotifications(ctx, f)
	if err != nil {
		return err
	}
	log, err := store.FindNotificationLog(ctx, f)
	if err != nil {
		return err
	}
	_, _, audit := portalStores(d, e.cfg)
	if err := audit.Audit(ctx, auth.AuditEntry{Actor: auditActor(), Action: "notification.list", Target: target,
		Detail: map[string]any{"subscriber": *user, "state": *state, "limit": *limit, "queue": len(queue), "log": len(log), "reason": *reason}}); err != nil {
		return err
	}
	out := notificationListJSON{Queue: make([]notificationJSON, 0, len(queue)), Log: make([]attemptJSON, 0, len(log))}
	for _, m := range queue {
		j := notificationJSON{ID: m.ID, CreatedAt: m.CreatedAt.UTC(), Kind: string(m.Kind), Subscriber: m.Username, Channel: string(m.Channel),
			Recipient: m.Recipient, Subject: m.Subject, State: string(m.State), Attempts: m.Attempts, LastError: m.LastError}
		if m.State == billing.StateQueued {
			t := m.NextAttemptAt.UTC()
			j.NextAttemptAt = &t
		}
		if !m.SentAt.IsZero() {
			t := m.SentAt.UTC()
			j.SentAt = &t
		}
		out.Queue = append(out.Queue, j)
	}
	for _, a := range log {
		res := "ok"
		if !a.OK {
			res = "error"
		}
		out.Log = append(out.Log, attemptJSON{At: a.At.UTC(), NotificationID: a.NotificationID, Attempt: a.Attempt, Kind: string(a.Kind),
			Subscriber: a.Username, Channel: string(a.Channel), Recipient: a.Recipient, Result: res, Error: a.Error, ProviderID: a.ProviderID})
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "QUEUE\nID\tCREATED\tKIND\tSUBSCRIBER\tCHANNEL\tTO\tSTATE\tATTEMPTS\tNEXT/SENT\tLAST ERROR")
		for _, m := range out.Queue {
			when := ""
			switch {
			case m.SentAt != nil:
				when = m.SentAt.Format(time.RFC3339)
			case m.NextAttemptAt != nil:
				when = m.NextAttemptAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.CreatedAt.Format(time.RFC3339), m.Kind,
				orDash(m.Subscriber), m.Channel, m.Recipient, m.State, m.Attempts, orDash(when), m.LastError)
		}
		fmt.Fprintln(tw, "\nLOG\nTIME\tID\tTRY\tKIND\tSUBSCRIBER\tCHANNEL\tTO\tRESULT\tPROVIDER ID\tERROR")
		for _, a := range out.Log {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.At.Format(time.RFC3339), a.NotificationID, a.Attempt, a.Kind,
				orDash(a.Subscriber), a.Channel, a.Recipient, a.Result, orDash(a.ProviderID), a.Error)
		}
		tw.Flush()
	})
}
