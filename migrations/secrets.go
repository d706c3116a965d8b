package migrations

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Upgrade is what UpgradeSecrets needs from the server's key (cmd builds it from
// radius/seal and the radius naming rules): SQL alone cannot re-seal or hash.
type Upgrade struct {
	// OpenUnbound opens a value sealed before values were bound to their rows.
	OpenUnbound func(sealed []byte) ([]byte, error)
	// Seal seals plain bound to column ("table.column") of row id.
	Seal func(plain []byte, column string, id int64) []byte
	// CodeHash, CodeHint and AccountName give a voucher code's keyed hash and masked
	// hint, and the account name of a voucher that logs in by its code.
	CodeHash    func(code string) []byte
	CodeHint    func(code string) string
	AccountName func(id int64) string
}

// sealedColumns are the columns holding sealed values, as "table.column" (the names
// radius.SealedColumn uses). Table and column names come from this list only.
var sealedColumns = []struct{ table, column string }{
	{"nas", "secret"},
	{"subscribers", "password"},
	{"vouchers", "password"},
	{"vouchers", "code_sealed"},
	{"portal_users", "totp_secret"},
	{"nas", "api_password"},
	{"webhook_endpoints", "secret"},
}

// unboundVersion is the first byte of a value sealed without associated data.
const unboundVersion = 1

// LegacySecrets counts what UpgradeSecrets would change: values sealed before they were
// bound to their rows, and voucher codes stored in clear. `tollgate serve` refuses to
// start while any is left.
func LegacySecrets(ctx context.Context, db DB) (int, error) {
	total := 0
	for _, c := range sealedColumns {
		n, err := countRows(ctx, db, fmt.Sprintf(`SELECT count(*) FROM %s WHERE get_byte(%s, 0) = %d`,
			pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.column}.Sanitize(), unboundVersion))
		if err != nil {
			return 0, err
		}
		total += n
	}
	n, err := countRows(ctx, db, `SELECT count(*) FROM vouchers WHERE code IS NOT NULL`)
	if err != nil {
		return 0, err
	}
	return total + n, nil
}

func countRows(ctx context.Context, db DB, sql string) (int, error) {
	rows, err := db.Query(ctx, sql)
	if err != nil {
		return 0, fmt.Errorf("migrations: count legacy secrets: %w", err)
	}
	n, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("migrations: count legacy secrets: %w", err)
	}
	return int(n), nil
}

// UpgradeSecrets brings secrets stored by older versions up to date, in one transaction:
// every value sealed without binding is re-sealed bound to its row and column, and every
// voucher code stored in clear is replaced by its hash, its sealed form and its hint (a
// voucher that logs in by its code gets its account name, and its sessions, auth log and
// CoA log rows are renamed from the code to it). It returns how many rows it changed;
// running it again changes nothing.
func UpgradeSecrets(ctx context.Context, db DB, u Upgrade) (int, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: upgrade secrets: %w", err)
	}
	defer tx.Rollback(ctx)
	changed := 0
	for _, c := range sealedColumns {
		n, err := reseal(ctx, tx, u, c.table, c.column)
		if err != nil {
			return 0, err
		}
		changed += n
	}
	n, err := hashCodes(ctx, tx, u)
	if err != nil {
		return 0, err
	}
	changed += n
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("migrations: upgrade secrets: commit: %w", err)
	}
	return changed, nil
}

type sealedRow struct {
	id    int64
	value []byte
}

func reseal(ctx context.Context, tx pgx.Tx, u Upgrade, table, column string) (int, error) {
	t, c := pgx.Identifier{table}.Sanitize(), pgx.Identifier{column}.Sanitize()
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT id, %s FROM %s WHERE get_byte(%s, 0) = %d FOR UPDATE`, c, t, c, unboundVersion))
	if err != nil {
		return 0, fmt.Errorf("migrations: reseal %s.%s: %w", table, column, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealedRow, error) {
		var s sealedRow
		err := r.Scan(&s.id, &s.value)
		return s, err
	})
	if err != nil {
		return 0, fmt.Errorf("migrations: reseal %s.%s: %w", table, column, err)
	}
	update := fmt.Sprintf(`UPDATE %s SET %s = $2 WHERE id = $1`, t, c)
	for _, s := range list {
		plain, err := u.OpenUnbound(s.value)
		if err != nil {
			return 0, fmt.Errorf("migrations: reseal %s.%s of row %d: %w (is TOLLGATE_SECRET_KEY the key it was sealed with?)", table, column, s.id, err)
		}
		if _, err := tx.Exec(ctx, update, s.id, u.Seal(plain, table+"."+column, s.id)); err != nil {
			return 0, fmt.Errorf("migrations: reseal %s.%s of row %d: %w", table, column, s.id, err)
		}
	}
	return len(list), nil
}

const (
	clearCodesSQL = `
SELECT v.id, v.code, v.username, b.mode
FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id
WHERE v.code IS NOT NULL
FOR UPDATE OF v`

	hashCodeSQL = `
UPDATE vouchers SET code = NULL, code_hash = $2, code_sealed = $3, code_hint = $4, username = $5
WHERE id = $1`
)

// renameSQL renames a voucher's rows that carry its code as the user name.
var renameSQL = []string{
	`UPDATE sessions SET username = $2 WHERE username = $1`,
	`UPDATE auth_log SET username = $2 WHERE username = $1`,
	`UPDATE coa_log SET username = $2 WHERE username = $1`,
}

type clearCode struct {
	id             int64
	code, username string
	mode           string
}

func hashCodes(ctx context.Context, tx pgx.Tx, u Upgrade) (int, error) {
	rows, err := tx.Query(ctx, clearCodesSQL)
	if err != nil {
		return 0, fmt.Errorf("migrations: hash voucher codes: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (clearCode, error) {
		var c clearCode
		err := r.Scan(&c.id, &c.code, &c.username, &c.mode)
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("migrations: hash voucher codes: %w", err)
	}
	for _, c := range list {
		name := c.username
		if c.mode == "code" {
			name = u.AccountName(c.id)
		}
		sealed := u.Seal([]byte(c.code), "vouchers.code_sealed", c.id)
		if _, err := tx.Exec(ctx, hashCodeSQL, c.id, u.CodeHash(c.code), sealed, u.CodeHint(c.code), name); err != nil {
			return 0, fmt.Errorf("migrations: hash code of voucher %d: %w", c.id, err)
		}
		if name == c.username {
			continue
		}
		for _, sql := range renameSQL {
			if _, err := tx.Exec(ctx, sql, c.username, name); err != nil {
				return 0, fmt.Errorf("migrations: rename voucher %d's records: %w", c.id, err)
			}
		}
	}
	return len(list), nil
}
