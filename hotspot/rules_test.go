package hotspot

import (
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// wantInvalid checks that err is EINVALID with a message starting with prefix, or nil
// when prefix is "".
func wantInvalid(tb testing.TB, err error, prefix string) {
	tb.Helper()
	if prefix == "" {
		if err != nil {
			tb.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if radius.ErrorCode(err) != radius.EINVALID || !strings.HasPrefix(radius.ErrorMessage(err), prefix) {
		tb.Fatalf("err = %v (code %q), want EINVALID starting %q", err, radius.ErrorCode(err), prefix)
	}
}

func TestValidateGenerate(t *testing.T) {
	base := GenerateRequest{Plan: "1h", Count: 100}
	tests := []struct {
		name   string
		edit   func(r *GenerateRequest)
		prefix string
	}{
		{"defaults", func(r *GenerateRequest) {}, ""},
		{"everything set", func(r *GenerateRequest) {
			*r = GenerateRequest{Plan: "1h", Count: MaxBatch, Length: 12, Prefix: "HS-", Charset: "0123456789ABCDEF", Mode: ModeUserPass, Reseller: "kiosk-7"}
		}, ""},
		{"no plan", func(r *GenerateRequest) { r.Plan = "" }, "plan:"},
		{"count zero", func(r *GenerateRequest) { r.Count = 0 }, "count:"},
		{"count too big", func(r *GenerateRequest) { r.Count = MaxBatch + 1 }, "count:"},
		{"length too short", func(r *GenerateRequest) { r.Length = 3 }, "length:"},
		{"length too long", func(r *GenerateRequest) { r.Length = 33 }, "length:"},
		{"bad prefix", func(r *GenerateRequest) { r.Prefix = "a b" }, "prefix:"},
		{"bad charset", func(r *GenerateRequest) { r.Charset = "abc" }, "charset:"},
		{"bad mode", func(r *GenerateRequest) { r.Mode = "pin" }, "mode:"},
		{"guessable", func(r *GenerateRequest) { r.Charset, r.Length = "0123456789", 5 }, "length: 5 characters"},
		// The code space must reach 2^40: 8 of 32 symbols exactly, 12 digits not (10^12 <
		// 2^40 ≈ 1.1·10^12), 13 digits yes.
		{"8 of 32 is 2^40", func(r *GenerateRequest) { r.Length, r.Count = 8, 1000 }, ""},
		{"7 of 32 is below 2^40", func(r *GenerateRequest) { r.Length = 7 }, "length: 7 characters"},
		{"12 digits are below 2^40", func(r *GenerateRequest) { r.Charset, r.Length = "0123456789", 12 }, "length: 12 characters"},
		{"13 digits are enough", func(r *GenerateRequest) { r.Charset, r.Length = "0123456789", 13 }, ""},
		{"reseller with slash", func(r *GenerateRequest) { r.Reseller = "a/b" }, "reseller:"},
		{"reseller ending in space", func(r *GenerateRequest) { r.Reseller = "ab " }, "reseller:"},
		{"reseller too long", func(r *GenerateRequest) { r.Reseller = strings.Repeat("r", 65) }, "reseller:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.edit(&r)
			wantInvalid(t, ValidateGenerate(r), tt.prefix)
		})
	}
}

func TestSaleValidUntil(t *testing.T) {
	sale := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		p    billing.Plan
		want time.Time
	}{
		{"first login", billing.Plan{ValidityFrom: billing.FromFirstLogin, Validity: time.Hour}, time.Time{}},
		{"from sale", billing.Plan{ValidityFrom: billing.FromSale, Validity: 48 * time.Hour}, sale.Add(48 * time.Hour)},
		{"from sale, no validity", billing.Plan{ValidityFrom: billing.FromSale}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SaleValidUntil(&tt.p, sale); !got.Equal(tt.want) {
				t.Fatalf("SaleValidUntil = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEffectiveState(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		state radius.VoucherState
		until time.Time
		usage radius.Usage
		want  radius.VoucherState
	}{
		{"new", radius.VoucherNew, time.Time{}, radius.Usage{}, radius.VoucherNew},
		{"new, sale validity over", radius.VoucherNew, now, radius.Usage{}, radius.VoucherExpired},
		{"active within limits", radius.VoucherActive, now.Add(time.Minute), radius.Usage{Uptime: time.Minute}, radius.VoucherActive},
		{"active past validity", radius.VoucherActive, now.Add(-time.Minute), radius.Usage{}, radius.VoucherExpired},
		{"active, uptime used", radius.VoucherActive, time.Time{}, radius.Usage{Uptime: time.Hour}, radius.VoucherExhausted},
		{"active, data used", radius.VoucherActive, time.Time{}, radius.Usage{Bytes: 1000}, radius.VoucherExhausted},
		{"revoked stays revoked", radius.VoucherRevoked, now.Add(-time.Hour), radius.Usage{Uptime: time.Hour}, radius.VoucherRevoked},
		{"exhausted stays exhausted", radius.VoucherExhausted, now.Add(-time.Hour), radius.Usage{}, radius.VoucherExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Voucher{State: tt.state, ValidUntil: tt.until, UptimeLimit: time.Hour, DataLimit: 1000}
			if got := EffectiveState(v, tt.usage, now); got != tt.want {
				t.Fatalf("EffectiveState = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEffectiveStateAgreesWithDecide checks that the state Show reports and the decision
// the RADIUS path takes agree on every case above: a voucher shown as usable is
// accepted, one shown expired or exhausted is rejected for that reason.
func TestEffectiveStateAgreesWithDecide(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, until := range []time.Time{{}, now.Add(-time.Second), now.Add(time.Hour)} {
		for _, u := range []radius.Usage{{}, {Uptime: time.Hour}, {Bytes: 1000}} {
			for _, st := range radius.VoucherStates() {
				v := &Voucher{State: st, ValidUntil: until, UptimeLimit: time.Hour, DataLimit: 1000}
				a := &radius.Account{VoucherID: 1, Status: radius.StatusActive, Kind: radius.KindHotspot, VoucherState: st,
					ValidUntil: until, UptimeLimit: time.Hour, DataLimit: 1000}
				if st == radius.VoucherNew || st == radius.VoucherSold {
					u.Uptime, u.Bytes = 0, 0 // never used
				}
				d := radius.Decide(&radius.AuthRequest{Service: radius.ServiceLogin}, a, u, now)
				eff := EffectiveState(v, u, now)
				if d.Accept != eff.Usable() {
					t.Fatalf("state %q until %v usage %+v: effective %q but Decide accept=%v (%v)", st, until, u, eff, d.Accept, d.Reason)
				}
			}
		}
	}
}

func TestParseState(t *testing.T) {
	for _, s := range radius.VoucherStates() {
		if got, err := ParseState(string(s)); err != nil || got != s {
			t.Fatalf("ParseState(%q) = %q, %v", s, got, err)
		}
	}
	_, err := ParseState("used")
	wantInvalid(t, err, "state:")
}
