package billing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tollgate/radius"
)

// Rectification of the email address. A subscriber corrects the name and the phone
// number at once (Service.UpdateSubscriber); a new email address is used only once it
// is confirmed from a link sent to it, so that nobody moves another's messages to an
// address they do not hold. The link holds a random token of which only the SHA-256 is
// stored; it works once, for EmailConfirmTTL, and confirming it spends every other open
// change of the subscriber. The old address stays in use until then.

// EmailConfirmTTL is how long a confirmation link works.
const EmailConfirmTTL = 24 * time.Hour

// EmailConfirmation is one pending change of address, as stored (not the token).
type EmailConfirmation struct {
	ID           int64
	SubscriberID int64
	Email        string
	Hash         []byte
	CreatedAt    time.Time
	ExpiresAt    time.Time
	UsedAt       time.Time // zero while unused
}

// errEmailLinkGone answers a link that cannot be used: unknown, used and expired look
// the same.
var errEmailLinkGone = radius.Errorf(radius.EEXPIRED, "this link has expired or was used already; give the new address again")

// CheckEmailConfirmation is the rule of a link's life: nil while c can be confirmed at
// now. EEXPIRED.
func CheckEmailConfirmation(c *EmailConfirmation, now time.Time) error {
	if !c.UsedAt.IsZero() || !now.Before(c.ExpiresAt) {
		return errEmailLinkGone
	}
	return nil
}

// HashEmailToken is the stored form of a token.
func HashEmailToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// EmailConfirmURL is the address of token on the portal at base.
func EmailConfirmURL(base, token string) string {
	return strings.TrimSuffix(base, "/") + "/account/email?token=" + url.QueryEscape(token)
}

// EmailChangeStore keeps the pending changes (Postgres), on the caller's transaction.
type EmailChangeStore interface {
	NoticeStore
	// FindProfile is PrivacyStore's.
	FindProfile(ctx context.Context, id int64) (*Profile, error)
	// CreateEmailConfirmation stores c and sets c.ID. ENOTFOUND for an unknown
	// subscriber.
	CreateEmailConfirmation(ctx context.Context, c *EmailConfirmation) error
	// FindEmailConfirmation returns the change whose token hashes to hash. ENOTFOUND.
	FindEmailConfirmation(ctx context.Context, hash []byte) (*EmailConfirmation, error)
	// PendingEmail returns subscriber id's newest open change not expired at now.
	// ENOTFOUND.
	PendingEmail(ctx context.Context, id int64, now time.Time) (*EmailConfirmation, error)
	// ConfirmEmail spends the change of hash at now, and every other open change of
	// its subscriber, and makes its address the subscriber's; it returns the change.
	// ENOTFOUND for an unknown hash, EEXPIRED for one used or expired.
	ConfirmEmail(ctx context.Context, hash []byte, now time.Time) (*EmailConfirmation, error)
}

// EmailChangeTx runs fn in one transaction with an EmailChangeStore bound to it.
type EmailChangeTx func(ctx context.Context, fn func(EmailChangeStore) error) error

// EmailChanges runs the changes of address.
type EmailChanges struct {
	InTx    EmailChangeTx
	Notices *Notices
	Now     func() time.Time
}

func (e *EmailChanges) now() time.Time {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	return now().Round(0).Truncate(time.Microsecond)
}

// newEmailToken returns 32 random bytes, base64url.
func newEmailToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Request asks to make email subscriber id's address: it stores the pending change and
// queues the email_confirm message with its link (on the portal at base) to that
// address, in one transaction. It returns the pending change. EINVALID naming email
// (not an address, the address in use already, or no email channel), ENOTFOUND.
func (e *EmailChanges) Request(ctx context.Context, id int64, email, base string) (*EmailConfirmation, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if norm == "" {
		return nil, invalid("email: give the new address (or remove it with an empty one)")
	}
	if !e.Notices.On() {
		return nil, invalid("email: this server sends no email, so a new address cannot be confirmed; ask the operator to change it")
	}
	token := newEmailToken()
	now := e.now()
	var out *EmailConfirmation
	err = e.InTx(ctx, func(st EmailChangeStore) error {
		pr, err := st.FindProfile(ctx, id)
		if err != nil {
			return err
		}
		if pr.Email == norm {
			return invalid("email: %s is your address already", norm)
		}
		c := &EmailConfirmation{SubscriberID: id, Email: norm, Hash: HashEmailToken(token), CreatedAt: now, ExpiresAt: now.Add(EmailConfirmTTL)}
		if err := st.CreateEmailConfirmation(ctx, c); err != nil {
			return err
		}
		ev := &Event{Kind: EventEmailConfirm, SubscriberID: id, Key: string(EventEmailConfirm) + ":" + strconv.FormatInt(c.ID, 10),
			Data: map[string]string{"link": EmailConfirmURL(base, token), "expires": FormatEventTime(c.ExpiresAt), "email": norm}}
		n, err := e.Notices.Build(EventEmailConfirm, norm, MessageData{Name: pr.Name, Username: pr.Username, Data: ev.Data})
		if err != nil {
			return err
		}
		// The stored event keeps no working link: the token is in the queued message
		// alone, as with the password links.
		ev.Data = map[string]string{"expires": ev.Data["expires"], "email": norm}
		if err := st.RecordNotice(ctx, ev, n); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Check returns the change of token while it can be confirmed. EEXPIRED otherwise.
func (e *EmailChanges) Check(ctx context.Context, token string) (*EmailConfirmation, error) {
	var c *EmailConfirmation
	err := e.InTx(ctx, func(st EmailChangeStore) error {
		var err error
		c, err = st.FindEmailConfirmation(ctx, HashEmailToken(token))
		return err
	})
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, errEmailLinkGone
	}
	if err != nil {
		return nil, err
	}
	return c, CheckEmailConfirmation(c, e.now())
}

// Confirm makes the address of token its subscriber's. EEXPIRED for an unknown, used
// or expired link.
func (e *EmailChanges) Confirm(ctx context.Context, token string) (*EmailConfirmation, error) {
	var c *EmailConfirmation
	err := e.InTx(ctx, func(st EmailChangeStore) error {
		var err error
		c, err = st.ConfirmEmail(ctx, HashEmailToken(token), e.now())
		return err
	})
	switch radius.ErrorCode(err) {
	case radius.ENOTFOUND, radius.EEXPIRED:
		return nil, errEmailLinkGone
	}
	return c, err
}

// Pending returns subscriber id's change waiting for confirmation. ENOTFOUND.
func (e *EmailChanges) Pending(ctx context.Context, id int64) (*EmailConfirmation, error) {
	var c *EmailConfirmation
	err := e.InTx(ctx, func(st EmailChangeStore) error {
		var err error
		c, err = st.PendingEmail(ctx, id, e.now())
		return err
	})
	return c, err
}
