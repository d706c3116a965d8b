package payments

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

func TestVerifyPaystack(t *testing.T) {
	key := []byte("sk_test_0123456789abcdef")
	body := []byte(`{"event":"charge.success","data":{"id":1}}`)
	good := SignPaystack(key, body)
	if len(good) != 128 || strings.ToLower(good) != good {
		t.Fatalf("signature %q: want 128 lowercase hex digits", good)
	}
	for _, tc := range []struct {
		name      string
		key, body []byte
		sig       string
		want      bool
	}{
		{"good", key, body, good, true},
		{"other key", []byte("sk_test_other"), body, good, false},
		{"body changed", key, append([]byte(nil), append(body, ' ')...), good, false},
		{"upper-case hex", key, body, strings.ToUpper(good), true}, // the same bytes
		{"truncated", key, body, good[:127], false},
		{"not hex", key, body, strings.Repeat("zz", 64), false},
		{"empty", key, body, "", false},
		{"no key", nil, body, SignPaystack(nil, body), false},
		{"sha256 length", key, body, good[:64], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyPaystack(tc.key, tc.body, tc.sig); got != tc.want {
				t.Fatalf("VerifyPaystack = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyStandard(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k1, k2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	body := []byte(`{"type":"payment.succeeded"}`)
	ts := now.Unix()
	sig1 := SignStandard(k1, "msg_1", ts, body)
	sig2 := SignStandard(k2, "msg_1", ts, body)
	h := func(id string, ts int64, sig string) StandardHeaders {
		return StandardHeaders{ID: id, Timestamp: strconv.FormatInt(ts, 10), Signature: sig}
	}
	for _, tc := range []struct {
		name string
		keys [][]byte
		h    StandardHeaders
		body []byte
		want error // nil, ErrSignature, ErrStale; or the code of any other error
		code string
	}{
		{"good", [][]byte{k1}, h("msg_1", ts, sig1), body, nil, ""},
		{"rotation: two signatures, the second valid", [][]byte{k1}, h("msg_1", ts, sig2+" "+sig1), body, nil, ""},
		{"rotation: two signatures, none valid", [][]byte{k1}, h("msg_1", ts, sig2+" "+sig2), body, ErrSignature, ""},
		{"rotation on our side: the second key", [][]byte{k2, k1}, h("msg_1", ts, sig1), body, nil, ""},
		{"other key", [][]byte{k2}, h("msg_1", ts, sig1), body, ErrSignature, ""},
		{"id changed", [][]byte{k1}, h("msg_2", ts, sig1), body, ErrSignature, ""},
		{"timestamp changed", [][]byte{k1}, h("msg_1", ts+1, sig1), body, ErrSignature, ""},
		{"body changed", [][]byte{k1}, h("msg_1", ts, sig1), []byte(`{"type":"payment.succeeded" }`), ErrSignature, ""},
		{"another version only", [][]byte{k1}, h("msg_1", ts, "v2,"+strings.TrimPrefix(sig1, "v1,")), body, ErrSignature, ""},
		{"no version", [][]byte{k1}, h("msg_1", ts, strings.TrimPrefix(sig1, "v1,")), body, ErrSignature, ""},
		{"not base64", [][]byte{k1}, h("msg_1", ts, "v1,!!!"), body, ErrSignature, ""},
		{"missing signature", [][]byte{k1}, h("msg_1", ts, ""), body, ErrSignature, ""},
		{"stale: 6 minutes old", [][]byte{k1}, h("msg_1", ts-360, SignStandard(k1, "msg_1", ts-360, body)), body, ErrStale, ""},
		{"stale: 6 minutes ahead", [][]byte{k1}, h("msg_1", ts+360, SignStandard(k1, "msg_1", ts+360, body)), body, ErrStale, ""},
		{"4 minutes old is fine", [][]byte{k1}, h("msg_1", ts-240, SignStandard(k1, "msg_1", ts-240, body)), body, nil, ""},
		{"missing id", [][]byte{k1}, h("", ts, sig1), body, nil, radius.EINVALID},
		{"missing timestamp", [][]byte{k1}, StandardHeaders{ID: "msg_1", Signature: sig1}, body, nil, radius.EINVALID},
		{"timestamp not a number", [][]byte{k1}, StandardHeaders{ID: "msg_1", Timestamp: "yesterday", Signature: sig1}, body, nil, radius.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyStandard(tc.keys, tc.h, tc.body, now)
			switch {
			case tc.code != "":
				if radius.ErrorCode(err) != tc.code {
					t.Fatalf("= %v; want code %s", err, tc.code)
				}
			case err != tc.want:
				t.Fatalf("= %v; want %v", err, tc.want)
			}
		})
	}
}

func TestParseWebhookSecrets(t *testing.T) {
	k := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	keys, err := ParseWebhookSecrets("whsec_" + k + "  whsec_" + k)
	if err != nil || len(keys) != 2 || string(keys[0]) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("= %q, %v", keys, err)
	}
	for _, bad := range []string{"", k, "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := ParseWebhookSecrets(bad); radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), "secret: ") {
			t.Errorf("ParseWebhookSecrets(%q) = %v", bad, err)
		}
	}
}

func TestParsePaystack(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Payment
		typ, field string // field: the refusal's
	}{
		{"charge.success", `{"event":"charge.success","data":{"id":302961,"reference":"tg-ABC","amount":2000,"currency":"NGN","customer":{"email":"a@b.c"}}}`,
			Payment{Provider: Paystack, ProviderID: "302961", Reference: "tg-ABC", AmountCents: 2000, Currency: "NGN"}, TypeChargeSuccess, ""},
		{"other event", `{"event":"transfer.success","data":{"id":"x"}}`, Payment{}, "transfer.success", ""},
		{"no event", `{"data":{}}`, Payment{}, "", "event"},
		{"not JSON", `{"event":`, Payment{}, "", "body"},
		{"two values", `{"event":"x"} {}`, Payment{}, "", "body"},
		{"id missing", `{"event":"charge.success","data":{"reference":"r","amount":1,"currency":"NGN"}}`, Payment{}, "", "data.id"},
		{"amount with decimals", `{"event":"charge.success","data":{"id":1,"reference":"r","amount":20.5,"currency":"NGN"}}`, Payment{}, "", "data.amount"},
		{"amount zero", `{"event":"charge.success","data":{"id":1,"reference":"r","amount":0,"currency":"NGN"}}`, Payment{}, "", "data.amount"},
		{"amount a string", `{"event":"charge.success","data":{"id":1,"reference":"r","amount":"2000","currency":"NGN"}}`, Payment{}, "", "data.amount"},
		{"no reference", `{"event":"charge.success","data":{"id":1,"amount":1,"currency":"NGN"}}`, Payment{}, "", "data.reference"},
		{"bad currency", `{"event":"charge.success","data":{"id":1,"reference":"r","amount":1,"currency":"naira"}}`, Payment{}, "", "data.currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParsePaystack([]byte(tc.body))
			if tc.field != "" {
				if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), tc.field+": ") {
					t.Fatalf("= %v; want a refusal naming %s", err, tc.field)
				}
				return
			}
			if err != nil || ev.Type != tc.typ || ev.Payment != tc.want || string(ev.Raw) != tc.body {
				t.Fatalf("= %+v, %v", ev, err)
			}
		})
	}
}

