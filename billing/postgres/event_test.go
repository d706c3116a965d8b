package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tollgate/billing"
	"tollgate/billing/postgres"
	"tollgate/radius/pg"
)

// TestEvents: an event is recorded once per key, the dispatcher claims pending events
// oldest first while another transaction skips them, and processed ones are not claimed
// again.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	e.mustPlan(t, "Home", 0)
	sub, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: "alice", Password: "pw", Plan: "Home"})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range []billing.Event{
		{Kind: billing.EventRenewed, SubscriberID: sub.ID, Key: "renewed:1:100", Data: map[string]string{"amount": "20.00"}},
		{Kind: billing.EventRenewed, SubscriberID: sub.ID, Key: "renewed:1:100", Data: map[string]string{"amount": "99.00"}},
		{Kind: billing.EventReminder, SubscriberID: sub.ID, Key: "reminder:1:200:3"},
	} {
		wrote, err := e.store.RecordEvent(ctx, &ev)
		if err != nil || wrote != (i != 1) {
			t.Fatalf("event %d: wrote %v, %v", i, wrote, err)
		}
	}
	if _, err := e.store.RecordEvent(ctx, &billing.Event{Kind: "Bad Kind", SubscriberID: sub.ID, Key: "x"}); err == nil {
		t.Fatal("a bad kind was recorded")
	}
	err = pg.WithTx(ctx, e.pool, func(tx pgx.Tx) error {
		got, err := postgres.NewStore(tx).ClaimEvents(ctx, 10)
		if err != nil || len(got) != 2 || got[0].Key != "renewed:1:100" || got[0].Data["amount"] != "20.00" {
			t.Fatalf("claim = %+v, %v", got, err)
		}
		// Another dispatcher, meanwhile, finds nothing to claim.
		if err := pg.WithTx(ctx, e.pool, func(tx2 pgx.Tx) error {
			other, err := postgres.NewStore(tx2).ClaimEvents(ctx, 10)
			if err != nil || len(other) != 0 {
				t.Fatalf("concurrent claim = %+v, %v", other, err)
			}
			return nil
		}); err != nil {
			return err
		}
		return postgres.NewStore(tx).MarkEventsProcessed(ctx, []int64{got[0].ID, got[1].ID}, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.ClaimEvents(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim after processing = %+v, %v", got, err)
	}
	list, err := e.store.FindEvents(ctx, sub.ID, 10)
	if err != nil || len(list) != 2 || list[0].Kind != billing.EventReminder || list[0].ProcessedAt.IsZero() {
		t.Fatalf("FindEvents = %+v, %v", list, err)
	}
}
