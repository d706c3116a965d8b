package billing

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode"

	"tollgate/radius"
)

// EntryKind says why money moved.
type EntryKind string

// The ledger entry kinds. Top-ups (an admin's cash), payments (a provider's) and
// refunds add money, purchases (vouchers) and renewals (a subscription's period) take
// it, and adjustments (an admin's correction) go either way.
const (
	EntryTopup      EntryKind = "topup"
	EntryPurchase   EntryKind = "purchase"
	EntryRefund     EntryKind = "refund"
	EntryAdjustment EntryKind = "adjustment"
	EntryPayment    EntryKind = "payment"
	EntryRenewal    EntryKind = "renewal"
)

// Valid reports whether k is a known kind.
func (k EntryKind) Valid() bool {
	switch k {
	case EntryTopup, EntryPurchase, EntryRefund, EntryAdjustment, EntryPayment, EntryRenewal:
		return true
	}
	return false
}

// adds reports whether k only ever adds money, takes reports whether it only takes it.
func (k EntryKind) adds() bool  { return k == EntryTopup || k == EntryRefund || k == EntryPayment }
func (k EntryKind) takes() bool { return k == EntryPurchase || k == EntryRenewal }

// Owner names whose wallet: a reseller's or a subscriber's, exactly one of the two IDs
// set. Resellers and subscribers share one wallet engine (one table, one ledger).
type Owner struct {
	ResellerID   int64
	SubscriberID int64
}

// ResellerOwner is the owner of reseller id's wallet.
func ResellerOwner(id int64) Owner { return Owner{ResellerID: id} }

// SubscriberOwner is the owner of subscriber id's wallet.
func SubscriberOwner(id int64) Owner { return Owner{SubscriberID: id} }

// Valid reports whether exactly one owner is set.
func (o Owner) Valid() bool { return (o.ResellerID > 0) != (o.SubscriberID > 0) }

// Kind returns "reseller" or "subscriber".
func (o Owner) Kind() string {
	if o.SubscriberID != 0 {
		return "subscriber"
	}
	return "reseller"
}

// ID returns the owner's ID.
func (o Owner) ID() int64 { return o.ResellerID + o.SubscriberID }

// String returns e.g. "reseller 7".
func (o Owner) String() string { return o.Kind() + " " + strconv.FormatInt(o.ID(), 10) }

// Wallet is a reseller's or a subscriber's balance. It may go below zero down to
// −CreditLimitCents (always 0 for a subscriber, who pays in advance).
type Wallet struct {
	ID               int64
	ResellerID       int64 // 0 for a subscriber's wallet
	SubscriberID     int64 // 0 for a reseller's wallet
	BalanceCents     int64
	CreditLimitCents int64
	UpdatedAt        time.Time
}

// Owner returns whose wallet w is.
func (w Wallet) Owner() Owner { return Owner{ResellerID: w.ResellerID, SubscriberID: w.SubscriberID} }

// AvailableCents is what the reseller can still spend: the balance plus the credit limit.
func (w Wallet) AvailableCents() int64 { return w.BalanceCents + w.CreditLimitCents }

// LedgerEntry is one money movement of a wallet, as stored: entries are never changed
// or deleted. AmountCents is signed (+credit, −debit).
type LedgerEntry struct {
	ID                int64
	WalletID          int64
	ResellerID        int64 // the wallet's owner: a reseller…
	SubscriberID      int64 // …or a subscriber
	At                time.Time
	AmountCents       int64
	BalanceAfterCents int64
	Kind              EntryKind
	Note              string
	IdempotencyKey    string
	Ref               string // what the movement is about, e.g. a voucher batch id; "" for none
	Actor             string // the admin's e-mail, "cli" or "cli:<user>", "billing"
	// Replayed is true when an earlier request with the same idempotency key recorded
	// this entry and this call changed nothing. It is not stored.
	Replayed bool
}

// Owner returns whose wallet e moved.
func (e LedgerEntry) Owner() Owner {
	return Owner{ResellerID: e.ResellerID, SubscriberID: e.SubscriberID}
}

