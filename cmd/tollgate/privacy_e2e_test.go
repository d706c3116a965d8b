package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"tollgate/billing"
	"tollgate/billing/billingtest"
	"tollgate/radius/radiustest"
	"tollgate/webhook"
)

// subscriberTables lists the tables of the schema that hold a subscriber's data: those
// with a subscriber_id or username column, or a foreign key to subscribers (partitions
// are their parent's).
const subscriberTablesSQL = `
SELECT DISTINCT c.table_name
FROM information_schema.columns c
JOIN pg_class k ON k.relname = c.table_name AND k.relnamespace = 'public'::regnamespace
WHERE c.table_schema = 'public' AND c.column_name IN ('subscriber_id', 'username') AND NOT k.relispartition
  AND k.relkind IN ('r', 'p')
UNION
SELECT DISTINCT tc.table_name
FROM information_schema.table_constraints tc
JOIN information_schema.constraint_column_usage u ON u.constraint_name = tc.constraint_name
WHERE tc.constraint_type = 'FOREIGN KEY' AND u.table_name = 'subscribers' AND tc.table_schema = 'public'
ORDER BY 1`

// notSubscriberData are the tables with such a column that hold no subscriber's data.
var notSubscriberData = map[string]string{
	"vouchers": "username is a voucher's own account name, not a subscriber's",
}

