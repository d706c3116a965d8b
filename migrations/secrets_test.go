package migrations_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tollgate/migrations"
	"tollgate/radius"
	"tollgate/radius/radiustest"
	"tollgate/radius/seal"
)

// sealUnbound seals plain the way versions before bound values did: AES-256-GCM, version
// byte 1, the version byte as the only associated data.
func sealUnbound(tb testing.TB, key, plain []byte) []byte {
	tb.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]byte, 1+aead.NonceSize())
	out[0] = 1
	_, _ = rand.Read(out[1:])
	return aead.Seal(out, out[1:], plain, out[:1])
}

// TestUpgradeSecrets: a database written by an older version (secrets sealed without
// binding, voucher codes in clear, sessions and logs under the code) is brought up to
// date by `tollgate migrate` in one pass: every secret opens bound to its row, no code is
// left in clear, and serve's check finds nothing left; a second pass changes nothing.
func TestUpgradeSecrets(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, radiustest.MustDBURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	key := bytes.Repeat([]byte{5}, seal.KeySize)
	s, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var nasID, planID, subID, batchID, codeID, upID int64
	scan := func(dst *int64, sql string, args ...any) {
		t.Helper()
		if err := pool.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	scan(&nasID, `INSERT INTO nas (name, address, secret) VALUES ('r1', '10.0.0.1', $1) RETURNING id`, sealUnbound(t, key, []byte("nas-secret-1")))
	scan(&planID, `INSERT INTO plans (name, kind) VALUES ('hs', 'hotspot') RETURNING id`)
	scan(&subID, `INSERT INTO subscribers (username, password, plan_id) VALUES ('alice', $1, $2) RETURNING id`, sealUnbound(t, key, []byte("pw-alice")), planID)
	scan(&batchID, `INSERT INTO voucher_batches (plan_id, mode, count) VALUES ($1, 'code', 1) RETURNING id`, planID)
	// Before the hashing, the vouchers table held the code, and the code-mode voucher's
	// username was its code.
	scan(&codeID, `INSERT INTO vouchers (batch_id, plan_id, code, username, password) VALUES ($1, $2, 'K7PQ4MQ2', 'K7PQ4MQ2', $3) RETURNING id`,
		batchID, planID, sealUnbound(t, key, []byte("K7PQ4MQ2")))
	var upBatch int64
	scan(&upBatch, `INSERT INTO voucher_batches (plan_id, mode, count) VALUES ($1, 'userpass', 1) RETURNING id`, planID)
	scan(&upID, `INSERT INTO vouchers (batch_id, plan_id, code, username, password) VALUES ($1, $2, 'Q3RT5WXY', 'guest-42', $3) RETURNING id`,
		upBatch, planID, sealUnbound(t, key, []byte("pw-guest")))
	exec(`INSERT INTO sessions (nas_id, acct_session_id, started_at, username, last_update) VALUES ($1, 'S1', now(), 'K7PQ4MQ2', now())`, nasID)
	exec(`INSERT INTO auth_log (at, nas_id, username, method, reason) VALUES (now(), $1, 'K7PQ4MQ2', 'pap', 'ok')`, nasID)

	if n, err := migrations.LegacySecrets(ctx, pool); err != nil || n != 6 {
		t.Fatalf("LegacySecrets before = %d, %v; want 6 (4 sealed values, 2 codes)", n, err)
	}
	up := migrations.Upgrade{
		OpenUnbound: s.OpenUnbound,
		Seal: func(plain []byte, column string, id int64) []byte {
			return s.Seal(plain, radius.SealedColumn(column).AD(id))
		},
		CodeHash:    func(code string) []byte { return s.Hash(radius.HashVoucherCode, []byte(radius.NormalizeCode(code))) },
		CodeHint:    radius.MaskCode,
		AccountName: radius.VoucherAccountName,
	}
	if n, err := migrations.UpgradeSecrets(ctx, pool, up); err != nil || n != 6 {
		t.Fatalf("UpgradeSecrets = %d, %v; want 6", n, err)
	}
	if n, err := migrations.LegacySecrets(ctx, pool); err != nil || n != 0 {
		t.Fatalf("LegacySecrets after = %d, %v; want 0", n, err)
	}
	if n, err := migrations.UpgradeSecrets(ctx, pool, up); err != nil || n != 0 {
		t.Fatalf("second UpgradeSecrets = %d, %v; want nothing to do", n, err)
	}
	open := func(sql string, id int64, col radius.SealedColumn) string {
		t.Helper()
		var sealed []byte
		if err := pool.QueryRow(ctx, sql, id).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := s.Open(sealed, col.AD(id))
		if err != nil {
			t.Fatalf("%s of %d does not open bound to its row: %v", col, id, err)
		}
		return string(plain)
	}
	for _, c := range []struct {
		sql  string
		id   int64
		col  radius.SealedColumn
		want string
	}{
		{`SELECT secret FROM nas WHERE id = $1`, nasID, radius.SealNASSecret, "nas-secret-1"},
		{`SELECT password FROM subscribers WHERE id = $1`, subID, radius.SealSubscriberPassword, "pw-alice"},
		{`SELECT password FROM vouchers WHERE id = $1`, codeID, radius.SealVoucherPassword, "K7PQ4MQ2"},
		{`SELECT code_sealed FROM vouchers WHERE id = $1`, codeID, radius.SealVoucherCode, "K7PQ4MQ2"},
		{`SELECT code_sealed FROM vouchers WHERE id = $1`, upID, radius.SealVoucherCode, "Q3RT5WXY"},
	} {
		if got := open(c.sql, c.id, c.col); got != c.want {
			t.Fatalf("%s of %d = %q, want %q", c.col, c.id, got, c.want)
		}
	}
	var name, upName, hint string
	var hash []byte
	if err := pool.QueryRow(ctx, `SELECT username, code_hint, code_hash FROM vouchers WHERE id = $1`, codeID).Scan(&name, &hint, &hash); err != nil {
		t.Fatal(err)
	}
	if name != radius.VoucherAccountName(codeID) || hint != "K7…Q2" || !bytes.Equal(hash, up.CodeHash("K7PQ4MQ2")) {
		t.Fatalf("code voucher: name %q, hint %q", name, hint)
	}
	if err := pool.QueryRow(ctx, `SELECT username FROM vouchers WHERE id = $1`, upID).Scan(&upName); err != nil || upName != "guest-42" {
		t.Fatalf("userpass voucher renamed: %q, %v", upName, err)
	}
	// The code-mode voucher's sessions and auth log carry its account name now.
	var clear int
	if err := pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM sessions WHERE username = 'K7PQ4MQ2') + (SELECT count(*) FROM auth_log WHERE username = 'K7PQ4MQ2')
     + (SELECT count(*) FROM vouchers WHERE code IS NOT NULL)`).Scan(&clear); err != nil || clear != 0 {
		t.Fatalf("%d rows still hold a code in clear (%v)", clear, err)
	}
	var renamed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE username = $1`, name).Scan(&renamed); err != nil || renamed != 1 {
		t.Fatalf("sessions under the account name: %d, %v", renamed, err)
	}
}