// Movement is one change of a wallet, the input of WalletStore.Move. Exactly one of
// ResellerID and SubscriberID names the wallet.
type Movement struct {
	ResellerID     int64
	SubscriberID   int64
	Kind           EntryKind
	AmountCents    int64 // signed: +credit, −debit
	Note           string
	IdempotencyKey string
	Ref            string
	Actor          string
}

// Owner returns whose wallet m moves.
func (m Movement) Owner() Owner { return Owner{ResellerID: m.ResellerID, SubscriberID: m.SubscriberID} }

// WalletStore persists wallets and their ledger (Postgres), for resellers and
// subscribers alike. An implementation bound to a caller's transaction lets a movement
// commit or roll back together with other writes, such as the voucher batch a purchase
// pays for, or the invoice and the period of a renewal.
type WalletStore interface {
	// Move applies m atomically: it adds m.AmountCents to the wallet of m's owner and
	// appends a ledger entry holding the balance after it. Idempotency keys are scoped to
	// the wallet: when m.IdempotencyKey was used before in this wallet for the same kind
	// and amount, it changes nothing and returns the original entry with Replayed set; the
	// same key in another wallet is a movement of its own. EQUOTA when a debit would take
	// the balance below −credit limit (nothing is written), ECONFLICT when the key was used
	// in this wallet for another kind or amount, ENOTFOUND when the owner has no wallet,
	// EINVALID.
	Move(ctx context.Context, m Movement) (LedgerEntry, error)
	// FindWallet returns the wallet of o. ENOTFOUND.
	FindWallet(ctx context.Context, o Owner) (*Wallet, error)
	// FindLedgerEntries returns the latest limit entries of o's wallet, newest first.
	FindLedgerEntries(ctx context.Context, o Owner, limit int) ([]LedgerEntry, error)
	// FindLedgerEntriesBetween returns the entries of o's wallet recorded in [from, to),
	// oldest first (at most limit), and the balance before the first of them.
	FindLedgerEntriesBetween(ctx context.Context, o Owner, from, to time.Time, limit int) (opening int64, list []LedgerEntry, err error)
	// FindLedgerEntryByKey returns the entry recorded in o's wallet with idempotency key
	// key. ENOTFOUND.
	FindLedgerEntryByKey(ctx context.Context, o Owner, key string) (*LedgerEntry, error)
}

// Limits of ledger input.
const (
	// MaxNoteLen is the longest note of an entry, in bytes.
	MaxNoteLen = 500
	// MaxKeyLen is the longest idempotency key: room for any payment provider's event id.
	MaxKeyLen = 200
	// MaxRefLen is the longest ref of an entry.
	MaxRefLen = 200
	// MaxActorLen is the longest actor, an e-mail address at most.
	MaxActorLen = MaxEmailLen
	// DefaultLedgerLimit is how many entries Ledger returns when asked for 0.
	DefaultLedgerLimit = 50
	// MaxLedgerLimit is the most entries one Ledger call returns.
	MaxLedgerLimit = 1000
)

// ParseCents reads an amount in the currency's main unit, "12.50", "12.5" or "12", into
// cents, exactly (no floating point). Signs, exponents, thousands separators and more than
// two decimals are refused. Errors are EINVALID and quote s.
func ParseCents(s string) (int64, error) {
	bad := invalid("%q is not an amount like 12.50", s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 15 || hasDot && (frac == "" || len(frac) > 2) {
		return 0, bad
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, bad
			}
		}
	}
	units, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, bad
	}
	cents := int64(0)
	if frac != "" {
		c, _ := strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			c *= 10
		}
		cents = c
	}
	return units*100 + cents, nil
}

// FormatCents writes cents in the main unit with two decimals: 1250 → "12.50", −5 → "-0.05".
func FormatCents(c int64) string {
	sign := ""
	u := uint64(c)
	if c < 0 {
		sign, u = "-", uint64(-c) // −MinInt64 wraps to its own magnitude as a uint64
	}
	f := strconv.FormatUint(u%100, 10)
	if len(f) == 1 {
		f = "0" + f
	}
	return sign + strconv.FormatUint(u/100, 10) + "." + f
}

