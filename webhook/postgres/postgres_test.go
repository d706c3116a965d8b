package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	billingpg "tollgate/billing/postgres"
	"tollgate/radius"
	"tollgate/radius/radiustest"
	"tollgate/radius/seal"
	"tollgate/webhook"
	"tollgate/webhook/postgres"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// received is one request a receiver took.
type received struct {
	Header http.Header
	Body   []byte
	Err    error // the signature check's
}

// receiver is a local HTTP endpoint that checks every request's signature with its
// secret and answers with the statuses of answers in turn (200 once they run out).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secret  string
	answers []int
	got     []received
}

func mustReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	r := &receiver{answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body, Err: webhook.Verify(r.secret, req.Header, body, time.Now())})
		status := http.StatusOK
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("thanks"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// env is a webhook service on a fresh database with a settable clock.
type env struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	svc   *webhook.Service
	clock *clock
}

func mustEnv(t *testing.T) *env {
	t.Helper()
	pool := radiustest.MustDB(t)
	sealer, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	st := postgres.New(pool)
	return &env{pool: pool, store: st, clock: c, svc: &webhook.Service{Store: st, InTx: postgres.InTx(pool), Sealer: sealer, Opener: sealer,
		Now: c.Now, Timeout: 5 * time.Second}}
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// mustEndpoint adds an endpoint of r for events and gives r its secret.
func (e *env) mustEndpoint(t *testing.T, r *receiver, events ...string) *webhook.Endpoint {
	t.Helper()
	ep, secret, err := e.svc.AddEndpoint(context.Background(), webhook.NewEndpoint{URL: r.srv.URL + "/hook", Events: events, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
	return ep
}

// TestBillingEventsDelivered: billing's outbox events that webhooks announce reach
// every endpoint that wants them, signed per Standard Webhooks, each once however often
// the outbox is read; the others (a renewal) are not sent.
func TestBillingEventsDelivered(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	all := mustReceiver(t)
	pay := mustReceiver(t)
	e.mustEndpoint(t, all, webhook.SubscriberIsolated, webhook.SubscriberRestored, webhook.PaymentReceived)
	e.mustEndpoint(t, pay, webhook.PaymentReceived)
	off := mustReceiver(t)
	offEP := e.mustEndpoint(t, off, webhook.PaymentReceived)
	if err := e.svc.SetEnabled(ctx, offEP.ID, false); err != nil {
		t.Fatal(err)
	}

	e.exec(t, `INSERT INTO plans (name, kind) VALUES ('gold', 'pppoe')`)
	e.exec(t, `INSERT INTO subscribers (username, password, plan_id) VALUES ('alice', '\x00', (SELECT id FROM plans))`)
	var sub int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM subscribers`).Scan(&sub); err != nil {
		t.Fatal(err)
	}
	events := billingpg.NewStore(e.pool)
	for _, ev := range []billing.Event{
		{Kind: billing.EventIsolated, SubscriberID: sub, Key: "isolated:1:1", Data: map[string]string{"amount": "20.00 USD"}},
		{Kind: billing.EventPaymentReceived, SubscriberID: sub, Key: "payment:9", Data: map[string]string{"amount": "25.00 USD", "receipt": "R-2026-1"}},
		{Kind: billing.EventRestored, SubscriberID: sub, Key: "restored:1:2"},
		{Kind: billing.EventRenewed, SubscriberID: sub, Key: "renewed:1:2"},
	} {
		if _, err := events.RecordEvent(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // a second reading finds nothing new
		if _, err := e.svc.Collect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.svc.SendDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 4 || res.Retrying != 0 || res.Failed != 0 {
		t.Fatalf("send %+v, want 4 delivered", res)
	}
	got := all.requests()
	if len(got) != 3 || len(pay.requests()) != 1 || len(off.requests()) != 0 {
		t.Fatalf("requests: all %d, payments %d, disabled %d", len(got), len(pay.requests()), len(off.requests()))
	}
	types := map[string]map[string]any{}
	for _, r := range got {
		if r.Err != nil {
			t.Fatalf("signature: %v (%s)", r.Err, r.Header.Get("webhook-signature"))
		}
		var m struct {
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339, m.Timestamp); err != nil {
			t.Fatalf("timestamp %q", m.Timestamp)
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("content type %q", r.Header.Get("Content-Type"))
		}
		types[m.Type] = m.Data
		key := map[string]string{webhook.SubscriberIsolated: "isolated:1:1", webhook.PaymentReceived: "payment:9", webhook.SubscriberRestored: "restored:1:2"}[m.Type]
		if id := r.Header.Get("webhook-id"); id != webhook.MessageID(m.Type, key) {
			t.Fatalf("%s: webhook-id %s, want %s", m.Type, id, webhook.MessageID(m.Type, key))
		}
	}
	if d := types[webhook.PaymentReceived]; d["username"] != "alice" || d["amount"] != "25.00 USD" || d["receipt"] != "R-2026-1" {
		t.Fatalf("payment data %v", d)
	}
	if _, ok := types[webhook.SubscriberRestored]; !ok {
		t.Fatalf("types %v", types)
	}
	if id := pay.requests()[0].Header.Get("webhook-id"); id != webhook.MessageID(webhook.PaymentReceived, "payment:9") {
		t.Fatalf("the second endpoint's webhook-id %s", id)
	}

	// The log holds each delivery with its attempt.
	list, err := e.svc.Deliveries(ctx, webhook.DeliveryFilter{})
	if err != nil || len(list) != 4 { // none for the disabled endpoint
		t.Fatalf("deliveries %d, %v", len(list), err)
	}
	for _, d := range list {
		as, err := e.svc.Attempts(ctx, d.ID)
		if err != nil || len(as) != 1 || as[0].Status != 200 || d.State != webhook.StateDelivered || d.DeliveredAt.IsZero() {
			t.Fatalf("delivery %+v attempts %+v %v", d, as, err)
		}
	}
}

// TestOutboxReading: an event committed late below events already read is still read,
// and the cursor moves only past events older than the settle time.
func TestOutboxReading(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	r := mustReceiver(t)
	e.mustEndpoint(t, r, webhook.PaymentReceived)
	e.exec(t, `INSERT INTO plans (name, kind) VALUES ('gold', 'pppoe')`)
	e.exec(t, `INSERT INTO subscribers (username, password, plan_id) VALUES ('alice', '\x00', (SELECT id FROM plans))`)
	insert := func(id int64, key string, age time.Duration) {
		t.Helper()
		e.exec(t, `INSERT INTO billing_events (id, at, kind, subscriber_id, key) OVERRIDING SYSTEM VALUE
VALUES ($1, now() - make_interval(secs => $3), 'payment_received', (SELECT id FROM subscribers), $2)`, id, key, age.Seconds())
	}
	insert(10, "payment:10", 0)
	if _, err := e.svc.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	insert(5, "payment:5", 0) // a transaction that began earlier commits now
	if _, err := e.svc.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(sql string) int64 {
		var n int64
		if err := e.pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM webhook_deliveries`); n != 2 {
		t.Fatalf("%d deliveries, want the late event's too", n)
	}
	if n := count(`SELECT below FROM webhook_outbox_cursor`); n != 0 {
		t.Fatalf("cursor at %d with only young events", n)
	}
	// Once they are old, the cursor passes them and their marks go.
	e.exec(t, `UPDATE billing_events SET at = at - interval '2 hours'`)
	insert(20, "payment:20", 0)
	if _, err := e.svc.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if below, marks := count(`SELECT below FROM webhook_outbox_cursor`), count(`SELECT count(*) FROM webhook_outbox_seen`); below != 10 || marks != 1 {
		t.Fatalf("cursor %d, %d marks; want 10 and the young event's one mark", below, marks)
	}
	if n := count(`SELECT count(*) FROM webhook_deliveries`); n != 3 {
		t.Fatalf("%d deliveries", n)
	}
}

// TestRetryBackoff: a receiver that fails is tried again after the backoff, the log
// holding every attempt with the receiver's status; one that always fails is given up
// after MaxAttempts.
func TestRetryBackoff(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	flaky := mustReceiver(t, http.StatusServiceUnavailable, http.StatusInternalServerError)
	ep := e.mustEndpoint(t, flaky, webhook.PaymentReceived)
	if _, err := e.svc.SendTest(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	step := func(want webhook.SendResult) {
		t.Helper()
		res, err := e.svc.SendDue(ctx)
		if err != nil || res != want {
			t.Fatalf("send %+v, %v; want %+v", res, err, want)
		}
	}
	step(webhook.SendResult{Retrying: 1})
	step(webhook.SendResult{}) // not due yet
	e.clock.Add(5 * time.Second)
	step(webhook.SendResult{Retrying: 1})
	e.clock.Add(29 * time.Second)
	step(webhook.SendResult{})
	e.clock.Add(time.Second)
	step(webhook.SendResult{Delivered: 1})
	list, err := e.svc.Deliveries(ctx, webhook.DeliveryFilter{EndpointID: ep.ID})
	if err != nil || len(list) != 1 || list[0].State != webhook.StateDelivered || list[0].Attempts != 3 {
		t.Fatalf("deliveries %+v %v", list, err)
	}
	as, err := e.svc.Attempts(ctx, list[0].ID)
	if err != nil || len(as) != 3 || as[0].Status != 503 || as[1].Status != 500 || as[2].Status != 200 || as[0].Error == "" {
		t.Fatalf("attempts %+v %v", as, err)
	}
	reqs := flaky.requests()
	if reqs[0].Header.Get("webhook-id") != reqs[2].Header.Get("webhook-id") {
		t.Fatal("a retry changed the webhook-id")
	}
	for _, r := range reqs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	dead := mustReceiver(t)
	dead.srv.Close() // nobody listens
	ep2 := e.mustEndpoint(t, dead, webhook.PaymentReceived)
	if _, err := e.svc.SendTest(ctx, ep2.ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < webhook.MaxAttempts; i++ {
		if _, err := e.svc.SendDue(ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(24 * time.Hour)
	}
	list, err = e.svc.Deliveries(ctx, webhook.DeliveryFilter{EndpointID: ep2.ID})
	if err != nil || len(list) != 1 || list[0].State != webhook.StateFailed || list[0].Attempts != webhook.MaxAttempts || list[0].LastError == "" {
		t.Fatalf("dead endpoint's delivery %+v %v", list, err)
	}
	// Sent again by hand: queued now, one more attempt.
	if err := e.svc.Retry(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if list, _ = e.svc.Deliveries(ctx, webhook.DeliveryFilter{State: webhook.StateQueued}); len(list) != 1 {
		t.Fatalf("queued after a retry: %+v", list)
	}
	if err := e.svc.DeleteEndpoint(ctx, ep2.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ = e.svc.Deliveries(ctx, webhook.DeliveryFilter{EndpointID: ep2.ID}); len(list) != 0 {
		t.Fatal("a deleted endpoint's deliveries stay")
	}
}

// TestSessionEvents: the feed queues session.start and session.stop with the session as
// stored, once each however often a router repeats it, and only while an endpoint wants
// them.
func TestSessionEvents(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	feed := &webhook.SessionFeed{Store: e.store, Flush: 10 * time.Millisecond}
	feed.Start(ctx)
	rec := &radius.AcctRecord{NASID: 1, SessionID: "81500001", Status: radius.AcctStart}
	feed.Observe(rec) // nobody wants sessions: nothing happens
	r := mustReceiver(t)
	e.mustEndpoint(t, r, webhook.SessionStart, webhook.SessionStop)
	if on, err := e.store.WantsSessions(ctx); err != nil || !on {
		t.Fatalf("WantsSessions = %v, %v", on, err)
	}
	feed.Want(true)

	e.exec(t, `INSERT INTO nas (name, address, secret) VALUES ('core', '10.0.0.1', '\x00')`)
	var nasID int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM nas`).Scan(&nasID); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e.exec(t, `INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update, framed_ip, mac)
VALUES ($1, '81500001', $2, 'alice', $2, '100.64.0.9', 'AA:BB:CC:00:00:01')`, nasID, start)
	rec.NASID = nasID
	feed.Observe(rec)
	feed.Observe(rec) // a retransmit
	e.exec(t, `UPDATE sessions SET stopped_at = $2, session_time = 600, input_octets = 1000, output_octets = 5000,
terminate_cause = 'User-Request' WHERE nas_id = $1`, nasID, start.Add(10*time.Minute))
	stop := *rec
	stop.Status = radius.AcctStop
	feed.Observe(&stop)
	feed.Close(ctx)
	if feed.Queued() != 2 {
		t.Fatalf("queued %d, want a start and a stop", feed.Queued())
	}
	if _, err := e.svc.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	var start0, stop0 struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	for i, dst := range []any{&start0, &stop0} {
		if got[i].Err != nil {
			t.Fatal(got[i].Err)
		}
		if err := json.Unmarshal(got[i].Body, dst); err != nil {
			t.Fatal(err)
		}
	}
	if start0.Type != webhook.SessionStart || start0.Data["username"] != "alice" || start0.Data["ip"] != "100.64.0.9" || start0.Data["nas"] != "core" ||
		start0.Data["start"] != "2026-03-01T10:00:00Z" || start0.Data["stop"] != nil {
		t.Fatalf("start %+v", start0)
	}
	if stop0.Type != webhook.SessionStop || stop0.Data["stop"] != "2026-03-01T10:10:00Z" || stop0.Data["output_octets"] != float64(5000) ||
		stop0.Data["terminate_cause"] != "User-Request" || stop0.Data["duration_seconds"] != float64(600) {
		t.Fatalf("stop %+v", stop0)
	}
	key := func(typ string) string {
		return webhook.MessageID(typ, itoa(nasID)+":81500001:"+itoa(start.Unix()))
	}
	if got[0].Header.Get("webhook-id") != key(webhook.SessionStart) || got[1].Header.Get("webhook-id") != key(webhook.SessionStop) {
		t.Fatalf("ids %s %s", got[0].Header.Get("webhook-id"), got[1].Header.Get("webhook-id"))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRestrictedNotSent: a subscriber who restricted processing is left out of the
// webhooks (an export to another system is not essential to the service): its billing
// events are read and marked but not queued, so lifting the restriction later sends
// no old news, and its sessions are not queued; another subscriber's are sent.
func TestRestrictedNotSent(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	r := mustReceiver(t)
	e.mustEndpoint(t, r, webhook.PaymentReceived, webhook.SessionStart)
	e.exec(t, `INSERT INTO plans (name, kind) VALUES ('gold', 'pppoe')`)
	e.exec(t, `INSERT INTO subscribers (username, password, plan_id, restricted) VALUES ('alice', '\x00', (SELECT id FROM plans), true), ('bob', '\x00', (SELECT id FROM plans), false)`)
	e.exec(t, `INSERT INTO nas (name, address, secret) VALUES ('core', '10.0.0.1', '\x00')`)
	events := billingpg.NewStore(e.pool)
	var nasID int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM nas`).Scan(&nasID); err != nil {
		t.Fatal(err)
	}
	feed := &webhook.SessionFeed{Store: e.store, Flush: 10 * time.Millisecond}
	feed.Start(ctx)
	feed.Want(true)
	for i, u := range []string{"alice", "bob"} {
		var sub int64
		if err := e.pool.QueryRow(ctx, `SELECT id FROM subscribers WHERE username = $1`, u).Scan(&sub); err != nil {
			t.Fatal(err)
		}
		if _, err := events.RecordEvent(ctx, &billing.Event{Kind: billing.EventPaymentReceived, SubscriberID: sub, Key: "payment:" + u}); err != nil {
			t.Fatal(err)
		}
		sid := "8170000" + itoa(int64(i))
		e.exec(t, `INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update, mac) VALUES ($1, $2, now(), $3, now(), 'AA:BB:CC:00:00:0`+itoa(int64(i))+`')`, nasID, sid, u)
		feed.Observe(&radius.AcctRecord{NASID: nasID, SessionID: sid, Status: radius.AcctStart})
	}
	feed.Close(ctx)
	if _, err := e.svc.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	// Lifted now: the event already read stays unsent.
	e.exec(t, `UPDATE subscribers SET restricted = false WHERE username = 'alice'`)
	if _, err := e.svc.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests; want bob's payment and session", len(got))
	}
	for _, g := range got {
		if !bytes.Contains(g.Body, []byte(`"bob"`)) || bytes.Contains(g.Body, []byte("alice")) {
			t.Fatalf("sent %s", g.Body)
		}
	}
	var queued int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE encode(payload, 'escape') LIKE '%alice%'`).Scan(&queued); err != nil || queued != 0 {
		t.Fatalf("%d messages about alice queued, %v", queued, err)
	}
}
