package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// One-time links that set a subscriber's portal password.
//
// An admin invites a subscriber (tollgate subscriber invite), or the subscriber asks on
// the sign-in page ("forgot password"); either makes a link
// <portal>/account/password?token=T and records a billing event (portal_invite,
// password_reset) whose data carries the link, in the same transaction, for the
// notification dispatcher to email. T is 32 random bytes; only its SHA-256 is stored,
// so the table gives nobody a working link. A link works once: setting the password
// spends it and every other open link of the subscriber, and ends the subscriber's
// open sessions. Invitations last InviteTTL, resets ResetTTL (the subscriber is
// waiting for that email; an invitation may sit in an inbox over a weekend).

// LinkPurpose says why a link was made.
type LinkPurpose string

// The purposes.
const (
	LinkInvite LinkPurpose = "invite"
	LinkReset  LinkPurpose = "reset"
)

// How long links last.
const (
	InviteTTL = 72 * time.Hour
	ResetTTL  = time.Hour
)

// TTL is how long a link of purpose p lasts.
func (p LinkPurpose) TTL() time.Duration {
	if p == LinkInvite {
		return InviteTTL
	}
	return ResetTTL
}

// Link is one one-time link, as stored: the token itself is not kept.
type Link struct {
	ID           int64
	SubscriberID int64
	Purpose      LinkPurpose
	Hash         []byte // SHA-256 of the token
	CreatedAt    time.Time
	ExpiresAt    time.Time
	UsedAt       time.Time // zero while unused
}

// HashLinkToken is the stored form of a token: SHA-256. The token is 256 random bits,
// so a plain hash is as good as a keyed one.
func HashLinkToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// errLinkGone is the answer for a link that cannot be used: unknown, used or expired
// look the same to whoever holds it.
var errLinkGone = radius.Errorf(radius.EEXPIRED, "this link has expired or was used already; ask for a new one")

// CheckLink is the rule of a link's life: nil while l can set a password at now.
// EEXPIRED once it was used or expired.
func CheckLink(l *Link, now time.Time) error {
	if !l.UsedAt.IsZero() || !now.Before(l.ExpiresAt) {
		return errLinkGone
	}
	return nil
}

// LinkStore keeps the links (auth/postgres) and finds the subscribers they are for.
type LinkStore interface {
	// CreateLink stores l and sets l.ID. ENOTFOUND for an unknown subscriber.
	CreateLink(ctx context.Context, l *Link) error
	// FindLink returns the link whose token hashes to hash. ENOTFOUND.
	FindLink(ctx context.Context, hash []byte) (*Link, error)
	// UseLink spends the link of hash at now, and every other open link of its
	// subscriber, and returns it. ENOTFOUND for an unknown hash, EEXPIRED for a link
	// that was used or expired (also when a concurrent call spent it first).
	UseLink(ctx context.Context, hash []byte, now time.Time) (*Link, error)
	// FindSubscriberByLogin returns the id and username of the subscriber login names:
	// its username, else its email when exactly one subscriber has that email.
	// ENOTFOUND.
	FindSubscriberByLogin(ctx context.Context, login string) (id int64, username string, err error)
}

// LinkTx runs fn in one transaction with the stores bound to it (wired in
// cmd/tollgate with radius/pg.WithTx), so a link and its event, or a spent link and
// the password it set, commit together.
type LinkTx func(ctx context.Context, fn func(users UserStore, links LinkStore, events billing.EventStore) error) error

// Links makes and spends the one-time links. Auth hashes passwords and ends sessions,
// and its Now is the clock.
type Links struct {
	Auth *Service
	InTx LinkTx
}

// LinkURL is the address of token on the portal at base ("https://wifi.example.com").
func LinkURL(base, token string) string {
	return strings.TrimSuffix(base, "/") + "/account/password?token=" + url.QueryEscape(token)
}

// Issued is a link just made: its address (which holds the token) and its end.
type Issued struct {
	SubscriberID int64
	Username     string
	URL          string
	ExpiresAt    time.Time
}

