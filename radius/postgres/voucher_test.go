package postgres

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"tollgate/radius"
	"tollgate/radius/pg"
)

// MustVoucher inserts a voucher (password stored as given; the code as its test hash,
// codeHash) in a new batch on planID and returns its id. An empty username makes a
// voucher that logs in by its code, named radius.VoucherAccountName(id).
func MustVoucher(tb testing.TB, db pg.DBTX, planID int64, code, username string, password []byte) int64 {
	tb.Helper()
	mode := "userpass"
	if username == "" {
		mode, username = "code", "pending-"+code
	}
	batch := MustCount(tb, db, `INSERT INTO voucher_batches (plan_id, mode, count) VALUES ($1, $2, 1) RETURNING id`, planID, mode)
	id := MustCount(tb, db, `
INSERT INTO vouchers (batch_id, plan_id, code_hash, code_sealed, code_hint, username, password)
VALUES ($1, $2, $3, 'sealed', $4, $5, $6) RETURNING id`,
		batch, planID, codeHash(code), radius.MaskCode(code), username, password)
	if mode == "code" {
		MustExec(tb, db, `UPDATE vouchers SET username = $2 WHERE id = $1`, id, radius.VoucherAccountName(id))
	}
	return id
}

// codeHash stands for the keyed hash of a code (radius/seal is keyed; any 32 bytes do
// here).
func codeHash(code string) []byte {
	h := sha256.Sum256([]byte(radius.NormalizeCode(code)))
	return h[:]
}

// MustHotspotPlan inserts a hotspot plan with voucher settings and returns its id.
func MustHotspotPlan(tb testing.TB, db pg.DBTX, name, validityFrom string, validity time.Duration, lockMAC bool, nas, servers []string) int64 {
	tb.Helper()
	return MustCount(tb, db, `
INSERT INTO plans (name, kind, rate_limit, validity_seconds, uptime_limit_seconds, data_limit_bytes, shared_users,
                   validity_from, lock_mac, nas_names, hotspot_servers)
VALUES ($1, 'hotspot', '1M/2M', $2, 3600, 1073741824, 1, $3, $4, $5, $6)
RETURNING id`, name, int64(validity/time.Second), validityFrom, lockMAC, nas, servers)
}

func TestFindVoucherAccount(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	plan := MustHotspotPlan(t, pool, "1h", "first_login", 24*time.Hour, true, []string{"r1"}, []string{"hotspot1", "lobby"})
	free := MustHotspotPlan(t, pool, "free", "first_login", 0, false, []string{}, []string{})
	code := MustVoucher(t, pool, plan, "K7M2QX9P", "", []byte("sealed-code"))
	up := MustVoucher(t, pool, free, "Q3RT5WXY", "guest-42", []byte("sealed-pw"))
	// A subscriber shadows a voucher of the same name.
	MustCount(t, pool, `INSERT INTO subscribers (username, password, plan_id) VALUES ('SAME', 'sub', $1) RETURNING id`, free)
	MustVoucher(t, pool, free, "SAMECODE", "SAME", []byte("voucher"))

	want := &radius.Account{
		ID: code, VoucherID: code, Username: radius.VoucherAccountName(code), Password: []byte("sealed-code"), Status: radius.StatusActive, CodeHash: codeHash("K7M2QX9P"),
		PlanID: plan, PlanName: "1h", Kind: radius.KindHotspot, RateLimit: "1M/2M", UptimeLimit: time.Hour,
		DataLimit: 1 << 30, SharedUsers: 1, Interim: 300 * time.Second, VoucherState: radius.VoucherNew,
		LockMAC: true, AllowedNAS: []string{"r1"}, AllowedServers: []string{"hotspot1", "lobby"},
	}
	// By its code (the hash of it: the code is not stored) and by its account name.
	got, err := s.FindAccountByUsername(ctx, "K7M2QX9P", codeHash("K7M2QX9P"))
	if err != nil {
		t.Fatal(err)
	}
	MustEqualAccount(t, got, want)
	if got, err = s.FindAccountByUsername(ctx, want.Username, codeHash(want.Username)); err != nil || got.VoucherID != code {
		t.Fatalf("by account name = %+v, %v", got, err)
	}
	if _, err := s.FindAccountByUsername(ctx, "K7M2QX9P", nil); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("a code without its hash: %v, want ENOTFOUND (no code is stored)", err)
	}

	got, err = s.FindAccountByUsername(ctx, "guest-42", codeHash("guest-42"))
	if err != nil {
		t.Fatal(err)
	}
	if got.VoucherID != up || string(got.Password) != "sealed-pw" || got.AllowedNAS != nil || got.AllowedServers != nil || got.LockMAC {
		t.Fatalf("userpass voucher = %+v", got)
	}
	if got, err = s.FindAccountByUsername(ctx, "SAME", codeHash("SAME")); err != nil || got.VoucherID != 0 || string(got.Password) != "sub" {
		t.Fatalf("SAME = %+v, %v; want the subscriber", got, err)
	}

	// After activation the lookup carries the activation.
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	if _, won, err := s.ActivateVoucher(ctx, code, "AA:BB:CC:00:00:01", now); err != nil || !won {
		t.Fatalf("activate: won %v, %v", won, err)
	}
	got, _ = s.FindAccountByUsername(ctx, "K7M2QX9P", codeHash("K7M2QX9P"))
	if got.VoucherState != radius.VoucherActive || !got.ActivatedAt.Equal(now) || !got.ValidUntil.Equal(now.Add(24*time.Hour)) || got.MAC != "AA:BB:CC:00:00:01" {
		t.Fatalf("activated = %+v", got)
	}
}

