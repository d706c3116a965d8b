package webhook

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

// TestSign checks the signature against the Standard Webhooks specification's example.
func TestSign(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if _, err := Sign("whsec_%%%", "msg_x", time.Now(), nil); radius.ErrorCode(err) != radius.EINVALID {
		t.Fatalf("bad secret: %v", err)
	}
}

func TestVerify(t *testing.T) {
	secret := NewSecret()
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+32 {
		t.Fatalf("secret %q", secret)
	}
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"session.start"}`)
	sign := func(id string, ts time.Time, b []byte) http.Header {
		sig, err := Sign(secret, id, ts, b)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	for _, tt := range []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"good", sign("msg_1", now, body), body, true},
		{"another signature first", func() http.Header {
			h := sign("msg_1", now, body)
			h.Set("webhook-signature", "v1,AAAA "+h.Get("webhook-signature"))
			return h
		}(), body, true},
		{"body changed", sign("msg_1", now, body), []byte(`{"type":"session.stop"}`), false},
		{"id changed", func() http.Header { h := sign("msg_1", now, body); h.Set("webhook-id", "msg_2"); return h }(), body, false},
		{"too old", sign("msg_1", now.Add(-Tolerance-time.Second), body), body, false},
		{"from the future", sign("msg_1", now.Add(Tolerance+time.Second), body), body, false},
		{"no headers", http.Header{}, body, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(secret, tt.h, tt.body, now)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if err := Verify(NewSecret(), sign("msg_1", now, body), body, now); err == nil {
		t.Fatal("another endpoint's secret verified")
	}
}

func TestNewEndpointValidate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    NewEndpoint
		field string // "" for valid
	}{
		{"valid", NewEndpoint{URL: "https://hooks.example.com/tollgate", Events: []string{SessionStop, PaymentReceived}}, ""},
		{"http", NewEndpoint{URL: "http://10.0.0.5:8080/in", Events: []string{SessionStart}}, ""},
		{"no url", NewEndpoint{Events: []string{SessionStart}}, "url"},
		{"ftp", NewEndpoint{URL: "ftp://example.com/x", Events: []string{SessionStart}}, "url"},
		{"credentials", NewEndpoint{URL: "https://u:p@example.com/x", Events: []string{SessionStart}}, "url"},
		{"no events", NewEndpoint{URL: "https://example.com/x"}, "events"},
		{"unknown event", NewEndpoint{URL: "https://example.com/x", Events: []string{"session.interim"}}, "events"},
		{"long description", NewEndpoint{URL: "https://example.com/x", Events: []string{SessionStart}, Description: strings.Repeat("x", 201)}, "description"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), tt.field+": ") {
				t.Fatalf("Validate = %v, want EINVALID about %s", err, tt.field)
			}
		})
	}
	n := NewEndpoint{URL: "https://example.com/x", Events: []string{SessionStop, PaymentReceived, SessionStop}}
	if err := n.Validate(); err != nil || strings.Join(n.Events, ",") != "payment.received,session.stop" {
		t.Fatalf("events normalized to %v, %v", n.Events, err)
	}
}

func TestNextAttempt(t *testing.T) {
	at := time.Unix(0, 0)
	var waits []time.Duration
	for i := 1; ; i++ {
		next, ok := NextAttempt(i, at)
		if !ok {
			if i != MaxAttempts {
				t.Fatalf("gave up after attempt %d; MaxAttempts is %d", i, MaxAttempts)
			}
			break
		}
		waits = append(waits, next.Sub(at))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] <= waits[i-1] {
			t.Fatalf("waits do not grow: %v", waits)
		}
	}
	if waits[0] != 5*time.Second {
		t.Fatalf("first retry after %v", waits[0])
	}
}

func TestMessageID(t *testing.T) {
	a, b := MessageID(PaymentReceived, "payment:7"), MessageID(PaymentReceived, "payment:8")
	if a == b || a != MessageID(PaymentReceived, "payment:7") {
		t.Fatalf("ids %s %s", a, b)
	}
	if !regexp.MustCompile(`^msg_[A-Za-z0-9_-]{24}$`).MatchString(a) {
		t.Fatalf("id %q does not fit the schema's pattern", a)
	}
}