// issue makes a link of purpose for the subscriber login names and records its event,
// in one transaction. ENOTFOUND for an unknown subscriber.
func (l *Links) issue(ctx context.Context, purpose LinkPurpose, login, base string, byUsername bool) (*Issued, error) {
	token := NewToken()
	now := l.Auth.Now().Round(0).Truncate(time.Microsecond)
	var out *Issued
	err := l.InTx(ctx, func(_ UserStore, links LinkStore, events billing.EventStore) error {
		id, username, err := links.FindSubscriberByLogin(ctx, login)
		if err != nil {
			return err
		}
		if byUsername && username != login {
			return radius.Errorf(radius.ENOTFOUND, "username: no subscriber named %q", login)
		}
		link := &Link{SubscriberID: id, Purpose: purpose, Hash: HashLinkToken(token), CreatedAt: now, ExpiresAt: now.Add(purpose.TTL())}
		if err := links.CreateLink(ctx, link); err != nil {
			return err
		}
		out = &Issued{SubscriberID: id, Username: username, URL: LinkURL(base, token), ExpiresAt: link.ExpiresAt}
		kind := billing.EventPortalInvite
		if purpose == LinkReset {
			kind = billing.EventPasswordReset
		}
		_, err = events.RecordEvent(ctx, &billing.Event{
			Kind: kind, SubscriberID: id, Key: string(kind) + ":" + strconv.FormatInt(link.ID, 10),
			Data: map[string]string{"link": out.URL, "expires": billing.FormatEventTime(link.ExpiresAt)},
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Invite makes an invitation link for the subscriber called username on the portal at
// base and records its portal_invite event. ENOTFOUND.
func (l *Links) Invite(ctx context.Context, username, base string) (*Issued, error) {
	return l.issue(ctx, LinkInvite, username, base, true)
}

// RequestReset makes a reset link for the subscriber login names (username or email)
// on the portal at base and records its password_reset event. It returns nil and does
// nothing when login names no subscriber, so its caller answers the same either way.
func (l *Links) RequestReset(ctx context.Context, login, base string) (*Issued, error) {
	login = strings.TrimSpace(login)
	if login == "" || len(login) > 254 {
		return nil, nil
	}
	out, err := l.issue(ctx, LinkReset, login, base, false)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, nil
	}
	return out, err
}

// Check returns the link of token while it can be used. EEXPIRED for an unknown, used
// or expired link.
func (l *Links) Check(ctx context.Context, token string) (*Link, error) {
	var link *Link
	err := l.InTx(ctx, func(_ UserStore, links LinkStore, _ billing.EventStore) error {
		var err error
		link, err = links.FindLink(ctx, HashLinkToken(token))
		return err
	})
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, errLinkGone
	}
	if err != nil {
		return nil, err
	}
	return link, CheckLink(link, l.Auth.Now())
}

// SetPassword spends the link of token and makes password the portal password of its
// subscriber, in one transaction, then ends the subscriber's open sessions. It returns
// the subscriber's account. EINVALID for a password CheckPassword refuses (the link
// stays usable), EEXPIRED for an unknown, used or expired link.
func (l *Links) SetPassword(ctx context.Context, token, password string) (*User, error) {
	phc, err := l.Auth.HashNew(ctx, password)
	if err != nil {
		return nil, err
	}
	var u *User
	err = l.InTx(ctx, func(users UserStore, links LinkStore, _ billing.EventStore) error {
		link, err := links.UseLink(ctx, HashLinkToken(token), l.Auth.Now())
		if err != nil {
			return err
		}
		u, err = users.SetSubscriberPassword(ctx, link.SubscriberID, phc)
		return err
	})
	switch radius.ErrorCode(err) {
	case radius.ENOTFOUND, radius.EEXPIRED:
		return nil, errLinkGone
	}
	if err != nil {
		return nil, fmt.Errorf("auth: set password by link: %w", err)
	}
	return u, l.Auth.EndSessions(ctx, u.ID)
}
