package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	billingpg "tollgate/billing/postgres"
)

// notifyStack is a migrated stack with an in-process SMTP server and SMS gateway
// configured as its channels, and a subscriber alice who agreed to both.
type notifyStack struct {
	*stack
	pool  *pgxpool.Pool
	smtp  *billingtest.SMTPServer
	gw    *billingtest.Gateway
	alice int64
}

func mustNotifyStack(t *testing.T) *notifyStack {
	t.Helper()
	s := &notifyStack{stack: MustStack(t, true)}
	s.smtp = billingtest.MustSMTP(t, billingtest.SMTPOptions{})
	s.gw = billingtest.MustGateway(t)
	t.Setenv("TOLLGATE_OPERATOR_NAME", "Example ISP")
	t.Setenv("TOLLGATE_SMTP_URL", "smtp://"+s.smtp.Addr())
	t.Setenv("TOLLGATE_MAIL_FROM", "Example ISP <billing@example.net>")
	t.Setenv("TOLLGATE_SMS_URL", s.gw.URL+"/v1/messages")
	t.Setenv("TOLLGATE_SMS_BODY", `{"to":"{to}","text":"{text}"}`)
	header := filepath.Join(t.TempDir(), "sms-auth")
	if err := os.WriteFile(header, []byte("Authorization: Bearer gw-t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_SMS_AUTH_HEADER_FILE", header)

	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--price", "20")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice-1", "--plan", "home")
	var err error
	if s.pool, err = pgxpool.New(context.Background(), os.Getenv("DATABASE_URL")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	// The profile's commands come with the money engine: set alice's directly.
	err = s.pool.QueryRow(context.Background(), `UPDATE subscribers SET name = 'Alice Moyo', email = 'alice@example.org',
		phone = '+15550001111' WHERE username = 'alice' RETURNING id`).Scan(&s.alice)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// record writes an event to the outbox as the money engine will.
func (s *notifyStack) record(t *testing.T, kind billing.EventKind, key string, data map[string]string) {
	t.Helper()
	ok, err := billingpg.NewStore(s.pool).RecordEvent(context.Background(), &billing.Event{Kind: kind, SubscriberID: s.alice, Key: key, Data: data})
	if err != nil || !ok {
		t.Fatalf("record %s: %v, %v", key, ok, err)
	}
}

// TestE2ENotify: an event in the outbox → `tollgate notify run` → the email arrives at
// the SMTP server and the SMS at the gateway, and `notification list` shows both messages
// and both attempts (an audited read). An admin alert reaches the enabled admins alone.
// Then `serve` does the same from cron.
func TestE2ENotify(t *testing.T) {
	s := mustNotifyStack(t)
	s.record(t, billing.EventPaymentReceived, "paid:1", map[string]string{"amount": "USD 25.00", "balance": "USD 30.00", "receipt": "RCT-2026-000001"})

	var run notifyRunJSON
	if err := json.Unmarshal([]byte(s.MustRun("notify", "run", "--json")), &run); err != nil {
		t.Fatal(err)
	}
	if run.Events != 1 || run.Queued != 2 || run.Sent != 2 || run.Retrying+run.Failed != 0 || !run.Email || !run.SMS {
		t.Fatalf("notify run = %+v", run)
	}
	m := s.smtp.WaitMails(t, 1)[0]
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "billing@example.net" || len(m.To) != 1 || m.To[0] != "alice@example.org" ||
		msg.Header.Get("Subject") != "Payment received: USD 25.00" || msg.Header.Get("To") != "<alice@example.org>" {
		t.Fatalf("mail from %s to %v:\n%s", m.From, m.To, m.Data)
	}
	if body := string(m.Data); !strings.Contains(body, "Hello Alice Moyo,") || !strings.Contains(body, "RCT-2026-000001") {
		t.Fatalf("mail:\n%s", body)
	}
	r := s.gw.WaitRequests(t, 1)[0]
	var sms map[string]string
	if err := json.Unmarshal([]byte(r.Body), &sms); err != nil {
		t.Fatalf("gateway body %q: %v", r.Body, err)
	}
	if r.Method != "POST" || r.Path != "/v1/messages" || r.Header.Get("Authorization") != "Bearer gw-t0ken" ||
		r.Header.Get("Content-Type") != "application/json" || sms["to"] != "+15550001111" ||
		sms["text"] != "Example ISP: payment of USD 25.00 received; balance USD 30.00. Receipt RCT-2026-000001." {
		t.Fatalf("gateway got %s %s %v %q", r.Method, r.Path, r.Header, r.Body)
	}
	// A second pass finds nothing to do.
	if err := json.Unmarshal([]byte(s.MustRun("notify", "run", "--json")), &run); err != nil || run.Events+run.Sent != 0 {
		t.Fatalf("second notify run = %+v, %v", run, err)
	}

	var list notificationListJSON
	if err := json.Unmarshal([]byte(s.MustRun("notification", "list", "--subscriber", "alice", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Queue) != 2 || len(list.Log) != 2 {
		t.Fatalf("list = %+v", list)
	}
	seen := map[string]bool{}
	for _, q := range list.Queue {
		if q.State != "sent" || q.Subscriber != "alice" || q.Kind != "payment_received" || q.Attempts != 1 || q.SentAt == nil {
			t.Fatalf("queue entry %+v", q)
		}
		seen[q.Channel+" "+q.Recipient] = true
	}
	for _, a := range list.Log {
		if a.Result != "ok" || a.Attempt != 1 || a.Subscriber != "alice" {
			t.Fatalf("log entry %+v", a)
		}
		seen["log "+a.Channel+" "+a.ProviderID] = true
	}
	if !seen["email alice@example.org"] || !seen["sms +15550001111"] || !seen["log sms gw-1"] {
		t.Fatalf("list shows %v", seen)
	}
	// The read of personal data is audited.
	var actor, target string
	err = s.pool.QueryRow(context.Background(), `SELECT actor, target FROM audit_log WHERE action = 'notification.list' ORDER BY id DESC LIMIT 1`).Scan(&actor, &target)
	if err != nil || !strings.HasPrefix(actor, "cli") || target == "" {
		t.Fatalf("audit row: %q %q, %v", actor, target, err)
	}
	if out := s.MustRun("notification", "list", "--state", "failed"); !strings.Contains(out, "QUEUE") || strings.Contains(out, "alice@example.org") {
		t.Fatalf("failed messages:\n%s", out)
	}
	if code, _, errs := s.run("notification", "list", "--state", "lost"); code != 2 || !strings.Contains(errs, "--state") {
		t.Fatalf("bad --state: exit %d %q", code, errs)
	}
	if code, _, errs := s.run("notification", "list", "--subscriber", "nobody"); code != 1 || !strings.Contains(errs, "nobody") {
		t.Fatalf("unknown subscriber: exit %d %q", code, errs)
	}

	// Admin alerts go to the enabled admins alone, as the health job will send them.
	s.MustRun("reseller", "add", "--name", "Shop")
	for _, args := range [][]string{
		{"admin", "add", "--email", "ops@example.net"},
		{"admin", "add", "--email", "gone@example.net"},
		{"admin", "add", "--email", "shop@example.net", "--role", "reseller", "--reseller", "Shop"},
	} {
		if code, out, errs := s.runWithStdin("correct-horse-battery\n", args...); code != 0 {
			t.Fatalf("%v: exit %d %s%s", args, code, out, errs)
		}
	}
	s.MustRun("admin", "disable", "--email", "gone@example.net")
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	d, err := e.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, err := d.notifier(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var alerts billing.AdminAlerter = n
	err = alerts.SendAdminAlert(context.Background(), "Router r1 is down", "r1 has not answered since 12:00.")
	e.close()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(s.MustRun("notify", "run", "--json")), &run); err != nil || run.Sent != 1 {
		t.Fatalf("notify run after the alert = %+v, %v", run, err)
	}
	if m := s.smtp.WaitMails(t, 2)[1]; len(m.To) != 1 || m.To[0] != "ops@example.net" || !strings.Contains(string(m.Data), "Subject: Router r1 is down") {
		t.Fatalf("alert went to %v:\n%s", m.To, m.Data)
	}

	// serve: the cron jobs dispatch and send on their own.
	t.Setenv("TOLLGATE_NOTIFY_INTERVAL", "1s")
	t.Setenv("LOG_LEVEL", "info")
	s.serve()
	s.record(t, billing.EventRestored, "restored:1", nil)
	mails := s.smtp.WaitMails(t, 3)
	if to := mails[2].To; len(to) != 1 || to[0] != "alice@example.org" || !strings.Contains(string(mails[2].Data), "service is restored") {
		t.Fatalf("third mail to %v:\n%s", to, mails[2].Data)
	}
	if n := len(s.smtp.Mails()); n != 3 {
		t.Fatalf("%d mails, want 3", n)
	}
	s.gw.WaitRequests(t, 2)
	if l := s.serveLog.String(); !strings.Contains(l, `msg=notifications email="on, smtp://`+s.smtp.Addr()+`" sms="on, POST http://127.0.0.1`) {
		t.Fatalf("serve did not say which channels are on:\n%s", l)
	}
}

// TestNotifyConfig: the variables are checked and `tollgate config` hides their secrets.
func TestNotifyConfig(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x")
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	t.Setenv("TOLLGATE_SECRET_KEY", testKey)
	t.Setenv("TOLLGATE_SMTP_URL", "smtp://billing%40example.net:smtp-s3cret@mail.example.net:587")
	t.Setenv("TOLLGATE_MAIL_FROM", "Example ISP <billing@example.net>")
	t.Setenv("TOLLGATE_SMS_URL", "https://gw.example/send?api_key=sms-s3cret&to={to}&text={text}")
	t.Setenv("TOLLGATE_SMS_METHOD", "get")
	t.Setenv("TOLLGATE_SMS_AUTH_HEADER", "Authorization: Bearer hdr-s3cret")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "--json"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("config: exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Fatalf("config shows a secret:\n%s", out.String())
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TOLLGATE_NOTIFY_INTERVAL": "30s",
		"TOLLGATE_SMTP_URL":        "smtp://billing%40example.net:xxxxx@mail.example.net:587",
		"TOLLGATE_MAIL_FROM":       `"Example ISP" <billing@example.net>`,
		"TOLLGATE_SMS_URL":         "https://gw.example/send?api_key=xxxxx&to={to}&text={text}",
		"TOLLGATE_SMS_METHOD":      "GET",
		"TOLLGATE_SMS_AUTH_HEADER": "Authorization: *****",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	cases := []struct{ name, key, val string }{
		{"interval bad", "TOLLGATE_NOTIFY_INTERVAL", "often"},
		{"interval too short", "TOLLGATE_NOTIFY_INTERVAL", "100ms"},
		{"smtp scheme", "TOLLGATE_SMTP_URL", "http://mail.example.net"},
		{"smtp port", "TOLLGATE_SMTP_URL", "smtp://mail.example.net:0"},
		{"mail from missing", "TOLLGATE_MAIL_FROM", ""},
		{"mail from bad", "TOLLGATE_MAIL_FROM", "billing at example"},
		{"sms url bad", "TOLLGATE_SMS_URL", "gw.example/send"},
		{"sms url without text", "TOLLGATE_SMS_URL", "https://gw.example/send?to={to}"},
		{"sms method", "TOLLGATE_SMS_METHOD", "PUT"},
		{"sms body with GET", "TOLLGATE_SMS_BODY", "{text}"},
		{"sms auth header", "TOLLGATE_SMS_AUTH_HEADER", "Bearer hdr-s3cret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.key, tc.val)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"config"}, strings.NewReader(""), &out, &errb)
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.key) || strings.Contains(lines[0], "s3cret") {
				t.Fatalf("exit %d, stderr %q: want exit 2 and one line naming %s", code, errb.String(), tc.key)
			}
		})
	}
	// Unset, a channel is off and nothing is asked of its other variables.
	t.Setenv("TOLLGATE_SMTP_URL", "")
	t.Setenv("TOLLGATE_MAIL_FROM", "")
	t.Setenv("TOLLGATE_SMS_URL", "")
	c, err := loadConfig()
	if err != nil || c.Notify.SMTP.Host != "" || c.Notify.SMS.URL != "" {
		t.Fatalf("channels off: %+v, %v", c.Notify, err)
	}
}
