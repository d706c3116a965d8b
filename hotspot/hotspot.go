// Package hotspot is tollgate's voucher domain: batches of prepaid codes sold on hotspot
// plans, the rules that make and validate them, their life from new to expired,
// exhausted or revoked, and a thin Service that fetches, checks and persists. Vouchers
// log in over RADIUS like subscribers (the radius package decides and activates them);
// this package makes and manages them. It imports only the standard library, radius
// and billing; the Postgres adapter is hotspot/postgres.
package hotspot

import (
	"context"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// Mode is how a voucher logs in.
type Mode string

// Modes: with a code, the code is both User-Name and password; with userpass, a
// generated user name and password (the code then only identifies the voucher).
const (
	ModeCode     Mode = "code"
	ModeUserPass Mode = "userpass"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == ModeCode || m == ModeUserPass }

// Batch is one generation of vouchers on a plan.
type Batch struct {
	ID       int64
	PlanID   int64
	PlanName string
	Mode     Mode
	Count    int
	// Reseller is who the batch was made for, "" for none (free text until resellers
	// are stored as such).
	Reseller  string
	CreatedAt time.Time
	// SoldAt, when set, stores the vouchers sold (state sold, sold_at) instead of new:
	// a reseller's purchase.
	SoldAt time.Time
}

// NewVoucher is a voucher about to be stored. Its credential is in clear only here, to
// be printed once; what is stored is its code's hash, the code and password sealed to
// the voucher's row, and a masked hint of the code.
type NewVoucher struct {
	// ID is reserved before the voucher is stored (Store.NextVoucherIDs): the sealed
	// values are bound to it.
	ID   int64
	Code string
	// Username is what the voucher logs in as in userpass mode; in code mode the router
	// sends the code, and Username is the voucher's account name
	// (radius.VoucherAccountName).
	Username       string
	Password       string // the code in code mode
	SealedPassword []byte
	CodeHash       []byte // radius.HashVoucherCode of the code
	SealedCode     []byte
	CodeHint       string // radius.MaskCode of the code
}

// Login returns what the router sends as User-Name for v: the code in code mode, the
// username in userpass mode.
func (v *NewVoucher) Login() string {
	if v.Username == radius.VoucherAccountName(v.ID) {
		return v.Code
	}
	return v.Username
}

// Voucher is a voucher as stored, without its code or password, with the limits of its
// plan.
type Voucher struct {
	ID       int64
	BatchID  int64
	PlanID   int64
	PlanName string
	// CodeHint is the code masked (radius.MaskCode): the code itself is stored only
	// sealed and opened for reprints (Service.BatchCredentials).
	CodeHint string
	// CodeHash is the keyed hash of the code (radius.HashVoucherCode): not secret, it
	// names the voucher's cache entry.
	CodeHash    []byte
	Username    string
	Mode        Mode
	State       radius.VoucherState
	Reseller    string
	SoldAt      time.Time // zero: not sold separately (the batch's creation is the sale)
	ActivatedAt time.Time // zero: never logged in
	ValidUntil  time.Time // zero: no end (yet)
	RevokedAt   time.Time
	CreatedAt   time.Time
	MAC         string // the device a MAC-locked voucher is bound to, or ""
	UptimeLimit time.Duration
	DataLimit   int64
}

// Credentials are a voucher's code and password, opened from their sealed forms for a
// reprint.
type Credentials struct {
	Code     string
	Password string
}

// SealedCredentials are a voucher's code and password as stored.
type SealedCredentials struct {
	Code     []byte
	Password []byte
}

// Status is a voucher with what it used and its state as of now (see EffectiveState):
// the stored state lags until the expiry job runs.
type Status struct {
	Voucher
	Usage radius.Usage
	Now   radius.VoucherState
}

// VoucherFilter selects vouchers for listings. Zero fields do not filter.
type VoucherFilter struct {
	BatchID int64
	State   radius.VoucherState
	// BeforeID continues a listing before the voucher with this ID (newest first).
	BeforeID int64
	// Limit bounds the result (newest first); 0 means DefaultListLimit.
	Limit int
}

// DefaultListLimit is how many vouchers a listing returns unless told otherwise.
const DefaultListLimit = 100

// Store persists batches and vouchers (Postgres).
type Store interface {
	// NextVoucherIDs reserves n voucher IDs, so vouchers can be sealed to their rows
	// before they are stored.
	NextVoucherIDs(ctx context.Context, n int) ([]int64, error)
	// CreateBatch stores b and its vouchers vs (each with its reserved ID) in one
	// transaction, with b.CreatedAt as their creation and validUntil as their end (zero:
	// set at the first login). A voucher whose code or login name is taken, by another
	// voucher or a subscriber, is replaced in vs by fresh(its ID) until every one is
	// stored. It sets b.ID. ECONFLICT when collisions keep coming (the code space is too
	// small), EINVALID.
	CreateBatch(ctx context.Context, b *Batch, validUntil time.Time, vs []NewVoucher, fresh func(id int64) (NewVoucher, error)) error
	// FindVoucherByCodeHash returns the voucher whose code hashes to h. ENOTFOUND.
	FindVoucherByCodeHash(ctx context.Context, h []byte) (*Voucher, error)
	// FindVoucherByUsername returns the voucher that logs in as username, or whose
	// account name it is. ENOTFOUND.
	FindVoucherByUsername(ctx context.Context, username string) (*Voucher, error)
	// FindVoucherByID returns voucher id. ENOTFOUND.
	FindVoucherByID(ctx context.Context, id int64) (*Voucher, error)
	// FindVouchers lists vouchers, newest first.
	FindVouchers(ctx context.Context, f VoucherFilter) ([]Voucher, error)
	// FindSealedCredentials returns the sealed codes and passwords of batch batchID's
	// vouchers by voucher ID (empty for an unknown batch).
	FindSealedCredentials(ctx context.Context, batchID int64) (map[int64]SealedCredentials, error)
	// RevokeVoucher marks voucher id revoked at now (once: a second call keeps the first
	// time) and returns it. ENOTFOUND.
	RevokeVoucher(ctx context.Context, id int64, now time.Time) (*Voucher, error)
	// ExpireVouchers persists the states Decide derives: usable vouchers whose validity
	// ended at now become expired, active ones whose sessions reached the plan's uptime
	// or data limit become exhausted. It returns the account names and code hashes of
	// the vouchers it changed.
	ExpireVouchers(ctx context.Context, now time.Time) ([]Changed, error)
}

// Changed names a voucher whose cached account must be dropped: its account name and
// its code hash.
type Changed struct {
	Username string
	CodeHash []byte
}

// PlanFinder finds plans by name (billing's store).
type PlanFinder interface {
	// FindPlanByName returns the plan called name. ENOTFOUND.
	FindPlanByName(ctx context.Context, name string) (*billing.Plan, error)
}