// TestE2EExportComplete: `tollgate privacy export --username U --out FILE` writes one
// document with a row of every table that holds the subscriber's data, seeded here one
// each: every table the schema has with a subscriber or username column (read from
// information_schema) must be a source of the export and have its row found in it, so
// a table added without export support fails this test. The export is recorded as an
// answered request and audited; the other subscriber's rows are not in it.
func TestE2EExportComplete(t *testing.T) {
	s := MustStack(t, true)
	t.Setenv("TOLLGATE_PUBLIC_URL", "https://wifi.example.com")
	pool := s.mustPool()
	ctx := context.Background()
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", "export-secret-1")
	s.MustRun("plan", "add", "--name", "Fibre", "--kind", "pppoe", "--price", "20")
	for _, u := range []string{"exporter", "other"} {
		s.MustRun("subscriber", "add", "--username", u, "--password", "pppoe-pw-1", "--plan", "Fibre",
			"--name", "Name of "+u, "--email", u+"@example.net", "--phone", "+254700000001")
		s.MustRun("wallet", "credit", "--subscriber", u, "--amount", "50", "--note", "cash for "+u)
		s.MustRun("subscriber", "invite", "--username", u)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("exporter-portal-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.MustRun("subscriber", "set", "--username", "exporter", "--portal-password-file", pw)
	var id int64
	if err := pool.QueryRow(ctx, `SELECT id FROM subscribers WHERE username = 'exporter'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(t.TempDir(), "policy.md")
	if err := os.WriteFile(policy, []byte("# Privacy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.MustRun("policy", "publish", "--file", policy, "--effective", time.Now().Format("2006-01-02"), "--minor")
	// One marked row in each table the commands above did not fill.
	for _, q := range []string{
		`INSERT INTO consent_history (subscriber_id, at, source, reminders_email, reminders_sms, marketing) VALUES ($1, now(), 'web', true, false, true)`,
		`INSERT INTO restriction_history (subscriber_id, at, source, restricted) VALUES ($1, now(), 'api', true)`,
		`INSERT INTO email_confirmations (subscriber_id, email, token_hash, created_at, expires_at) VALUES ($1, 'exp-new@example.net', sha256('x'), now(), now() + interval '1 day')`,
		`INSERT INTO policy_acceptances (subscriber_id, version, at, ip) VALUES ($1, 1, now(), '192.0.2.77')`,
		`INSERT INTO sessions (nas_id, acct_session_id, started_at, username, mac, framed_ip, last_update, output_octets)
		 SELECT (SELECT id FROM nas), 'EXP-SESS', now(), username, 'AA:BB:CC:00:00:EE', '100.64.0.9', now(), 4242 FROM subscribers WHERE id = $1`,
		`INSERT INTO auth_log (at, nas_id, username, mac, method, reason) SELECT now(), (SELECT id FROM nas), username, 'AA:BB:CC:00:00:EF', 'chap', 'data_exhausted' FROM subscribers WHERE id = $1`,
		`INSERT INTO coa_log (nas_id, acct_session_id, username, kind, result, reason) SELECT (SELECT id FROM nas), 'EXP-COA', username, 'disconnect', 'ack', 'EXP-REASON' FROM subscribers WHERE id = $1`,
		`INSERT INTO notifications (event_id, subscriber_id, kind, channel, recipient, subject, body, next_attempt_at)
		 SELECT (SELECT min(id) FROM billing_events WHERE subscriber_id = $1), $1, 'renewed', 'email', 'exporter@example.net', 'EXP-SUBJECT', 'body', now()`,
		`INSERT INTO notification_log (at, notification_id, attempt, channel, recipient, result, error)
		 SELECT now(), (SELECT max(id) FROM notifications WHERE subscriber_id = $1), 1, 'email', 'exporter@example.net', 'error', 'EXP-ATTEMPT'`,
		`INSERT INTO privacy_requests (kind, subscriber_id, source, requested_by, created_at, due_at, decision, decision_ref, message)
		 VALUES ('review', $1, 'web', 'subscriber:exporter', now(), now() + interval '30 days', 'x', 'event:1', 'EXP-REQUEST')`,
		`INSERT INTO audit_log (actor, action, target, detail) VALUES ('admin@example.com', 'subscriber.show', 'subscriber:' || $1::bigint, '{"mark":"EXP-AUDIT"}')`,
		`INSERT INTO topups (reference, subscriber_id, provider, amount_cents, currency, created_at, expires_at)
		 VALUES ('tg-EXPTOPUP0000000000000001', $1, 'paystack', 1000, 'USD', now(), now() + interval '1 hour')`,
		`INSERT INTO payments (provider, provider_id, account, amount_cents, currency, received_at, outcome, subscriber_id)
		 VALUES ('generic', 'EXP-PAY', 'exporter', 500, 'EUR', now(), 'review', $1)`,
		`INSERT INTO payment_reviews (payment_id, reason, raw, created_at)
		 SELECT id, 'currency_mismatch', '{"mark":"EXP-RAW"}', now() FROM payments WHERE provider_id = 'EXP-PAY' AND $1::bigint IS NOT NULL`,
	} {
		mustExec(t, pool, q, id)
	}

	out := filepath.Join(t.TempDir(), "export.json")
	s.MustRun("privacy", "export", "--username", "exporter", "--out", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc billing.Export
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	text := string(b)
	found := map[string]bool{
		"subscribers":         doc.Profile.Username == "exporter" && doc.Profile.Name == "Name of exporter" && doc.Profile.Phone == "+254700000001",
		"consent_history":     len(doc.ConsentHistory) == 1 && doc.ConsentHistory[0].Marketing,
		"restriction_history": len(doc.RestrictionHistory) == 1,
		"portal_users":        doc.PortalAccount != nil,
		"subscriber_links":    len(doc.PasswordLinks) == 1 && doc.PasswordLinks[0].Purpose == "invite",
		"email_confirmations": len(doc.EmailChanges) == 1 && doc.EmailChanges[0].Email == "exp-new@example.net",
		"policy_acceptances":  len(doc.PolicyAcceptances) == 1 && doc.PolicyAcceptances[0].IP == "192.0.2.77",
		"subscriptions":       doc.Subscription != nil && doc.Subscription.Plan == "Fibre" && doc.Subscription.Paid,
		"renewals":            len(doc.Renewals) == 1 && doc.Renewals[0].AmountCents == 2000,
		"wallets":             doc.Wallet.BalanceCents == 3000,
		"ledger_entries":      len(doc.Wallet.Entries) == 2 && doc.Wallet.Entries[0].Note == "cash for exporter",
		"invoices":            len(doc.Invoices) == 2,
		"invoice_lines":       len(doc.Invoices) == 2 && len(doc.Invoices[0].Lines) == 1,
		"sessions":            len(doc.Sessions) == 1 && doc.Sessions[0].SessionID == "EXP-SESS" && doc.Sessions[0].MAC == "AA:BB:CC:00:00:EE" && doc.Sessions[0].Download == 4242 && doc.Sessions[0].IP == "100.64.0.9" && doc.Sessions[0].NAS == "r1",
		"auth_log":            len(doc.AuthLog) == 1 && doc.AuthLog[0].MAC == "AA:BB:CC:00:00:EF",
		"coa_log":             len(doc.Disconnects) == 1 && doc.Disconnects[0].Reason == "EXP-REASON",
		"billing_events":      len(doc.Events) >= 3, // payment_received, renewed, portal_invite
		"notifications":       len(doc.Notifications) == 1 && doc.Notifications[0].Subject == "EXP-SUBJECT",
		"notification_log":    len(doc.NotificationLog) == 1 && doc.NotificationLog[0].Error == "EXP-ATTEMPT",
		"privacy_requests":    strings.Contains(text, "EXP-REQUEST"),
		"audit_log":           strings.Contains(text, "EXP-AUDIT"),
		"topups":              len(doc.TopUps) == 1 && doc.TopUps[0].Reference == "tg-EXPTOPUP0000000000000001",
		"payments":            len(doc.Payments) == 1 && doc.Payments[0].Account == "exporter" && doc.Payments[0].ProviderID == "EXP-PAY",
		"payment_reviews":     len(doc.PaymentReviews) == 1 && doc.PaymentReviews[0].Raw != nil && strings.Contains(*doc.PaymentReviews[0].Raw, "EXP-RAW"),
	}
	rows, err := pool.Query(ctx, subscriberTablesSQL)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if len(tables) < 15 {
		t.Fatalf("the schema query found only %v", tables)
	}
	for _, tbl := range append(tables, "ledger_entries", "invoice_lines", "renewals", "notification_log", "audit_log") {
		if why, ok := notSubscriberData[tbl]; ok {
			t.Logf("%s: not exported: %s", tbl, why)
			continue
		}
		if !slices.Contains(doc.Sources, tbl) {
			t.Errorf("table %s holds subscribers' data but the export does not read it (billing/postgres exportSources)", tbl)
		}
		ok, checked := found[tbl]
		switch {
		case !checked:
			t.Errorf("table %s holds subscribers' data but this test seeds and checks no row of it", tbl)
		case !ok:
			t.Errorf("the export lacks the seeded row of %s", tbl)
		}
	}
	if strings.Contains(text, "other@example.net") || strings.Contains(text, "Name of other") || strings.Contains(text, "cash for other") {
		t.Error("the export holds the other subscriber's data")
	}
	var answered int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM privacy_requests WHERE subscriber_id = $1 AND kind = 'export' AND state = 'done' AND outcome = 'exported'`, id).Scan(&answered); err != nil || answered != 1 {
		t.Fatalf("%d export requests recorded, %v", answered, err)
	}
	var audited int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'privacy.export' AND actor LIKE 'cli%'`).Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("%d export audit entries, %v", audited, err)
	}
	// Without --out the document goes to standard output; an unknown name is exit 1.
	if out := s.MustRun("privacy", "export", "--username", "exporter"); !strings.Contains(out, `"format": "tollgate-export/1"`) {
		t.Fatalf("export to stdout: %.200s", out)
	}
	if code, _, _ := s.run("privacy", "export", "--username", "nobody"); code != 1 {
		t.Fatalf("export of nobody: exit %d", code)
	}
}

// apiSession signs a subscriber in through POST /api/v1/login and returns a client that
// sends the session's CSRF header.
type apiSession struct {
	w    *webClient
	csrf string
}

func (w *webClient) apiLogin(username, password string) *apiSession {
	w.t.Helper()
	var tok struct{ CSRF string }
	_, body := w.get("/api/v1/csrf")
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		w.t.Fatal(err)
	}
	a := &apiSession{w: w, csrf: tok.CSRF}
	var got struct{ Status, CSRF string }
	if st, body := a.do("POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":%q}`, username, password)); st != 200 || json.Unmarshal([]byte(body), &got) != nil {
		w.t.Fatalf("API sign-in of %s = %d: %s", username, st, body)
	}
	a.csrf = got.CSRF
	return a
}

