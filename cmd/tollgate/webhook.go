package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"tollgate/portal/auth"
	"tollgate/webhook"
)

// `tollgate webhook list|add|remove|deliveries`: the outgoing webhooks' endpoints and
// their delivery log, as on the portal's /admin/webhooks.

type webhookJSON struct {
	ID          int64     `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Events      []string  `json:"events"`
	Enabled     bool      `json:"enabled"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	// Secret is the signing secret: only in the answer to webhook add.
	Secret string `json:"secret,omitempty"`
}

func toWebhookJSON(e *webhook.Endpoint) webhookJSON {
	return webhookJSON{ID: e.ID, URL: e.URL, Description: e.Description, Events: e.Events, Enabled: e.Enabled,
		CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt.UTC()}
}

func cmdWebhookAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("webhook add")
	url := fs.String("url", "", "where to POST the events (http:// or https://)")
	var events listFlag
	fs.Var(&events, "events", "event `TYPES` (repeatable or a comma list): "+strings.Join(webhook.EventTypes, ", "))
	desc := fs.String("description", "", "what the endpoint is, for the admins")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "url", "events"); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	actor := auditActor()
	ep, secret, err := d.webhooks().AddEndpoint(ctx, webhook.NewEndpoint{URL: *url, Description: *desc, Events: events, CreatedBy: actor})
	if err != nil {
		return err
	}
	if err := cliAudit(ctx, d, e, actor, "webhook.create", fmt.Sprintf("webhook:%d", ep.ID), map[string]any{"url": ep.URL, "events": ep.Events}); err != nil {
		return err
	}
	out := toWebhookJSON(ep)
	out.Secret = secret
	return e.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "webhook endpoint %d added for %s\nsigning secret (shown only now; give it to the receiver):\n%s\n", ep.ID, strings.Join(ep.Events, ", "), secret)
	})
}

func cmdWebhookList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("webhook list")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.webhooks().ListEndpoints(ctx)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, 0, len(list))
	for i := range list {
		out = append(out, toWebhookJSON(&list[i]))
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tENABLED\tCREATED")
		for _, ep := range out {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%s\n", ep.ID, ep.URL, strings.Join(ep.Events, ","), ep.Enabled, ep.CreatedAt.Format(time.RFC3339))
		}
		tw.Flush()
	})
}

func cmdWebhookRemove(ctx context.Context, e *env, args []string) error {
	fs := e.flags("webhook remove")
	id := fs.Int64("id", 0, "the endpoint's id (webhook list)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *id <= 0 {
		return usagef("webhook remove: --id is required")
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	if err := d.webhooks().DeleteEndpoint(ctx, *id); err != nil {
		return err
	}
	if err := cliAudit(ctx, d, e, auditActor(), "webhook.delete", fmt.Sprintf("webhook:%d", *id), nil); err != nil {
		return err
	}
	return e.print(map[string]any{"removed": *id}, func(w io.Writer) { fmt.Fprintf(w, "webhook endpoint %d removed with its queue\n", *id) })
}

type deliveryJSON struct {
	ID            int64      `json:"id"`
	Endpoint      int64      `json:"endpoint_id"`
	URL           string     `json:"url"`
	WebhookID     string     `json:"webhook_id"`
	Type          string     `json:"type"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

func cmdWebhookDeliveries(ctx context.Context, e *env, args []string) error {
	fs := e.flags("webhook deliveries")
	var f webhook.DeliveryFilter
	fs.Int64Var(&f.EndpointID, "endpoint", 0, "only this endpoint's")
	fs.StringVar(&f.State, "state", "", "only queued, delivered or failed")
	fs.IntVar(&f.Limit, "limit", 50, "how many, newest first (at most 1000)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := e.open(ctx)
	if err != nil {
		return err
	}
	list, err := d.webhooks().Deliveries(ctx, f)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(list))
	for _, x := range list {
		j := deliveryJSON{ID: x.ID, Endpoint: x.EndpointID, URL: x.URL, WebhookID: x.MsgID, Type: x.Type, State: x.State, Attempts: x.Attempts,
			CreatedAt: x.CreatedAt.UTC(), LastStatus: x.LastStatus, LastError: x.LastError}
		if x.State == webhook.StateQueued {
			t := x.NextAttemptAt.UTC()
			j.NextAttemptAt = &t
		}
		if !x.DeliveredAt.IsZero() {
			t := x.DeliveredAt.UTC()
			j.DeliveredAt = &t
		}
		out = append(out, j)
	}
	return e.print(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tENDPOINT\tTYPE\tSTATE\tATTEMPTS\tCREATED\tLAST")
		for _, x := range out {
			last := x.LastError
			if x.LastStatus != 0 {
				last = fmt.Sprintf("HTTP %d %s", x.LastStatus, x.LastError)
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\t%s\n", x.ID, x.Endpoint, x.Type, x.State, x.Attempts, x.CreatedAt.Format(time.RFC3339), last)
		}
		tw.Flush()
	})
}

// cliAudit writes one audit entry of the command line.
func cliAudit(ctx context.Context, d *deps, e *env, actor, action, target string, detail map[string]any) error {
	_, _, audit := portalStores(d, e.cfg)
	return audit.Audit(ctx, auth.AuditEntry{Actor: actor, Action: action, Target: target, Detail: detail})
}