func TestParseStandard(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Payment
		typ, field string
	}{
		{"reference", `{"type":"payment.succeeded","data":{"id":"tx1","reference":"tg-X","amount":"20.00","currency":"USD"}}`,
			Payment{Provider: Generic, ProviderID: "tx1", Reference: "tg-X", AmountCents: 2000, Currency: "USD"}, TypePaymentSucceeded, ""},
		{"account, numeric id", `{"type":"payment.succeeded","data":{"id":77,"account":"alice","amount":"5","currency":"KES"}}`,
			Payment{Provider: Generic, ProviderID: "77", Account: "alice", AmountCents: 500, Currency: "KES"}, TypePaymentSucceeded, ""},
		{"failed", `{"type":"payment.failed","data":{"id":"tx2","reference":"tg-X"}}`,
			Payment{Provider: Generic, ProviderID: "tx2", Reference: "tg-X"}, TypePaymentFailed, ""},
		{"other type", `{"type":"payout.sent","data":{}}`, Payment{}, "payout.sent", ""},
		{"both reference and account", `{"type":"payment.succeeded","data":{"id":"t","reference":"r","account":"a","amount":"1.00","currency":"USD"}}`, Payment{}, "", "data.reference"},
		{"neither", `{"type":"payment.succeeded","data":{"id":"t","amount":"1.00","currency":"USD"}}`, Payment{}, "", "data.reference"},
		{"amount a number", `{"type":"payment.succeeded","data":{"id":"t","account":"a","amount":20.5,"currency":"USD"}}`, Payment{}, "", "data.amount"},
		{"amount three decimals", `{"type":"payment.succeeded","data":{"id":"t","account":"a","amount":"1.005","currency":"USD"}}`, Payment{}, "", "data.amount"},
		{"amount negative", `{"type":"payment.succeeded","data":{"id":"t","account":"a","amount":"-1.00","currency":"USD"}}`, Payment{}, "", "data.amount"},
		{"amount zero", `{"type":"payment.succeeded","data":{"id":"t","account":"a","amount":"0.00","currency":"USD"}}`, Payment{}, "", "data.amount"},
		{"no id", `{"type":"payment.succeeded","data":{"account":"a","amount":"1.00","currency":"USD"}}`, Payment{}, "", "data.id"},
		{"no currency", `{"type":"payment.succeeded","data":{"id":"t","account":"a","amount":"1.00"}}`, Payment{}, "", "data.currency"},
		{"failed without reference", `{"type":"payment.failed","data":{"id":"t"}}`, Payment{}, "", "data.reference"},
		{"no type", `{"data":{}}`, Payment{}, "", "type"},
		{"malformed", `not json`, Payment{}, "", "body"},
		{"id with a newline", `{"type":"payment.succeeded","data":{"id":"a\nb","account":"a","amount":"1.00","currency":"USD"}}`, Payment{}, "", "data.id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseStandard("msg_1", []byte(tc.body))
			if tc.field != "" {
				if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), tc.field+": ") {
					t.Fatalf("= %v; want a refusal naming %s", err, tc.field)
				}
				return
			}
			if err != nil || ev.Type != tc.typ || ev.Payment != tc.want || ev.DeliveryID != "msg_1" {
				t.Fatalf("= %+v, %v", ev, err)
			}
		})
	}
}

