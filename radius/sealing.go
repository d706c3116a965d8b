package radius

import (
	"strconv"
	"strings"
)

// Sealer seals the secrets tollgate must read back, each bound to the row and column it
// is stored in (radius/seal): a sealed value copied into another row or column does not
// open.
type Sealer interface {
	Seal(plain, ad []byte) []byte
	Opener
}

// Opener opens values a Sealer sealed for the same place. ad is SealedColumn.AD(row).
type Opener interface {
	Open(sealed, ad []byte) ([]byte, error)
}

// Hasher computes keyed hashes (HMAC with a key derived from the server key) of values
// tollgate must find by equality without storing them, such as voucher codes.
type Hasher interface {
	Hash(purpose string, data []byte) []byte
}

// HashVoucherCode is the Hasher purpose of voucher codes: vouchers are found by the hash
// of their normalized code (NormalizeCode).
const HashVoucherCode = "voucher code"

// SealedColumn names a column that holds sealed values, as "table.column".
type SealedColumn string

// The sealed columns.
const (
	SealNASSecret          SealedColumn = "nas.secret"
	SealSubscriberPassword SealedColumn = "subscribers.password"
	SealVoucherPassword    SealedColumn = "vouchers.password"
	SealVoucherCode        SealedColumn = "vouchers.code_sealed"
	SealTOTPSecret         SealedColumn = "portal_users.totp_secret"
	SealNASAPIPassword     SealedColumn = "nas.api_password"
	SealWebhookSecret      SealedColumn = "webhook_endpoints.secret"
)

// AD returns the associated data that binds a value sealed in column c to row id.
func (c SealedColumn) AD(id int64) []byte {
	b := make([]byte, 0, len(c)+32)
	b = append(b, "tollgate/"...)
	b = append(b, c...)
	b = append(b, '/')
	return strconv.AppendInt(b, id, 10)
}

// PasswordColumn is where a's password is sealed: a voucher's or a subscriber's.
func (a *Account) PasswordColumn() (SealedColumn, int64) {
	if a.VoucherID != 0 {
		return SealVoucherPassword, a.VoucherID
	}
	return SealSubscriberPassword, a.ID
}

// NormalizeCode returns a voucher code as it is hashed and compared: without surrounding
// spaces, upper-cased (codes are case-insensitive; generation folds charsets to upper
// case).
func NormalizeCode(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

// MaskCode returns the form of a voucher code (or any credential-like user name) that
// logs, listings and audit entries may show: its first two and last two characters,
// e.g. "K7…Q2", and only "…" for one of six characters or fewer.
func MaskCode(s string) string {
	if len(s) <= 6 {
		return "…"
	}
	return s[:2] + "…" + s[len(s)-2:]
}
