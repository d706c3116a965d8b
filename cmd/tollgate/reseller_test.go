package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// uuidV4 matches the keys reseller credit makes up.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// mustResellerJSON runs a reseller command with --json and decodes its output into v.
func (s *stack) mustResellerJSON(v any, args ...string) {
	s.t.Helper()
	out := s.MustRun(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("tollgate %s --json: %v: %s", strings.Join(args, " "), err, out)
	}
}

func TestResellerCLI(t *testing.T) {
	s := MustStack(t, true)
	var r resellerJSON
	s.mustResellerJSON(&r, "reseller", "add", "--name", "Corner Shop", "--email", "shop@example.com", "--credit-limit", "5")
	if r.ID == 0 || r.Name != "Corner Shop" || r.Email != "shop@example.com" || r.CreditLimitCents != 500 || r.Status != "active" || r.BalanceCents != 0 {
		t.Fatalf("reseller add --json = %+v", r)
	}
	if out := s.MustRun("reseller", "add", "--name", "kiosk"); !strings.Contains(out, `added reseller "kiosk"`) || !strings.Contains(out, "credit limit 0.00") {
		t.Fatalf("reseller add: %q", out)
	}

	// A credit with a key: repeating it changes nothing and returns the same entry.
	var first, again ledgerEntryJSON
	s.mustResellerJSON(&first, "reseller", "credit", "--name", "Corner Shop", "--amount", "12.50", "--note", "cash", "--idempotency-key", "receipt-1")
	if first.ID == 0 || first.AmountCents != 1250 || first.BalanceAfterCents != 1250 || first.Kind != "topup" ||
		first.Actor != "cli" || first.Note != "cash" || first.IdempotencyKey != "receipt-1" || first.Replayed {
		t.Fatalf("reseller credit --json = %+v", first)
	}
	s.mustResellerJSON(&again, "reseller", "credit", "--name", "Corner Shop", "--amount", "12.50", "--note", "cash", "--idempotency-key", "receipt-1")
	if again.ID != first.ID || again.BalanceAfterCents != 1250 || !again.Replayed {
		t.Fatalf("repeated credit = %+v, first %+v", again, first)
	}
	out := s.MustRun("reseller", "credit", "--name", "Corner Shop", "--amount", "12.50", "--note", "cash", "--idempotency-key", "receipt-1")
	if !strings.Contains(out, "already credited (nothing changed): 12.50 USD") {
		t.Fatalf("repeated credit says %q", out)
	}

	// Without a key, a random one is made up and printed.
	out = s.MustRun("reseller", "credit", "--name", "Corner Shop", "--amount", "7.5", "--note", "bank transfer")
	_, key, ok := strings.Cut(out, "idempotency key: ")
	key = strings.TrimSpace(key)
	if !ok || !uuidV4.MatchString(key) || !strings.Contains(out, `credited 7.50 USD to "Corner Shop", balance 20.00 USD`) {
		t.Fatalf("credit without a key printed %q", out)
	}
	var third ledgerEntryJSON
	s.mustResellerJSON(&third, "reseller", "credit", "--name", "Corner Shop", "--amount", "1", "--note", "coins")
	if !uuidV4.MatchString(third.IdempotencyKey) || third.IdempotencyKey == key || third.BalanceAfterCents != 2100 {
		t.Fatalf("credit without a key = %+v (previous key %s)", third, key)
	}
	// Retrying with the printed key is safe.
	s.mustResellerJSON(&again, "reseller", "credit", "--name", "Corner Shop", "--amount", "7.50", "--note", "bank transfer", "--idempotency-key", key)
	if !again.Replayed || again.BalanceAfterCents != 2000 {
		t.Fatalf("retry with the printed key = %+v", again)
	}

	var list []resellerJSON
	s.mustResellerJSON(&list, "reseller", "list")
	if len(list) != 2 || list[0].Name != "Corner Shop" || list[0].BalanceCents != 2100 || list[1].Name != "kiosk" {
		t.Fatalf("reseller list --json = %+v", list)
	}
	if out := s.MustRun("reseller", "list"); !strings.Contains(out, "BALANCE") || !strings.Contains(out, "21.00") {
		t.Fatalf("reseller list: %q", out)
	}

	var ledger []ledgerEntryJSON
	s.mustResellerJSON(&ledger, "reseller", "ledger", "--name", "Corner Shop")
	if len(ledger) != 3 || ledger[0].ID != third.ID || ledger[2].ID != first.ID || ledger[1].Note != "bank transfer" || ledger[0].Reseller != "Corner Shop" {
		t.Fatalf("reseller ledger --json = %+v", ledger)
	}
	s.mustResellerJSON(&ledger, "reseller", "ledger", "--name", "Corner Shop", "--limit", "1")
	if len(ledger) != 1 || ledger[0].ID != third.ID {
		t.Fatalf("reseller ledger --limit 1 = %+v", ledger)
	}
	if out := s.MustRun("reseller", "ledger", "--name", "Corner Shop"); !strings.Contains(out, "topup") || !strings.Contains(out, "12.50") || !strings.Contains(out, "bank transfer") {
		t.Fatalf("reseller ledger: %q", out)
	}

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"add: duplicate", []string{"reseller", "add", "--name", "kiosk"}, 1, "name"},
		{"add: bad name", []string{"reseller", "add", "--name", "a/b"}, 1, "name"},
		{"add: bad email", []string{"reseller", "add", "--name", "x", "--email", "not-an-address"}, 1, "email"},
		{"add: negative credit limit", []string{"reseller", "add", "--name", "x", "--credit-limit", "-5"}, 1, "credit-limit"},
		{"add: credit limit not money", []string{"reseller", "add", "--name", "x", "--credit-limit", "lots"}, 1, "credit-limit"},
		{"add: missing name", []string{"reseller", "add", "--email", "a@b.c"}, 2, "--name"},
		{"credit: amount with 3 decimals", []string{"reseller", "credit", "--name", "kiosk", "--amount", "1.005", "--note", "n"}, 1, "amount"},
		{"credit: negative amount", []string{"reseller", "credit", "--name", "kiosk", "--amount", "-1", "--note", "n"}, 1, "amount"},
		{"credit: zero", []string{"reseller", "credit", "--name", "kiosk", "--amount", "0", "--note", "n"}, 1, "amount"},
		{"credit: bad key", []string{"reseller", "credit", "--name", "kiosk", "--amount", "1", "--note", "n", "--idempotency-key", "a b"}, 1, "idempotency-key"},
		{"credit: key reused for another amount", []string{"reseller", "credit", "--name", "Corner Shop", "--amount", "99", "--note", "n", "--idempotency-key", "receipt-1"}, 1, "idempotency-key"},
		{"credit: unknown reseller", []string{"reseller", "credit", "--name", "nobody", "--amount", "1", "--note", "n"}, 1, "reseller"},
		{"credit: missing note", []string{"reseller", "credit", "--name", "kiosk", "--amount", "1"}, 2, "--note"},
		{"ledger: limit 0", []string{"reseller", "ledger", "--name", "kiosk", "--limit", "0"}, 1, "limit"},
		{"ledger: limit too big", []string{"reseller", "ledger", "--name", "kiosk", "--limit", "5000"}, 1, "limit"},
		{"ledger: unknown reseller", []string{"reseller", "ledger", "--name", "nobody"}, 1, "reseller"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := s.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d naming %q", code, errs, out, tc.code, tc.want)
			}
		})
	}
	// Nothing above moved money.
	s.mustResellerJSON(&list, "reseller", "list")
	if list[0].BalanceCents != 2100 || list[1].BalanceCents != 0 {
		t.Fatalf("balances after refused commands = %+v", list)
	}
	s.mustResellerJSON(&ledger, "reseller", "ledger", "--name", "kiosk")
	if len(ledger) != 0 {
		t.Fatalf("kiosk ledger = %+v", ledger)
	}
	// Keys are per wallet: Corner Shop's receipt-1 used on kiosk's wallet is a credit of
	// its own there.
	var other ledgerEntryJSON
	s.mustResellerJSON(&other, "reseller", "credit", "--name", "kiosk", "--amount", "12.50", "--note", "cash", "--idempotency-key", "receipt-1")
	if other.Replayed || other.ID == first.ID || other.BalanceAfterCents != 1250 {
		t.Fatalf("receipt-1 on another wallet = %+v", other)
	}
}
