package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tollgate/webhook"
)

// hookReceiver is a local HTTP endpoint that verifies each request's Standard Webhooks
// signature with its secret and keeps the verified bodies by type.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	bad    int
	got    map[string][]map[string]any
}

func mustHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	r := &hookReceiver{got: map[string][]map[string]any{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
			r.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			r.bad++
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.got[m.Type] = append(r.got[m.Type], m.Data)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait polls until the receiver holds n messages of type typ.
func (r *hookReceiver) wait(t *testing.T, typ string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		got := append([]map[string]any(nil), r.got[typ]...)
		bad := r.bad
		r.mu.Unlock()
		if bad > 0 {
			t.Fatalf("%d requests failed the signature check", bad)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s messages after 20s, want %d", len(got), typ, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWebhookCLI adds an endpoint with `tollgate webhook add`, and a running server
// delivers a payment and a session's start and stop to it, signed; `webhook list` and
// `webhook deliveries` show them, `webhook remove` removes the endpoint.
func TestWebhookCLI(t *testing.T) {
	s := MustStack(t, true)
	recv := mustHookReceiver(t)
	out := s.MustRun("webhook", "add", "--url", recv.srv.URL+"/in", "--events", "payment.received,session.start", "--events", "session.stop", "--json")
	var ep webhookJSON
	if err := json.Unmarshal([]byte(out), &ep); err != nil || !strings.HasPrefix(ep.Secret, "whsec_") || len(ep.Events) != 3 {
		t.Fatalf("webhook add: %s", out)
	}
	recv.mu.Lock()
	recv.secret = ep.Secret
	recv.mu.Unlock()
	if code, _, errs := s.run("webhook", "add", "--url", "ftp://x", "--events", "session.start"); code == 0 || !strings.Contains(errs, "url: ") {
		t.Fatalf("a bad url: exit %d %s", code, errs)
	}
	if list := s.MustRun("webhook", "list"); !strings.Contains(list, recv.srv.URL) || strings.Contains(list, ep.Secret) {
		t.Fatalf("webhook list:\n%s", list)
	}
	secret := "s3cret-nas-12"
	s.MustRun("nas", "add", "--name", "r1", "--address", "127.0.0.1", "--secret", secret)
	s.MustRun("plan", "add", "--name", "home", "--kind", "pppoe", "--rate-limit", "2M/4M")
	s.MustRun("subscriber", "add", "--username", "alice", "--password", "pw-alice", "--plan", "home")
	s.serve()

	s.MustRun("wallet", "credit", "--subscriber", "alice", "--amount", "10.00", "--note", "cash at the counter")
	pay := recv.wait(t, webhook.PaymentReceived, 1)
	if pay[0]["username"] != "alice" || !strings.HasPrefix(pay[0]["amount"].(string), "10.00 ") {
		t.Fatalf("payment %v", pay[0])
	}

	bin := mustRadclient(t)
	acct := os.Getenv("TOLLGATE_RADIUS_ACCT_ADDR")
	send := func(attrs string) {
		t.Helper()
		cmd := exec.Command(bin, "-x", "-r", "3", "-t", "2", acct, "acct", secret)
		cmd.Stdin = strings.NewReader(attrs)
		if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "Accounting-Response") {
			t.Fatalf("radclient acct: %v\n%s", err, b)
		}
	}
	send("Acct-Status-Type=Start,User-Name=alice,Acct-Session-Id=81600001,Framed-IP-Address=100.64.0.7,Calling-Station-Id=AA:BB:CC:00:00:07")
	start := recv.wait(t, webhook.SessionStart, 1)
	send("Acct-Status-Type=Stop,User-Name=alice,Acct-Session-Id=81600001,Acct-Session-Time=120,Acct-Output-Octets=4096,Acct-Terminate-Cause=User-Request")
	stop := recv.wait(t, webhook.SessionStop, 1)
	if start[0]["username"] != "alice" || start[0]["ip"] != "100.64.0.7" || start[0]["nas"] != "r1" || stop[0]["terminate_cause"] != "User-Request" ||
		stop[0]["output_octets"] != float64(4096) {
		t.Fatalf("start %v stop %v", start[0], stop[0])
	}

	var log []deliveryJSON
	if err := json.Unmarshal([]byte(s.MustRun("webhook", "deliveries", "--json")), &log); err != nil || len(log) != 3 {
		t.Fatalf("deliveries %v %v", log, err)
	}
	for _, d := range log {
		if d.State != webhook.StateDelivered || d.Attempts != 1 || d.DeliveredAt == nil || !strings.HasPrefix(d.WebhookID, "msg_") {
			t.Fatalf("delivery %+v", d)
		}
	}
	s.MustRun("webhook", "remove", "--id", strconv.FormatInt(ep.ID, 10))
	if list := s.MustRun("webhook", "list", "--json"); strings.TrimSpace(list) != "[]" {
		t.Fatalf("after remove: %s", list)
	}
}
