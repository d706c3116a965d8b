package pg

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"tollgate/radius"
)

// SQLSTATE codes of the integrity violations adapters translate.
const (
	UniqueViolation     = "23505"
	ForeignKeyViolation = "23503"
	CheckViolation      = "23514"
	ExclusionViolation  = "23P01"
)

// Error returns the *pgconn.PgError in err's chain, or nil. Its Code, ConstraintName,
// ColumnName and Detail say what Postgres refused.
func Error(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// is reports whether err is a Postgres error with SQLSTATE code raised by constraint
// ("" for any constraint).
func is(err error, code, constraint string) bool {
	pe := Error(err)
	return pe != nil && pe.Code == code && (constraint == "" || pe.ConstraintName == constraint)
}

// IsUnique reports whether err is a unique violation of constraint ("" for any).
func IsUnique(err error, constraint string) bool { return is(err, UniqueViolation, constraint) }

// IsForeignKey reports whether err is a foreign key violation of constraint ("" for any).
func IsForeignKey(err error, constraint string) bool {
	return is(err, ForeignKeyViolation, constraint)
}

// IsCheck reports whether err is a CHECK violation of constraint ("" for any).
func IsCheck(err error, constraint string) bool { return is(err, CheckViolation, constraint) }

// IsData reports whether Postgres refused the data itself (SQLSTATE class 22, data
// exception, or 23, integrity constraint violation), which no retry fixes. Any other
// error, a broken connection say, is not.
func IsData(err error) bool {
	pe := Error(err)
	return pe != nil && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// Translate returns err as a *radius.Error with code and msg that wraps it (the cause
// stays visible to operators, users see msg).
func Translate(err error, code, msg string) error {
	return &radius.Error{Code: code, Message: msg, Err: err}
}

// CheckField translates a CHECK violation into EINVALID "FIELD: value not allowed",
// FIELD being what fields names for the constraint (as the CLI flag or form field),
// else the column, else the constraint's name. It returns nil when err is no CHECK
// violation, so the caller keeps its own wrapping:
//
//	if cerr := pg.CheckField(err, planChecks); cerr != nil {
//		err = cerr
//	}
func CheckField(err error, fields map[string]string) error {
	pe := Error(err)
	if pe == nil || pe.Code != CheckViolation {
		return nil
	}
	field, ok := fields[pe.ConstraintName]
	if !ok {
		field = pe.ColumnName
	}
	if field == "" {
		field = pe.ConstraintName
	}
	return Translate(err, radius.EINVALID, field+": value not allowed")
}

// DuplicateKey returns the value in a unique violation's detail,
// `Key (username)=(alice) already exists.`, or "" for any other error.
func DuplicateKey(err error) string {
	pe := Error(err)
	if pe == nil || pe.Code != UniqueViolation {
		return ""
	}
	_, v, ok := strings.Cut(pe.Detail, ")=(")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, ") already exists")
	return v
}