func (a *apiSession) do(method, path, body string) (int, string) {
	a.w.t.Helper()
	req, err := http.NewRequest(method, a.w.base+path, strings.NewReader(body))
	if err != nil {
		a.w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", a.csrf)
	resp, err := a.w.hc.Do(req)
	if err != nil {
		a.w.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// redisText returns every key under prefix and its value, read by type, and its DUMP.
func redisText(t *testing.T, rdb *goredis.Client, prefix string) (string, int) {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	n := 0
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		n++
		fmt.Fprintf(&b, "%s\n", k)
		switch rdb.Type(ctx, k).Val() {
		case "string":
			fmt.Fprintf(&b, "%s\n", rdb.Get(ctx, k).Val())
		case "hash":
			fmt.Fprintf(&b, "%v\n", rdb.HGetAll(ctx, k).Val())
		case "zset":
			fmt.Fprintf(&b, "%v\n", rdb.ZRangeWithScores(ctx, k, 0, -1).Val())
		case "set":
			fmt.Fprintf(&b, "%v\n", rdb.SMembers(ctx, k).Val())
		case "list":
			fmt.Fprintf(&b, "%v\n", rdb.LRange(ctx, k, 0, -1).Val())
		}
		if d, err := rdb.Dump(ctx, k).Result(); err == nil {
			fmt.Fprintf(&b, "%s\n", d)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String(), n
}

// ledgerSums returns each subscriber wallet's balance and the sum of its entries.
func ledgerSums(t *testing.T, pool *pgxpool.Pool) map[int64][2]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT w.id, w.balance_cents, COALESCE(sum(e.amount_cents), 0)::bigint
		FROM wallets w LEFT JOIN ledger_entries e ON e.wallet_id = w.id WHERE w.subscriber_id IS NOT NULL GROUP BY w.id ORDER BY w.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][2]int64{}
	for rows.Next() {
		var id, bal, sum int64
		if err := rows.Scan(&id, &bal, &sum); err != nil {
			t.Fatal(err)
		}
		out[id] = [2]int64{bal, sum}
	}
	return out
}

// invoiceTotals returns every document's number and amounts.
func invoiceTotals(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT number, net_cents || '+' || tax_cents || '=' || total_cents || ' ' || currency FROM invoices`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		out[n] = v
	}
	return out
}

// dumpBytea returns the bytea values of a pg_dump (written as \\x and hex digits)
// decoded, one a line, so a search of the dump reads inside them too.
func dumpBytea(dump string) string {
	var b strings.Builder
	for _, m := range byteaRE.FindAllStringSubmatch(dump, -1) {
		if raw, err := hex.DecodeString(m[1]); err == nil {
			b.Write(raw)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

var byteaRE = regexp.MustCompile(`\\x((?:[0-9a-f]{2})+)`)

// TestE2EErasure: a subscriber with everything tollgate can hold (profile, MAC, PPPoE
// logins and sessions through radclient, Redis entries, invoices and receipts, messages
// sent through the in-process SMTP server, a portal sign-in, consents) asks for erasure
// through the API; `privacy run` before the grace erases nothing, after it: the
// erasure_done email arrives at the old address, the account is disconnected (the
// router gets a Disconnect-Request) and can no longer sign in, and then a full pg_dump
// and a scan of every Redis key and value under the prefix hold none of the
// subscriber's username, name, email, phone or MACs (inside bytea values too: the
// outgoing webhooks' messages); the erasure record names only the
// pseudonym; every wallet's entries still sum to its balance and every invoice keeps
// its amounts. A second subscriber is untouched.
func TestE2EErasure(t *testing.T) {
	if _, err := exec.LookPath("pg_dump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pg_dump not installed: %v", err)
		}
		t.Skip("pg_dump not installed")
	}
	s, paystack := paymentsStack(t)
	smtpSrv := billingtest.MustSMTP(t, billingtest.SMTPOptions{})
	t.Setenv("TOLLGATE_OPERATOR_NAME", "Example ISP")
	t.Setenv("TOLLGATE_SMTP_URL", "smtp://"+smtpSrv.Addr())
	t.Setenv("TOLLGATE_MAIL_FROM", "Example ISP <billing@example.net>")
	t.Setenv("TOLLGATE_PUBLIC_URL", "https://wifi.example.com")
	pool := s.mustPool()
	ctx := context.Background()
	const (
		secret   = "erasure-secret-1"
		user     = "zawadi-k7"
		name     = "Zawadi Kamau"
		email    = "zawadi.k7@example.org"
		phone    = "+254711222333"
		mac      = "AA:BB:CC:11:22:33"
		otherMAC = "AA:BB:CC:44:55:66"
		pppoePW  = "pppoe-pw-zk7"
		portalPW = "zawadi-portal-pw"
	)
	nas := radiustest.MustCoANAS(t, secret)
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret, "--coa-port", fmt.Sprint(nas.Port()))
	s.MustRun("plan", "add", "--name", "Fibre", "--kind", "pppoe", "--price", "20", "--rate-limit", "10M/10M")
	s.MustRun("subscriber", "add", "--username", user, "--password", pppoePW, "--plan", "Fibre", "--name", name, "--email", email, "--phone", phone, "--mac", mac)
	s.MustRun("subscriber", "add", "--username", "keeper", "--password", "pppoe-pw-keep", "--plan", "Fibre", "--name", "Kept Person", "--email", "keeper@example.org")
	for _, u := range []string{user, "keeper"} {
		s.MustRun("wallet", "credit", "--subscriber", u, "--amount", "50", "--note", "cash from "+u)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(portalPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.MustRun("subscriber", "set", "--username", user, "--portal-password-file", pw)
	s.MustRun("notify", "run") // the payment and renewal emails go out
	smtpSrv.WaitMails(t, 4)
	// An outgoing webhook endpoint: its messages name the subscriber and its devices.
	recv := mustHookReceiver(t)
	var ep webhookJSON
	if err := json.Unmarshal([]byte(s.MustRun("webhook", "add", "--url", recv.srv.URL+"/in", "--events", "payment.received,session.start,session.stop", "--json")), &ep); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	recv.secret = ep.Secret
	recv.mu.Unlock()
	s.serve()

	// Online through the router, with its MAC: auth log, a session, Redis entries.
	common := "NAS-Identifier=r1,NAS-Port-Type=Ethernet,Service-Type=Framed-User,Framed-Protocol=PPP,Called-Station-Id=pppoe1,Calling-Station-Id="
	out, _ := s.radclient(secret, "User-Name="+user+",User-Password="+pppoePW+",Service-Type=Framed-User,Framed-Protocol=PPP,Calling-Station-Id="+mac+",Message-Authenticator=0x00")
	mustContain(t, out, "Received Access-Accept")
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=Z1,User-Name="+user+",Framed-IP-Address=10.0.0.9,"+common+mac)
	s.mustAcct(secret, "Acct-Status-Type=Interim-Update,Acct-Session-Id=Z1,User-Name="+user+",Acct-Session-Time=60,Acct-Input-Octets=5000,Acct-Output-Octets=7000,"+common+mac)
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=K1,User-Name=keeper,Framed-IP-Address=10.0.0.10,"+common+otherMAC)
	// A session of another device of the subscriber, closed: its hash stays in Redis.
	s.mustAcct(secret, "Acct-Status-Type=Start,Acct-Session-Id=Z0,User-Name="+user+",Framed-IP-Address=10.0.0.8,"+common+"AA:BB:CC:77:88:99")
	s.mustAcct(secret, "Acct-Status-Type=Stop,Acct-Session-Id=Z0,User-Name="+user+",Acct-Session-Time=30,"+common+"AA:BB:CC:77:88:99")

	recv.wait(t, webhook.SessionStart, 3)
	recv.wait(t, webhook.PaymentReceived, 2)
	var hooks int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE encode(payload, 'escape') LIKE '%' || $1 || '%'`, user).Scan(&hooks); err != nil || hooks < 3 {
		t.Fatalf("%d webhook messages name the subscriber before the erasure, %v", hooks, err)
	}

	web := newWebClient(t, "http://"+s.httpAddr)
	api := web.apiLogin(user, portalPW)
	if st, body := api.do("PUT", "/api/v1/my/consents", `{"marketing":true}`); st != 200 {
		t.Fatalf("consents = %d %s", st, body)
	}
	if st, body := api.do("GET", "/api/v1/my", ""); st != 200 || !strings.Contains(body, `"balance":"30.00"`) {
		t.Fatalf("GET /api/v1/my = %d %s", st, body)
	}
	// Money through the providers: a Paystack top-up started on the portal and paid, a
	// second one left pending, and a payment by account that goes to review (its raw
	// event names the subscriber).
	var checkout struct {
		URL string `json:"checkout_url"`
	}
	if st, body := api.do("POST", "/api/v1/my/topup", `{"amount":"20.00"}`); st != 200 || json.Unmarshal([]byte(body), &checkout) != nil ||
		!strings.HasPrefix(checkout.URL, "https://checkout.paystack.test/") {
		t.Fatalf("top-up = %d %s", st, body)
	}
	inits := paystack.Inits()
	if len(inits) != 1 || inits[0].Email != email || inits[0].Amount != 2000 {
		t.Fatalf("Paystack initialize %+v", inits)
	}
	if st, body, _ := s.paystackWebhook(e2ePaystackKey, 55001, inits[0].Reference, 2000, "KES"); st != 200 {
		t.Fatalf("Paystack webhook = %d %s", st, body)
	}
	if st, body := api.do("POST", "/api/v1/my/topup", `{"amount":"5.00"}`); st != 200 {
		t.Fatalf("second top-up = %d %s", st, body)
	}
	if st, body, _ := s.standardWebhook("msg-z1", time.Now(), fmt.Sprintf(`{"type":"payment.succeeded","data":{"id":"mp-z1","account":%q,"amount":"7.00","currency":"USD","payer":%q}}`, user, phone)); st >= 300 {
		t.Fatalf("generic webhook = %d %s", st, body)
	}
	var reviews int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM payment_reviews WHERE raw LIKE '%' || $1 || '%'`, user).Scan(&reviews); err != nil || reviews != 1 {
		t.Fatalf("%d payment reviews naming the subscriber, %v", reviews, err)
	}
	if st, body := api.do("POST", "/api/v1/my/erasure", fmt.Sprintf(`{"password":%q}`, portalPW)); st != http.StatusAccepted {
		t.Fatalf("erasure request = %d %s", st, body)
	}
	// Before: Redis holds the name (usage and online keys, session hashes, the portal
	// session) and the MACs, which the scan below would find.
	rdb, prefix := s.redis(t)
	if before, _ := redisText(t, rdb, prefix); !strings.Contains(before, user) || !strings.Contains(before, mac) || !strings.Contains(before, "AA:BB:CC:77:88:99") {
		t.Fatalf("Redis before the erasure lacks the name or the MACs:\n%s", before)
	}
	ledgerBefore, invoicesBefore := ledgerSums(t, pool), invoiceTotals(t, pool)
	if len(invoicesBefore) != 5 {
		t.Fatalf("invoices before: %v", invoicesBefore)
	}
	mails := len(smtpSrv.Mails())

	// Not due before the grace (7 days).
	if out := s.MustRun("privacy", "run", "--now", time.Now().Add(6*24*time.Hour).Format(time.RFC3339)); !strings.Contains(out, "no erasure is due") {
		t.Fatalf("privacy run before the grace: %q", out)
	}
	var run billing.ErasureRun
	if err := json.Unmarshal([]byte(s.MustRun("privacy", "run", "--json", "--now", time.Now().Add(8*24*time.Hour).Format(time.RFC3339))), &run); err != nil {
		t.Fatal(err)
	}
	if len(run.Erased) != 1 || !run.Erased[0].Notified || run.Erased[0].Disconnected != 1 || !strings.HasPrefix(run.Erased[0].Pseudonym, "erased-") {
		t.Fatalf("privacy run = %+v", run)
	}
	pseudonym := run.Erased[0].Pseudonym

	// The notice reached the old address, once.
	all := smtpSrv.WaitMails(t, mails+1)
	last := all[len(all)-1]
	msg, err := mail.ReadMessage(bytes.NewReader(last.Data))
	if err != nil {
		t.Fatal(err)
	}
	if len(last.To) != 1 || last.To[0] != email || msg.Header.Get("Subject") != "Your data has been erased" || !strings.Contains(string(last.Data), "Hello Zawadi Kamau,") {
		t.Fatalf("erasure mail to %v:\n%s", last.To, last.Data)
	}
	// The router was told to end the session.
	select {
	case r := <-nas.Requests():
		if r.Code != 40 || r.Username != user || r.SessionID != "Z1" {
			t.Fatalf("CoA request %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no Disconnect-Request reached the router")
	}
	// The open portal session is gone.
	if st, _ := api.do("GET", "/api/v1/my", ""); st == 200 {
		t.Fatal("the portal session outlived the erasure")
	}

	// Everything written down: the database and Redis.
	dump, err := exec.Command("pg_dump", "--no-owner", mustEnv(t, "DATABASE_URL")).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, dump)
	}
	if !strings.Contains(string(dump), "keeper@example.org") || !strings.Contains(string(dump), pseudonym) {
		t.Fatal("the dump lacks the other subscriber or the pseudonym: the test dumped the wrong database")
	}
	dump = append(dump, dumpBytea(string(dump))...) // bytea columns (webhook messages) are dumped in hex
	rtext, keys := redisText(t, rdb, prefix)
	if keys < 3 || !strings.Contains(rtext, "keeper") {
		t.Fatalf("only %d Redis keys, keeper's among them %v: the test scanned the wrong prefix", keys, strings.Contains(rtext, "keeper"))
	}
	for where, text := range map[string]string{"pg_dump": string(dump), "redis": rtext} {
		lower := strings.ToLower(text)
		for _, id := range []string{user, name, "Zawadi", "Kamau", email, phone, strings.TrimPrefix(phone, "+"), mac, strings.ReplaceAll(mac, ":", "-"),
			"AA:BB:CC:77:88:99", "zawadi"} {
			if i := strings.Index(lower, strings.ToLower(id)); i >= 0 {
				t.Errorf("%s holds %q: …%s…", where, id, text[max(0, i-120):min(len(text), i+120)])
			}
		}
	}
	var erasedAt time.Time
	if err := pool.QueryRow(ctx, `SELECT erased_at FROM erasures WHERE pseudonym = $1`, pseudonym).Scan(&erasedAt); err != nil {
		t.Fatalf("no erasure record: %v", err)
	}
	var cols int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'erasures'`).Scan(&cols); err != nil || cols != 2 {
		t.Fatalf("the erasure record has %d columns, %v", cols, err)
	}

	// The money still adds up, and the documents read the same but for the customer.
	ledgerAfter, invoicesAfter := ledgerSums(t, pool), invoiceTotals(t, pool)
	for id, v := range ledgerAfter {
		if v[0] != v[1] || v != ledgerBefore[id] {
			t.Errorf("wallet %d: balance %d, entries sum %d (before %v)", id, v[0], v[1], ledgerBefore[id])
		}
	}
	if len(invoicesAfter) != len(invoicesBefore) {
		t.Fatalf("invoices %v → %v", invoicesBefore, invoicesAfter)
	}
	for n, v := range invoicesBefore {
		if invoicesAfter[n] != v {
			t.Errorf("invoice %s: %s → %s", n, v, invoicesAfter[n])
		}
	}
	var pending int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM topups WHERE state = 'pending'`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d top-ups still pending after the erasure, %v", pending, err)
	}
	var state string
	if err := pool.QueryRow(ctx, `SELECT u.state FROM subscriptions u JOIN subscribers s ON s.id = u.subscriber_id WHERE s.username = $1`, pseudonym).Scan(&state); err != nil || state != "cancelled" {
		t.Fatalf("the erased subscription is %q, %v; want cancelled", state, err)
	}
	var pseudonymous int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE username = $1 AND customer_name = ''`, pseudonym).Scan(&pseudonymous); err != nil || pseudonymous != 3 {
		t.Fatalf("%d invoices under the pseudonym, %v", pseudonymous, err)
	}
	// The other subscriber is untouched, online and in the logs.
	if on := s.sessions("--user", "keeper", "--online"); len(on) != 1 || on[0].MAC != otherMAC {
		t.Fatalf("keeper's sessions %+v", on)
	}
	// A second run finds nothing to do.
	if out := s.MustRun("privacy", "run", "--now", time.Now().Add(9*24*time.Hour).Format(time.RFC3339)); !strings.Contains(out, "no erasure is due") {
		t.Fatalf("second run: %q", out)
	}
	// No sign-in any more, to the portal or the network. (Last: a refused attempt is
	// logged under the name it typed, which is no longer anyone's.)
	if st, _ := web.apiLoginStatus(user, portalPW); st != http.StatusUnauthorized {
		t.Fatalf("sign-in after the erasure = %d", st)
	}
	out, _ = s.radclient(secret, "User-Name="+user+",User-Password="+pppoePW+",Service-Type=Framed-User,Framed-Protocol=PPP,Calling-Station-Id="+mac+",Message-Authenticator=0x00")
	mustContain(t, out, "Received Access-Reject")
}