func FuzzParsePaystack(f *testing.F) {
	f.Add([]byte(`{"event":"charge.success","data":{"id":302961,"reference":"tg-ABC","amount":2000,"currency":"NGN"}}`))
	f.Add([]byte(`{"event":"charge.success","data":{"id":1e3,"amount":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParsePaystack(b)
		if err != nil {
			if radius.ErrorCode(err) != radius.EINVALID {
				t.Fatalf("refusal %v is not EINVALID", err)
			}
			return
		}
		if ev.Type == TypeChargeSuccess && (ev.Payment.AmountCents <= 0 || ev.Payment.Reference == "" || ev.Payment.ProviderID == "") {
			t.Fatalf("accepted %+v", ev.Payment)
		}
	})
}

func FuzzParseStandard(f *testing.F) {
	f.Add([]byte(`{"type":"payment.succeeded","data":{"id":"tx1","reference":"tg-X","amount":"20.00","currency":"USD"}}`))
	f.Add([]byte(`{"type":"payment.failed","data":{"id":2,"reference":"r"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseStandard("m", b)
		if err != nil {
			if radius.ErrorCode(err) != radius.EINVALID {
				t.Fatalf("refusal %v is not EINVALID", err)
			}
			return
		}
		if ev.Type == TypePaymentSucceeded && (ev.Payment.AmountCents <= 0 || (ev.Payment.Reference == "") == (ev.Payment.Account == "")) {
			t.Fatalf("accepted %+v", ev.Payment)
		}
	})
}

func TestJudge(t *testing.T) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	pending := TopUp{Provider: Paystack, State: Pending, AmountCents: 2000, Currency: "NGN", ExpiresAt: now.Add(time.Minute)}
	pay := Payment{Provider: Paystack, AmountCents: 2000, Currency: "NGN"}
	for _, tc := range []struct {
		name string
		t    func(*TopUp)
		p    func(*Payment)
		want Reason
	}{
		{"matches", nil, nil, ""},
		{"amount", nil, func(p *Payment) { p.AmountCents = 1999 }, ReasonAmountMismatch},
		{"currency", nil, func(p *Payment) { p.Currency = "USD" }, ReasonCurrencyMismatch},
		{"past its expiry, still pending", func(t *TopUp) { t.ExpiresAt = now }, nil, ReasonExpired},
		{"expired by the pass", func(t *TopUp) { t.State = Expired }, nil, ReasonExpired},
		{"paid before", func(t *TopUp) { t.State = Paid }, nil, ReasonNotPending},
		{"failed before", func(t *TopUp) { t.State = Failed }, nil, ReasonNotPending},
		{"other provider", nil, func(p *Payment) { p.Provider = Generic }, ReasonProviderMismatch},
		{"expired and short: expired wins", func(t *TopUp) { t.State = Expired }, func(p *Payment) { p.AmountCents = 1 }, ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tu, p := pending, pay
			if tc.t != nil {
				tc.t(&tu)
			}
			if tc.p != nil {
				tc.p(&p)
			}
			if got := Judge(&tu, &p, now); got != tc.want {
				t.Fatalf("Judge = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCanMove(t *testing.T) {
	states := []State{Pending, Paid, Failed, Expired}
	for _, from := range states {
		for _, to := range states {
			want := from == Pending && to != Pending
			if got := CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v", from, to, got)
			}
		}
	}
}

func TestNewReference(t *testing.T) {
	re := regexp.MustCompile(`^tg-[A-Z0-9]{24}$`) // the schema's CHECK, and Paystack's alphabet
	seen := map[string]bool{}
	for range 1000 {
		r := NewReference()
		if !re.MatchString(r) || seen[r] {
			t.Fatalf("reference %q (seen: %v)", r, seen[r])
		}
		seen[r] = true
	}
}