// ValidateMovement checks m except for the owner: the kind, an amount whose sign fits
// the kind, a note where a person moves money by hand, the idempotency key and the actor.
// It returns an EINVALID error whose message starts with the field's name ("amount: …").
func ValidateMovement(m Movement) error {
	if !m.Kind.Valid() {
		return invalid("kind: %q is not an entry kind; use %s, %s, %s, %s, %s or %s",
			m.Kind, EntryTopup, EntryPurchase, EntryRefund, EntryAdjustment, EntryPayment, EntryRenewal)
	}
	switch a := m.AmountCents; {
	case a == 0:
		return invalid("amount: must not be 0")
	case a > MaxAmountCents || a < -MaxAmountCents:
		return invalid("amount: must be at most %s", FormatCents(MaxAmountCents))
	case a < 0 && m.Kind.adds():
		return invalid("amount: a %s adds money and must be positive", m.Kind)
	case a > 0 && m.Kind.takes():
		return invalid("amount: a %s takes money and must be negative", m.Kind)
	}
	if err := validateText("note", m.Note, MaxNoteLen); err != nil {
		return err
	}
	if m.Note == "" && (m.Kind == EntryTopup || m.Kind == EntryAdjustment) {
		return invalid("note: required for a %s: say where the money came from or why", m.Kind)
	}
	if err := ValidateIdempotencyKey(m.IdempotencyKey); err != nil {
		return err
	}
	if err := validateText("ref", m.Ref, MaxRefLen); err != nil {
		return err
	}
	if m.Actor == "" {
		return invalid("actor: required")
	}
	return validateText("actor", m.Actor, MaxActorLen)
}

