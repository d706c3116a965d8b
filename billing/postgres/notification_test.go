package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	"tollgate/billing/postgres"
	"tollgate/billing/sms"
	"tollgate/billing/smtp"
	"tollgate/radius"
	"tollgate/radius/pg"
)

// notifyTx is the billing.NotifyTx cmd/tollgate builds: one transaction on pool with the
// store bound to it.
func notifyTx(pool *pgxpool.Pool) billing.NotifyTx {
	return func(ctx context.Context, fn func(billing.EventStore, billing.NotificationStore) error) error {
		return pg.WithTx(ctx, pool, func(tx pgx.Tx) error {
			s := postgres.NewStore(tx)
			return fn(s, s)
		})
	}
}

// notifyEnv is a database with a plan, an in-process SMTP server and SMS gateway, and a
// Notifier sending to them with a settable clock.
type notifyEnv struct {
	*env
	smtp *billingtest.SMTPServer
	gw   *billingtest.Gateway
	n    *billing.Notifier
	mu   sync.Mutex
	now  time.Time
}

func mustNotifyEnv(t *testing.T) *notifyEnv {
	t.Helper()
	e := &notifyEnv{env: mustEnv(t), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	e.mustPlan(t, "Home", 0)
	e.smtp = billingtest.MustSMTP(t, billingtest.SMTPOptions{StartTLS: true})
	e.gw = billingtest.MustGateway(t)
	e.n = e.notifier(t)
	return e
}

// notifier returns a new Notifier (another replica) on e's database and servers.
func (e *notifyEnv) notifier(t *testing.T) *billing.Notifier {
	t.Helper()
	server, err := smtp.ParseURL("smtp://" + e.smtp.Addr())
	if err != nil {
		t.Fatal(err)
	}
	from, _ := smtp.ParseFrom("Example ISP <billing@example.net>")
	mailer, err := smtp.New(smtp.Config{Server: server, From: from, TLS: e.smtp.ClientTLS, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gateway, err := sms.New(sms.Config{URL: e.gw.URL + "/send?to={to}&text={text}", Method: "GET", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &billing.Notifier{
		InTx: notifyTx(e.pool), Email: mailer, SMS: gateway, Templates: billing.MustTemplates(),
		Operator: "Example ISP", Now: e.clock,
		Admins: func(context.Context) ([]string, error) { return []string{"ops@example.net", "boss@example.net"}, nil },
	}
}

func (e *notifyEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *notifyEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// contact is a subscriber's profile and consents as the tests set them.
type contact struct {
	name, email, phone           string
	notifyEmail, notifySMS, mktg bool
}

// mustSubscriber adds a subscriber with contact c and returns its id.
func (e *notifyEnv) mustSubscriber(t *testing.T, username string, c contact) int64 {
	t.Helper()
	ctx := context.Background()
	sub, err := e.svc.AddSubscriber(ctx, billing.NewSubscriber{Username: username, Password: "pw", Plan: "Home"})
	if err != nil {
		t.Fatal(err)
	}
	// The profile's own commands come with the money engine; set it directly.
	_, err = e.pool.Exec(ctx, `UPDATE subscribers SET name = $2, email = NULLIF($3, ''), phone = NULLIF($4, ''),
		notify_email = $5, notify_sms = $6, marketing = $7 WHERE id = $1`,
		sub.ID, c.name, c.email, c.phone, c.notifyEmail, c.notifySMS, c.mktg)
	if err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

// mustEvent records an event.
func (e *notifyEnv) mustEvent(t testing.TB, kind billing.EventKind, sub int64, key string, data map[string]string) int64 {
	t.Helper()
	ev := billing.Event{Kind: kind, SubscriberID: sub, Key: key, Data: data}
	if ok, err := e.store.RecordEvent(context.Background(), &ev); err != nil || !ok {
		t.Fatalf("record event %s: %v, %v", key, ok, err)
	}
	return ev.ID
}

// queue returns every queued, sent or failed message, oldest first.
func (e *notifyEnv) queue(t testing.TB) []billing.Notification {
	t.Helper()
	list, err := e.store.FindNotifications(context.Background(), billing.NotificationFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	return list
}

// logRows returns the notification log, oldest first.
func (e *notifyEnv) logRows(t testing.TB) []billing.Attempt {
	t.Helper()
	list, err := e.store.FindNotificationLog(context.Background(), billing.NotificationFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	return list
}

func (e *notifyEnv) pending(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM billing_events WHERE processed_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDispatchConsent: each event becomes one message per channel its subscriber agreed
// to and can be reached on, rendered, with the address as it was at queue time; events
// of unknown kinds and subscribers who receive nothing are processed all the same; a
// channel that is off gets nothing.
func TestDispatchConsent(t *testing.T) {
	ctx := context.Background()
	e := mustNotifyEnv(t)
	both := e.mustSubscriber(t, "both", contact{name: "Alice Moyo", email: "alice@example.org", phone: "+15550001111", notifyEmail: true, notifySMS: true})
	emailOnly := e.mustSubscriber(t, "emailonly", contact{email: "bob@example.org", phone: "+15550002222", notifyEmail: true})
	noPhone := e.mustSubscriber(t, "nophone", contact{email: "carol@example.org", notifyEmail: true, notifySMS: true})
	none := e.mustSubscriber(t, "none", contact{email: "dan@example.org", phone: "+15550004444"})
	data := map[string]string{"plan": "Home", "period_end": "2026-03-31", "amount": "USD 20.00", "invoice": "INV-2026-000001"}
	for _, sub := range []int64{both, emailOnly, noPhone, none} {
		e.mustEvent(t, billing.EventRenewed, sub, fmt.Sprintf("renewed:%d:1", sub), data)
	}
	e.mustEvent(t, "surprise", both, "surprise:1", nil)

	r, err := e.n.Dispatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 5 || r.Queued != 4 || !slices.Equal(r.Unknown, []billing.EventKind{"surprise"}) || e.pending(t) != 0 {
		t.Fatalf("Dispatch = %+v, %d pending; want 5 events, 4 queued, surprise unknown, none pending", r, e.pending(t))
	}
	type key struct {
		sub int64
		ch  billing.Channel
	}
	got := map[key]billing.Notification{}
	for _, m := range e.queue(t) {
		got[key{m.SubscriberID, m.Channel}] = m
	}
	want := map[key]string{
		{both, billing.ChannelEmail}:      "alice@example.org",
		{both, billing.ChannelSMS}:        "+15550001111",
		{emailOnly, billing.ChannelEmail}: "bob@example.org",
		{noPhone, billing.ChannelEmail}:   "carol@example.org",
	}
	if len(got) != len(want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	for k, to := range want {
		m := got[k]
		if m.Recipient != to || m.State != billing.StateQueued || m.Kind != billing.EventRenewed || m.Attempts != 0 || !m.NextAttemptAt.Equal(e.clock()) {
			t.Fatalf("message for %v = %+v, want to %s", k, m, to)
		}
	}
	alice := got[key{both, billing.ChannelEmail}]
	if alice.Subject != "Your Home subscription is renewed" || !strings.HasPrefix(alice.Body, "Hello Alice Moyo,") ||
		!strings.Contains(alice.Body, "INV-2026-000001") || alice.Username != "both" {
		t.Fatalf("alice's email: %+v", alice)
	}
	if bob := got[key{emailOnly, billing.ChannelEmail}]; !strings.HasPrefix(bob.Body, "Hello emailonly,") {
		t.Fatalf("a subscriber without a name is greeted by username: %q", bob.Body)
	}
	if s := got[key{both, billing.ChannelSMS}]; s.Subject != "" || !strings.HasPrefix(s.Body, "Example ISP: your Home subscription is renewed until 2026-03-31") {
		t.Fatalf("alice's sms: %+v", s)
	}
	// The recipient is kept as it was: a later change of address changes nothing queued.
	if _, err := e.pool.Exec(ctx, `UPDATE subscribers SET email = 'new@example.org' WHERE id = $1`, both); err != nil {
		t.Fatal(err)
	}
	if m := e.queue(t)[0]; m.Recipient != "alice@example.org" {
		t.Fatalf("recipient after the change = %q", m.Recipient)
	}

	// With the SMS channel off, only email is queued; nothing is left pending.
	e.n.SMS = nil
	e.mustEvent(t, billing.EventRestored, both, "restored:1", nil)
	if r, err := e.n.Dispatch(ctx); err != nil || r.Events != 1 || r.Queued != 1 {
		t.Fatalf("Dispatch with SMS off = %+v, %v", r, err)
	}
	if last := e.queue(t); last[len(last)-1].Channel != billing.ChannelEmail || last[len(last)-1].Recipient != "new@example.org" {
		t.Fatalf("last queued = %+v", last[len(last)-1])
	}
	// The queue refuses a second copy of an event's message on a channel.
	n, err := e.store.QueueNotifications(ctx, []billing.Notification{{
		EventID: alice.EventID, SubscriberID: both, Kind: billing.EventRenewed, Channel: billing.ChannelEmail,
		Recipient: "alice@example.org", Subject: "again", Body: "again", NextAttemptAt: e.clock(),
	}})
	if err != nil || n != 0 {
		t.Fatalf("queueing a message twice = %d, %v", n, err)
	}
	// The schema keeps an event's message with a subscriber, and an alert without.
	_, err = e.store.QueueNotifications(ctx, []billing.Notification{{Kind: billing.EventRenewed, Channel: billing.ChannelEmail,
		Recipient: "x@example.org", Body: "x", NextAttemptAt: e.clock()}})
	if radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("a message of no event and no alert: %v, want EINVALID", err)
	}
}

// blockingEvents is an outbox whose ClaimEvents reports its claim and waits before it
// returns, so a test can run another dispatcher while this one holds its rows.
type blockingEvents struct {
	billing.EventStore
	claimed chan<- []billing.Event
	release <-chan struct{}
}

func (b blockingEvents) ClaimEvents(ctx context.Context, limit int) ([]billing.Event, error) {
	evs, err := b.EventStore.ClaimEvents(ctx, limit)
	b.claimed <- evs
	<-b.release
	return evs, err
}

// TestDispatchConcurrent: dispatchers running at once (replicas) never queue an event's
// message twice. First, one dispatcher holds its claimed events while another runs: the
// other skips them. Then several dispatchers race over many events in small batches.
func TestDispatchConcurrent(t *testing.T) {
	ctx := context.Background()
	e := mustNotifyEnv(t)
	var subs []int64
	for i := 0; i < 5; i++ {
		subs = append(subs, e.mustSubscriber(t, fmt.Sprintf("u%d", i), contact{email: fmt.Sprintf("u%d@example.org", i), phone: fmt.Sprintf("+1555000%04d", i), notifyEmail: true, notifySMS: true}))
	}
	for i := 0; i < 3; i++ {
		e.mustEvent(t, billing.EventPaymentReceived, subs[i], fmt.Sprintf("paid:%d", i), map[string]string{"amount": "USD 1.00"})
	}
	claimed := make(chan []billing.Event, 1)
	release := make(chan struct{})
	a := e.notifier(t)
	a.InTx = func(ctx context.Context, fn func(billing.EventStore, billing.NotificationStore) error) error {
		return notifyTx(e.pool)(ctx, func(ev billing.EventStore, ns billing.NotificationStore) error {
			return fn(blockingEvents{EventStore: ev, claimed: claimed, release: release}, ns)
		})
	}
	done := make(chan error, 1)
	go func() { _, err := a.Dispatch(ctx); done <- err }()
	held := <-claimed
	if len(held) != 3 {
		t.Fatalf("dispatcher A claimed %d events", len(held))
	}
	// B, meanwhile, finds nothing it may take, and queues nothing.
	if r, err := e.notifier(t).Dispatch(ctx); err != nil || r.Events != 0 || r.Queued != 0 {
		t.Fatalf("dispatcher B while A holds the events: %+v, %v", r, err)
	}
	close(release)
	go func() { // A's second claim (finding nothing) reports too
		for range claimed {
		}
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(claimed)
	if q := e.queue(t); len(q) != 6 {
		t.Fatalf("queued %d messages, want 6", len(q))
	}

	// A race: 4 dispatchers, 400 events, batches of 7.
	const events = 400
	for i := 0; i < events; i++ {
		e.mustEvent(t, billing.EventRenewed, subs[i%len(subs)], fmt.Sprintf("renewed:%d", i), map[string]string{"plan": "Home"})
	}
	var wg sync.WaitGroup
	results := make([]billing.DispatchResult, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Add(1)
		n := e.notifier(t)
		n.Batch = 7
		go func() {
			defer wg.Done()
			results[i], errs[i] = n.Dispatch(ctx)
		}()
	}
	wg.Wait()
	total, busy := 0, 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += r.Events
		if r.Events > 0 {
			busy++
		}
	}
	if total != events || e.pending(t) != 0 {
		t.Fatalf("dispatchers processed %d events (%d pending), want %d", total, e.pending(t), events)
	}
	var n, distinct int
	err := e.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (event_id, channel)) FROM notifications`).Scan(&n, &distinct)
	if err != nil || n != 6+2*events || distinct != n {
		t.Fatalf("%d messages, %d distinct (event, channel), %v; want %d each", n, distinct, err, 6+2*events)
	}
	t.Logf("%d of 4 dispatchers took part", busy)
}

// TestSendRetries: a failing gateway is retried after 1m, 5m, 30m and 2h on the
// injected clock, not before, then the message has failed; every attempt is in the log.
// A message that goes through is sent, with the provider's id logged, and never again.
func TestSendRetries(t *testing.T) {
	ctx := context.Background()
	e := mustNotifyEnv(t)
	sub := e.mustSubscriber(t, "alice", contact{email: "alice@example.org", phone: "+15550001111", notifyEmail: true, notifySMS: true})
	e.gw.Answer = func(n int, _ billingtest.Request) (int, string) { return 500, "gateway down" }
	e.smtp.FailNext(1)
	e.mustEvent(t, billing.EventIsolated, sub, "isolated:1", map[string]string{"amount": "USD 20.00"})
	if _, err := e.n.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	send := func() billing.SendResult {
		t.Helper()
		r, err := e.n.SendDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// First attempt: both fail (the SMTP server answers 451 once).
	if r := send(); r != (billing.SendResult{Retrying: 2}) {
		t.Fatalf("first pass = %+v", r)
	}
	// Not due yet: nothing is tried.
	e.advance(59 * time.Second)
	if r := send(); r != (billing.SendResult{}) {
		t.Fatalf("pass before the retry = %+v", r)
	}
	// The email goes through at its second attempt; the SMS keeps failing.
	e.advance(time.Second)
	if r := send(); r != (billing.SendResult{Sent: 1, Retrying: 1}) {
		t.Fatalf("second pass = %+v", r)
	}
	for _, wait := range []time.Duration{5 * time.Minute, 30 * time.Minute} {
		e.advance(wait - time.Second)
		if r := send(); r != (billing.SendResult{}) {
			t.Fatalf("pass %v early = %+v", time.Second, r)
		}
		e.advance(time.Second)
		if r := send(); r != (billing.SendResult{Retrying: 1}) {
			t.Fatalf("pass after %v = %+v", wait, r)
		}
	}
	e.advance(2 * time.Hour)
	if r := send(); r != (billing.SendResult{Failed: 1}) {
		t.Fatalf("last pass = %+v", r)
	}
	e.advance(24 * time.Hour)
	if r := send(); r != (billing.SendResult{}) {
		t.Fatalf("pass after the failure = %+v", r)
	}
	if n := len(e.gw.Requests()); n != billing.MaxAttempts {
		t.Fatalf("gateway saw %d requests, want %d", n, billing.MaxAttempts)
	}
	if n := len(e.smtp.Mails()); n != 1 {
		t.Fatalf("%d mails delivered, want 1", n)
	}
	q := e.queue(t)
	mail, text := q[0], q[1]
	if mail.Channel != billing.ChannelEmail {
		mail, text = text, mail
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if mail.State != billing.StateSent || mail.Attempts != 2 || !mail.SentAt.Equal(start.Add(time.Minute)) || mail.LastError != "" {
		t.Fatalf("email = %+v", mail)
	}
	if text.State != billing.StateFailed || text.Attempts != 5 || !strings.Contains(text.LastError, "500") || !text.SentAt.IsZero() {
		t.Fatalf("sms = %+v", text)
	}
	log := e.logRows(t)
	if len(log) != 7 {
		t.Fatalf("log has %d attempts, want 7: %+v", len(log), log)
	}
	var mailLog, smsLog []billing.Attempt
	for _, a := range log {
		if a.Channel == billing.ChannelEmail {
			mailLog = append(mailLog, a)
		} else {
			smsLog = append(smsLog, a)
		}
	}
	if len(mailLog) != 2 || mailLog[0].OK || !strings.Contains(mailLog[0].Error, "451") || !mailLog[1].OK ||
		mailLog[1].ProviderID != "<tollgate-notification-"+fmt.Sprint(mail.ID)+"@example.net>" || mailLog[1].Recipient != "alice@example.org" {
		t.Fatalf("email attempts: %+v", mailLog)
	}
	wantAt := []time.Duration{0, time.Minute, 6 * time.Minute, 36 * time.Minute, 156 * time.Minute}
	for i, a := range smsLog {
		if a.OK || a.Attempt != i+1 || !a.At.Equal(start.Add(wantAt[i])) || a.Error != "gateway answered 500 Internal Server Error: gateway down" ||
			a.Recipient != "+15550001111" || a.Kind != billing.EventIsolated || a.Username != "alice" {
			t.Fatalf("sms attempt %d: %+v", i+1, a)
		}
	}
}

// TestSendOnce: two senders at once (replicas) take different messages, so each is sent
// once; a send cut short by shutdown is not an attempt.
func TestSendOnce(t *testing.T) {
	ctx := context.Background()
	e := mustNotifyEnv(t)
	for i := 0; i < 12; i++ {
		sub := e.mustSubscriber(t, fmt.Sprintf("u%d", i), contact{phone: fmt.Sprintf("+1555000%04d", i), notifySMS: true})
		e.mustEvent(t, billing.EventRestored, sub, fmt.Sprintf("restored:%d", i), nil)
	}
	if _, err := e.n.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	e.gw.Delay = 20 * time.Millisecond
	var wg sync.WaitGroup
	sent := make([]int, 3)
	for i := range sent {
		wg.Add(1)
		n := e.notifier(t)
		go func() {
			defer wg.Done()
			r, err := n.SendDue(ctx)
			if err != nil {
				t.Error(err)
			}
			sent[i] = r.Sent
		}()
	}
	wg.Wait()
	reqs := e.gw.Requests()
	to := map[string]int{}
	for _, r := range reqs {
		to[r.Query["to"][0]]++
	}
	if len(reqs) != 12 || len(to) != 12 || sent[0]+sent[1]+sent[2] != 12 {
		t.Fatalf("%d requests to %d numbers, sent %v; want 12 once each", len(reqs), len(to), sent)
	}

	// Shutdown during a send: the message stays due, with no attempt counted.
	sub := e.mustSubscriber(t, "late", contact{phone: "+15559999999", notifySMS: true})
	e.mustEvent(t, billing.EventRestored, sub, "restored:late", nil)
	if _, err := e.n.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	e.gw.Delay = 10 * time.Second
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := e.n.SendDue(cctx); done <- err }()
	e.gw.WaitRequests(t, 13)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SendDue on shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SendDue did not stop with its context")
	}
	list, err := e.store.FindNotifications(ctx, billing.NotificationFilter{SubscriberID: sub})
	if err != nil || len(list) != 1 || list[0].State != billing.StateQueued || list[0].Attempts != 0 {
		t.Fatalf("message after the shutdown = %+v, %v", list, err)
	}
	if n := len(e.logRows(t)); n != 12 {
		t.Fatalf("log has %d attempts, want the 12 sent", n)
	}
}

// TestSendWithheld: consents and restriction apply at send time too. Messages queued
// before the subscriber withdrew a channel's consent, or restricted processing, are
// withheld (not sent, failed, logged as withheld, counted apart); an account notice on
// a channel still consented to, and a password link whatever the consents, go.
func TestSendWithheld(t *testing.T) {
	ctx := context.Background()
	e := mustNotifyEnv(t)
	ann := e.mustSubscriber(t, "ann", contact{email: "ann@example.org", phone: "+15550001001", notifyEmail: true, notifySMS: true})
	ben := e.mustSubscriber(t, "ben", contact{email: "ben@example.org", notifyEmail: true})
	e.mustEvent(t, billing.EventRenewed, ann, "renewed:ann", map[string]string{"plan": "Home"})
	e.mustEvent(t, billing.EventReminder, ben, "reminder:ben", map[string]string{"plan": "Home"})
	e.mustEvent(t, billing.EventRestored, ben, "restored:ben", nil)
	e.mustEvent(t, billing.EventPasswordReset, ann, "reset:ann", map[string]string{"link": "https://wifi.example.com/account/password?token=x", "expires": "soon"})
	if r, err := e.n.Dispatch(ctx); err != nil || r.Queued != 6 {
		t.Fatalf("Dispatch = %+v, %v; want 6 queued", r, err)
	}
	// Then Ann withdraws email and Ben restricts processing, before the send.
	if _, err := e.pool.Exec(ctx, `UPDATE subscribers SET notify_email = false WHERE id = $1`, ann); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE subscribers SET restricted = true WHERE id = $1`, ben); err != nil {
		t.Fatal(err)
	}
	r, err := e.n.SendDue(ctx)
	if err != nil || r.Sent != 4 || r.Withheld != 2 || r.Failed != 0 {
		t.Fatalf("SendDue = %+v, %v; want 4 sent (ann's renewal by SMS, her reset link twice, ben's notice) and 2 withheld", r, err)
	}
	var subjects []string
	for _, m := range e.smtp.Mails() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, strings.Join(m.To, ",")+": "+msg.Header.Get("Subject"))
	}
	slices.Sort(subjects)
	if len(subjects) != 2 || !strings.HasPrefix(subjects[0], "ann@example.org: ") || !strings.HasPrefix(subjects[1], "ben@example.org: ") ||
		strings.Contains(subjects[0], "renewed") || strings.Contains(subjects[1], "reminder") {
		t.Fatalf("emails sent: %q", subjects)
	}
	withheld := 0
	for _, a := range e.logRows(t) {
		if a.Error == billing.WithheldError {
			withheld++
			if a.OK || (a.Kind != billing.EventRenewed && a.Kind != billing.EventReminder) {
				t.Fatalf("withheld attempt %+v", a)
			}
		}
	}
	if withheld != 2 {
		t.Fatalf("%d withheld attempts logged; want 2", withheld)
	}
	for _, m := range e.queue(t) {
		if (m.Kind == billing.EventRenewed && m.Channel == billing.ChannelEmail || m.Kind == billing.EventReminder) && m.State != billing.StateFailed {
			t.Fatalf("withheld message %+v", m)
		}
	}
	// A second pass has nothing left to do.
	if r, err := e.n.SendDue(ctx); err != nil || r != (billing.SendResult{}) {
		t.Fatalf("second pass = %+v, %v", r, err)
	}
}

// TestAdminAlert: an alert is one email per admin, with no event and no subscriber,
// sent like any message; nothing is queued with email off; empty alerts are refused.
func TestAdminAlert(t *testing.T) {
	ctx := context.Background()
	e := mustNotifyEnv(t)
	var alerter billing.AdminAlerter = e.n
	if err := alerter.SendAdminAlert(ctx, "Router r1 is down", "r1 (192.0.2.1) has not answered since 12:00.\n"); err != nil {
		t.Fatal(err)
	}
	q := e.queue(t)
	if len(q) != 2 || q[0].Kind != billing.KindAdminAlert || q[0].SubscriberID != 0 || q[0].EventID != 0 ||
		q[0].Recipient != "ops@example.net" || q[1].Recipient != "boss@example.net" || q[0].Subject != "Router r1 is down" {
		t.Fatalf("queued %+v", q)
	}
	if r, err := e.n.SendDue(ctx); err != nil || r.Sent != 2 {
		t.Fatalf("SendDue = %+v, %v", r, err)
	}
	mails := e.smtp.WaitMails(t, 2)
	var to []string
	for _, m := range mails {
		to = append(to, m.To...)
		if !strings.Contains(string(m.Data), "r1 (192.0.2.1) has not answered since 12:00.") {
			t.Fatalf("mail:\n%s", m.Data)
		}
	}
	slices.Sort(to)
	if !slices.Equal(to, []string{"boss@example.net", "ops@example.net"}) {
		t.Fatalf("alerts went to %v", to)
	}
	for _, bad := range [][2]string{{"", "body"}, {"subject", " \n"}, {strings.Repeat("x", 201), "body"}} {
		if err := alerter.SendAdminAlert(ctx, bad[0], bad[1]); radius.ErrorCode(err) != radius.EINVALID {
			t.Fatalf("SendAdminAlert(%q, %q) = %v, want EINVALID", bad[0], bad[1], err)
		}
	}
	e.n.Email = nil
	if err := alerter.SendAdminAlert(ctx, "Router r1 is up", "r1 answers again."); err != nil {
		t.Fatal(err)
	}
	if n := len(e.queue(t)); n != 2 {
		t.Fatalf("%d messages after an alert with email off, want 2", n)
	}
}

// TestNotificationList: the queue and the log list newest first, by subscriber and by
// state.
func TestNotificationList(t *testing.T) {
	ctx := context.Background()
	e := mustNotifyEnv(t)
	a := e.mustSubscriber(t, "alice", contact{email: "alice@example.org", phone: "+15550001111", notifyEmail: true, notifySMS: true})
	b := e.mustSubscriber(t, "bob", contact{email: "bob@example.org", notifyEmail: true})
	e.mustEvent(t, billing.EventRestored, a, "restored:a", nil)
	e.mustEvent(t, billing.EventRestored, b, "restored:b", nil)
	if _, err := e.n.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	e.gw.Answer = func(int, billingtest.Request) (int, string) { return 400, "bad number" }
	if _, err := e.n.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	find := func(f billing.NotificationFilter) []string {
		t.Helper()
		list, err := e.store.FindNotifications(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range list {
			out = append(out, m.Username+"/"+string(m.Channel)+"/"+string(m.State))
		}
		return out
	}
	if got := find(billing.NotificationFilter{}); !slices.Equal(got, []string{"bob/email/sent", "alice/sms/queued", "alice/email/sent"}) {
		t.Fatalf("all = %v", got)
	}
	if got := find(billing.NotificationFilter{SubscriberID: a, State: billing.StateQueued}); !slices.Equal(got, []string{"alice/sms/queued"}) {
		t.Fatalf("alice's queued = %v", got)
	}
	if got := find(billing.NotificationFilter{Limit: 1}); len(got) != 1 {
		t.Fatalf("limit 1 = %v", got)
	}
	log, err := e.store.FindNotificationLog(ctx, billing.NotificationFilter{SubscriberID: a})
	if err != nil || len(log) != 2 {
		t.Fatalf("alice's log = %+v, %v", log, err)
	}
	for _, x := range log {
		if x.Username != "alice" || (x.Channel == billing.ChannelSMS) == x.OK {
			t.Fatalf("alice's log = %+v", log)
		}
	}
	log, err = e.store.FindNotificationLog(ctx, billing.NotificationFilter{State: billing.StateSent})
	if err != nil || len(log) != 2 || !log[0].OK || !log[1].OK {
		t.Fatalf("log of sent messages = %+v, %v", log, err)
	}
}

// TestNotificationLogPartitions: the log is partitioned by month like the auth log, a
// row lands in its month's partition, one months ahead waits in the default partition
// until its month is made, and dropping an old month (retention) drops its rows alone.
func TestNotificationLogPartitions(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t)
	for i := 0; i < 2; i++ {
		if err := e.store.EnsureNotificationPartitions(ctx); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	var parts []string
	rows, err := e.pool.Query(ctx, `SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'notification_log'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if parts, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	thisMonth := time.Now().UTC().Truncate(time.Microsecond)
	want := []string{"notification_log_" + thisMonth.Format("200601"), "notification_log_default"}
	if len(parts) != 4 || !slices.Contains(parts, want[0]) || !slices.Contains(parts, want[1]) {
		t.Fatalf("partitions = %v, want this month, two ahead and the default", parts)
	}
	// Log rows need no message row (retention drops either without the other).
	s := postgres.NewStore(e.pool)
	_, err = e.pool.Exec(ctx, `INSERT INTO notifications (id, kind, channel, recipient, body, next_attempt_at)
		OVERRIDING SYSTEM VALUE VALUES (1, 'admin_alert', 'email', 'ops@example.net', 'x', now())`)
	if err != nil {
		t.Fatal(err)
	}
	future := time.Date(thisMonth.Year(), thisMonth.Month()+5, 2, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{thisMonth, future} {
		a := billing.Attempt{At: at, NotificationID: 1, Attempt: 1, Channel: billing.ChannelEmail, Recipient: "ops@example.net", Error: "x"}
		if err := s.RecordAttempt(ctx, a, billing.StateQueued, at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	where := func(at time.Time) string {
		var p string
		if err := e.pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM notification_log WHERE at = $1`, at).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := where(thisMonth); p != want[0] {
		t.Fatalf("this month's row is in %s", p)
	}
	if p := where(future); p != "notification_log_default" {
		t.Fatalf("a row five months ahead is in %s", p)
	}
	if _, err := e.pool.Exec(ctx, `SELECT ensure_monthly_partitions('notification_log', 6)`); err != nil {
		t.Fatal(err)
	}
	if p := where(future); p != "notification_log_"+future.Format("200601") {
		t.Fatalf("after its month was made, the row is in %s", p)
	}
	if _, err := e.pool.Exec(ctx, `DROP TABLE `+want[0]); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM notification_log`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after dropping this month: %d rows, %v", n, err)
	}
}