func TestActivateVoucher(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	sale := now.Add(-time.Hour).Add(7 * 24 * time.Hour)
	tests := []struct {
		name      string
		from      string
		validity  time.Duration
		lock      bool
		mac       string
		saleUntil time.Time // valid_until set at the sale
		wantUntil time.Time
		wantMAC   string
	}{
		{"first login, locked", "first_login", 24 * time.Hour, true, "AA:BB:CC:00:00:01", time.Time{}, now.Add(24 * time.Hour), "AA:BB:CC:00:00:01"},
		{"first login, not locked", "first_login", 24 * time.Hour, false, "AA:BB:CC:00:00:01", time.Time{}, now.Add(24 * time.Hour), ""},
		{"first login, no validity", "first_login", 0, false, "", time.Time{}, time.Time{}, ""},
		{"locked, no MAC sent", "first_login", time.Hour, true, "", time.Time{}, now.Add(time.Hour), ""},
		{"from sale keeps its end", "sale", 7 * 24 * time.Hour, true, "AA:BB:CC:00:00:02", sale, sale, "AA:BB:CC:00:00:02"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := MustHotspotPlan(t, pool, fmt.Sprint("p", i), tt.from, tt.validity, tt.lock, []string{}, []string{})
			id := MustVoucher(t, pool, plan, fmt.Sprint("CODE", i), fmt.Sprint("CODE", i), []byte("x"))
			if !tt.saleUntil.IsZero() {
				MustExec(t, pool, `UPDATE vouchers SET valid_until = $2 WHERE id = $1`, id, tt.saleUntil)
			}
			act, won, err := s.ActivateVoucher(ctx, id, tt.mac, now)
			if err != nil || !won {
				t.Fatalf("activate: won %v, %v", won, err)
			}
			if act.State != radius.VoucherActive || !act.ActivatedAt.Equal(now) || !act.ValidUntil.Equal(tt.wantUntil) || act.MAC != tt.wantMAC {
				t.Fatalf("activation = %+v, want until %v mac %q", act, tt.wantUntil, tt.wantMAC)
			}
			// Once only: a later call changes nothing and returns the stored values.
			again, won, err := s.ActivateVoucher(ctx, id, "AA:BB:CC:00:00:09", now.Add(time.Hour))
			if err != nil || won || !again.ActivatedAt.Equal(now) || !again.ValidUntil.Equal(tt.wantUntil) || again.MAC != tt.wantMAC {
				t.Fatalf("second activation = %+v won %v, %v", again, won, err)
			}
		})
	}
	t.Run("revoked before use", func(t *testing.T) {
		plan := MustHotspotPlan(t, pool, "rev", "first_login", time.Hour, false, []string{}, []string{})
		id := MustVoucher(t, pool, plan, "REVOKED1", "REVOKED1", []byte("x"))
		MustExec(t, pool, `UPDATE vouchers SET state = 'revoked' WHERE id = $1`, id)
		act, won, err := s.ActivateVoucher(ctx, id, "", now)
		if err != nil || won || act.State != radius.VoucherRevoked || !act.ActivatedAt.IsZero() {
			t.Fatalf("activation = %+v won %v, %v", act, won, err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if _, _, err := s.ActivateVoucher(ctx, 999999, "", now); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("err = %v, want ENOTFOUND", err)
		}
	})
}

// TestActivateVoucherRace has 20 routers log the same new voucher in at once, each at its
// own time and from its own device: exactly one activates it, and all of them see its
// values.
func TestActivateVoucherRace(t *testing.T) {
	ctx := context.Background()
	s, pool := MustStore(t)
	plan := MustHotspotPlan(t, pool, "race", "first_login", 24*time.Hour, true, []string{}, []string{})
	id := MustVoucher(t, pool, plan, "RACE1234", "RACE1234", []byte("x"))
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		acts  [n]radius.Activation
		wins  [n]bool
		errs  [n]error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			acts[i], wins[i], errs[i] = s.ActivateVoucher(ctx, id, fmt.Sprintf("AA:BB:CC:00:00:%02X", i), base.Add(time.Duration(i)*time.Second))
		}(i)
	}
	close(start)
	wg.Wait()
	won := -1
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("router %d: %v", i, errs[i])
		}
		if wins[i] {
			if won >= 0 {
				t.Fatalf("routers %d and %d both activated the voucher", won, i)
			}
			won = i
		}
	}
	if won < 0 {
		t.Fatal("nobody activated the voucher")
	}
	w := acts[won]
	for i := 0; i < n; i++ {
		if acts[i] != w && !(acts[i].ActivatedAt.Equal(w.ActivatedAt) && acts[i].ValidUntil.Equal(w.ValidUntil) && acts[i].MAC == w.MAC && acts[i].State == w.State) {
			t.Fatalf("router %d sees %+v, the winner (%d) %+v", i, acts[i], won, w)
		}
	}
	if !w.ValidUntil.Equal(w.ActivatedAt.Add(24*time.Hour)) || w.MAC != fmt.Sprintf("AA:BB:CC:00:00:%02X", won) {
		t.Fatalf("winner %d: %+v", won, w)
	}
	t.Logf("router %d of %d won; every router sees valid_until %v", won, n, w.ValidUntil)
}