// apiLoginStatus tries POST /api/v1/login and returns the status and body.
func (w *webClient) apiLoginStatus(username, password string) (int, string) {
	w.t.Helper()
	var tok struct{ CSRF string }
	_, body := w.get("/api/v1/csrf")
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		w.t.Fatal(err)
	}
	a := &apiSession{w: w, csrf: tok.CSRF}
	return a.do("POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":%q}`, username, password))
}

// TestE2EEraseOnRequest: `tollgate privacy erase --username U --reason …` erases at
// once through the same steps, is audited before (pseudonymised with the rest) and
// after (with the pseudonym), and without TOLLGATE_SMTP_URL says no notice was sent.
// Other entries of the audit log lose the subscriber's address and username, never a
// name another person shares.
// `privacy reviews` and `privacy decide` answer a review from the command line.
func TestE2EEraseOnRequest(t *testing.T) {
	s := MustStack(t, true)
	pool := s.mustPool()
	ctx := context.Background()
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe")
	s.MustRun("subscriber", "add", "--username", "rahel", "--password", "pppoe-pw-1", "--plan", "Home", "--name", "Rahel Tesfaye", "--email", "rahel@example.org")
	if code, _, errs := s.run("privacy", "erase", "--username", "rahel"); code != 2 || !strings.Contains(errs, "--reason") {
		t.Fatalf("erase without --reason: exit %d %q", code, errs)
	}
	// Entries of others: one that names Rahel's address or her username as a value is
	// scrubbed; one that merely shares her family name, or holds a longer username, is not.
	s.MustRun("subscriber", "add", "--username", "rahelx", "--password", "pppoe-pw-1", "--plan", "Home", "--name", "Abel Tesfaye")
	for _, d := range []string{`{"looked_up":"rahel@example.org"}`, `{"user":"rahel"}`, `{"note":"the Tesfaye family"}`, `{"user":"rahelx"}`} {
		mustExec(t, pool, `INSERT INTO audit_log (actor, action, target, detail) VALUES ('admin@example.com', 'test.other', 'subscriber:999', $1::jsonb)`, d)
	}
	var x billing.Erased
	if err := json.Unmarshal([]byte(s.MustRun("privacy", "erase", "--username", "rahel", "--reason", "letter from Rahel Tesfaye of 1 Dec 2026", "--json")), &x); err != nil {
		t.Fatal(err)
	}
	if x.Notified || x.NoNotice != "this server sends no email" || !strings.HasPrefix(x.Pseudonym, "erased-") {
		t.Fatalf("erase = %+v", x)
	}
	var actions []string
	rows, err := pool.Query(ctx, `SELECT action || ' ' || target || ' ' || detail::text FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, a)
	}
	joined := strings.Join(actions, "\n")
	if !strings.Contains(joined, "erasure.on_request") || !strings.Contains(joined, "erasure.done") || !strings.Contains(joined, x.Pseudonym) ||
		strings.Contains(joined, "rahel@example.org") || strings.Contains(joined, `"rahel"`) || strings.Contains(joined, "Rahel") ||
		!strings.Contains(joined, "the Tesfaye family") || !strings.Contains(joined, `"rahelx"`) ||
		strings.Count(joined, x.Pseudonym) < 4 {
		t.Fatalf("audit log:\n%s", joined)
	}
	if code, _, errs := s.run("privacy", "erase", "--username", "rahel", "--reason", "again"); code != 1 || !strings.Contains(errs, "rahel") {
		t.Fatalf("erase a name that is gone: exit %d %q", code, errs)
	}

	// A review from the command line.
	s.MustRun("subscriber", "add", "--username", "sami", "--password", "pppoe-pw-1", "--plan", "Home")
	var id int64
	if err := pool.QueryRow(ctx, `SELECT id FROM subscribers WHERE username = 'sami'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	mustExec(t, pool, `INSERT INTO billing_events (kind, subscriber_id, key) VALUES ('isolated', $1, 'isolated:t')`, id)
	mustExec(t, pool, `INSERT INTO privacy_requests (kind, subscriber_id, source, requested_by, created_at, due_at, decision, decision_ref, message)
		VALUES ('review', $1, 'web', 'subscriber:sami', now(), now() + interval '30 days', 'isolated for non-payment', 'event:1', 'I paid')`, id)
	if out := s.MustRun("privacy", "reviews"); !strings.Contains(out, "sami") || !strings.Contains(out, "I paid") || !strings.Contains(out, "open") {
		t.Fatalf("privacy reviews: %q", out)
	}
	var rid int64
	if err := pool.QueryRow(ctx, `SELECT id FROM privacy_requests WHERE kind = 'review'`).Scan(&rid); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := s.run("privacy", "decide", "--id", fmt.Sprint(rid), "--outcome", "maybe", "--note", "x"); code != 1 || !strings.Contains(errs, "outcome") {
		t.Fatalf("decide with a bad outcome: exit %d %q", code, errs)
	}
	if out := s.MustRun("privacy", "decide", "--id", fmt.Sprint(rid), "--outcome", "upheld", "--note", "The invoice was unpaid."); !strings.Contains(out, "decided: upheld") {
		t.Fatalf("privacy decide: %q", out)
	}
	var kind string
	if err := pool.QueryRow(ctx, `SELECT kind FROM billing_events WHERE subscriber_id = $1 ORDER BY id DESC LIMIT 1`, id).Scan(&kind); err != nil || kind != "review_decided" {
		t.Fatalf("event %q, %v", kind, err)
	}
	if out := s.MustRun("privacy", "reviews"); strings.Contains(out, "sami") {
		t.Fatalf("a decided review is still listed as open: %q", out)
	}
	if out := s.MustRun("privacy", "reviews", "--all"); !strings.Contains(out, "done: upheld") {
		t.Fatalf("privacy reviews --all: %q", out)
	}
}

// TestE2EGuestListener: with TOLLGATE_ADMIN_ADDR set, the guests' listener
// (TOLLGATE_HTTP_ADDR) serves the subscribers' sign-in, /my, its API and /privacy, and
// refuses a staff account's right password like a wrong one; staff routes are 404
// there; the admin listener keeps the staff sign-in.
func TestE2EGuestListener(t *testing.T) {
	s := MustStack(t, true)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	t.Setenv("TOLLGATE_ADMIN_ADDR", adminAddr)
	const pw = "correct-horse-battery"
	if code, _, errs := s.runWithStdin(pw+"\n", "admin", "add", "--email", "admin@example.com"); code != 0 {
		t.Fatal(errs)
	}
	s.MustRun("plan", "add", "--name", "Home", "--kind", "pppoe")
	s.MustRun("subscriber", "add", "--username", "tumi", "--password", "pppoe-pw-1", "--plan", "Home")
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("tumi-portal-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.MustRun("subscriber", "set", "--username", "tumi", "--portal-password-file", file)
	s.serve()
	guest, staff := newWebClient(t, "http://"+s.httpAddr), newWebClient(t, "http://"+adminAddr)
	if code, _ := guest.login("admin@example.com", pw); code != http.StatusUnauthorized {
		t.Fatalf("admin sign-in on the guests' listener = %d", code)
	}
	if st, body := guest.apiLoginStatus("admin@example.com", pw); st != http.StatusUnauthorized || !strings.Contains(body, "wrong username or password") {
		t.Fatalf("admin API sign-in on the guests' listener = %d %s", st, body)
	}
	if code, loc := guest.login("tumi", "tumi-portal-pw"); code != http.StatusSeeOther || loc != "/my" {
		t.Fatalf("subscriber sign-in on the guests' listener = %d %q", code, loc)
	}
	for _, tc := range []struct {
		c      *webClient
		path   string
		status int
	}{
		{guest, "/my", 200},
		{guest, "/my/privacy", 200},
		{guest, "/api/v1/my", 200},
		{guest, "/privacy", 200},
		{guest, "/admin", 404},
		{guest, "/admin/requests", 404},
		{guest, "/api/v1/plans", 404},
		{guest, "/api/v1/me", 404},
		{guest, "/login/totp", 404},
		{guest, "/metrics", 404},
		{staff, "/login", 200},
		{staff, "/hotspot/status", 404},
	} {
		if resp, _ := tc.c.get(tc.path); resp.StatusCode != tc.status {
			t.Errorf("GET %s%s = %d; want %d", tc.c.base, tc.path, resp.StatusCode, tc.status)
		}
	}
	if code, loc := staff.login("admin@example.com", pw); code != http.StatusSeeOther || loc != "/admin" {
		t.Fatalf("admin sign-in on the admin listener = %d %q", code, loc)
	}
	if resp, _ := staff.get("/admin/requests"); resp.StatusCode != 200 {
		t.Fatalf("GET /admin/requests on the admin listener = %d", resp.StatusCode)
	}
}