// ValidateIdempotencyKey checks a key: 1 to 200 characters of printable ASCII without
// spaces, as UUIDs and payment providers' event ids are.
func ValidateIdempotencyKey(k string) error {
	if k == "" || len(k) > MaxKeyLen {
		return invalid("idempotency-key: must be 1 to %d characters", MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c > '~' {
			return invalid("idempotency-key: %q has %q; use printable ASCII without spaces", k, rune(c))
		}
	}
	return nil
}

// validateText checks free text: at most max bytes of valid UTF-8 without control characters.
func validateText(field, s string, max int) error {
	if len(s) > max {
		return invalid("%s: must be at most %d characters", field, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return invalid("%s: must not contain control characters", field)
		}
	}
	return nil
}

// CheckReplay decides what a request m gets when its idempotency key already recorded
// orig: orig itself, marked Replayed, when m asks for the same movement (owner, kind and
// amount; the note and ref of a retry may differ), and ECONFLICT otherwise, since the
// key then names two different requests.
func CheckReplay(orig LedgerEntry, m Movement) (LedgerEntry, error) {
	if orig.Owner() != m.Owner() || orig.Kind != m.Kind || orig.AmountCents != m.AmountCents {
		return LedgerEntry{}, radius.Errorf(radius.ECONFLICT,
			"idempotency-key: %q was already used for another movement (a different %s, kind or amount)", m.IdempotencyKey, m.Owner().Kind())
	}
	orig.Replayed = true
	return orig, nil
}

// QuotaError is the EQUOTA error of a debit of amountCents (negative) that wallet w,
// owned by the reseller or subscriber called name, cannot cover; a store sets Err to the
// driver's cause.
func QuotaError(name string, w Wallet, amountCents int64) *radius.Error {
	return radius.Errorf(radius.EQUOTA, "balance: %s %q needs %s, available %s (balance %s, credit limit %s)",
		w.Owner().Kind(), name, FormatCents(-amountCents), FormatCents(w.AvailableCents()),
		FormatCents(w.BalanceCents), FormatCents(w.CreditLimitCents))
}

// Credit adds amountCents to the wallet of reseller as a top-up (an admin's cash or
// transfer), with a note saying where the money came from. A repeated call with the same
// idempotencyKey returns the first entry (Replayed set) and changes nothing. EINVALID,
// ENOTFOUND, ECONFLICT (see WalletStore.Move).
func (s *ResellerService) Credit(ctx context.Context, reseller string, amountCents int64, note, idempotencyKey, actor string) (LedgerEntry, error) {
	if amountCents <= 0 {
		return LedgerEntry{}, invalid("amount: must be more than 0")
	}
	return s.Post(ctx, nil, reseller, Movement{
		Kind: EntryTopup, AmountCents: amountCents, Note: note, IdempotencyKey: idempotencyKey, Actor: actor,
	})
}

// Debit takes amountCents from the wallet of reseller for a purchase; ref names what was
// bought (a voucher batch). It runs on ws, a WalletStore bound to the caller's
// transaction, or on s.Wallets when ws is nil. A purchase composes as: begin a
// transaction, create the batch on it, Debit with ws on the same transaction and the
// batch id as ref, commit; an EQUOTA from Debit rolls the batch back with it. When the
// entry comes back Replayed, the purchase was made before: roll back the new batch and
// return the one named by the entry's Ref. EQUOTA when the balance and credit limit
// cannot cover it (nothing is written), EUNAUTHORIZED when the reseller is suspended,
// EINVALID, ENOTFOUND, ECONFLICT.
func (s *ResellerService) Debit(ctx context.Context, ws WalletStore, reseller string, amountCents int64, ref, note, idempotencyKey, actor string) (LedgerEntry, error) {
	if amountCents <= 0 {
		return LedgerEntry{}, invalid("amount: must be more than 0")
	}
	return s.Post(ctx, ws, reseller, Movement{
		Kind: EntryPurchase, AmountCents: -amountCents, Note: note, IdempotencyKey: idempotencyKey, Ref: ref, Actor: actor,
	})
}

// Post records any movement m (m.ResellerID is ignored) on the wallet of reseller: the
// general form of Credit and Debit, for refunds and adjustments. It runs on ws, or on
// s.Wallets when ws is nil. A suspended reseller can receive money but not spend it
// (EUNAUTHORIZED). EINVALID, ENOTFOUND, EQUOTA, ECONFLICT.
func (s *ResellerService) Post(ctx context.Context, ws WalletStore, reseller string, m Movement) (LedgerEntry, error) {
	if err := ValidateMovement(m); err != nil {
		return LedgerEntry{}, err
	}
	r, err := s.reseller(ctx, reseller)
	if err != nil {
		return LedgerEntry{}, err
	}
	if m.AmountCents < 0 {
		if err := ensureCanBuy(r); err != nil {
			return LedgerEntry{}, err
		}
	}
	if ws == nil {
		ws = s.Wallets
	}
	m.ResellerID, m.SubscriberID = r.ID, 0
	return ws.Move(ctx, m)
}

// Balance returns the wallet of reseller. ENOTFOUND.
func (s *ResellerService) Balance(ctx context.Context, reseller string) (*Wallet, error) {
	r, err := s.reseller(ctx, reseller)
	if err != nil {
		return nil, err
	}
	return s.Wallets.FindWallet(ctx, ResellerOwner(r.ID))
}

// Ledger returns the latest limit entries of reseller, newest first; limit 0 means
// DefaultLedgerLimit. EINVALID when limit is out of range, ENOTFOUND.
func (s *ResellerService) Ledger(ctx context.Context, reseller string, limit int) ([]LedgerEntry, error) {
	if limit == 0 {
		limit = DefaultLedgerLimit
	}
	if limit < 1 || limit > MaxLedgerLimit {
		return nil, invalid("limit: must be 1 to %d", MaxLedgerLimit)
	}
	r, err := s.reseller(ctx, reseller)
	if err != nil {
		return nil, err
	}
	return s.Wallets.FindLedgerEntries(ctx, ResellerOwner(r.ID), limit)
}
