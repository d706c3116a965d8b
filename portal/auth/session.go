package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"tollgate/radius"
)

// SessionIdle is how long a portal session lives without a request: each request
// starts it again.
const SessionIdle = 12 * time.Hour

// DefaultSessionMax is a session's absolute lifetime: past it the session ends however
// active it is, and the user signs in again (TOLLGATE_PORTAL_SESSION_MAX).
const DefaultSessionMax = 12 * time.Hour

// PendingTOTP is how long a sign-in may wait between the password and the TOTP code.
const PendingTOTP = 5 * time.Minute

// Session is one signed-in browser or API client, kept in Redis under a hash of its ID.
type Session struct {
	// ID is the cookie value: 32 random bytes, base64url. Never stored as is.
	ID     string `json:"-"`
	UserID int64  `json:"uid"`
	// Gen is the user's SessionGen when the session began; a change of the account
	// since then ends the session.
	Gen int64 `json:"gen"`
	// Email is the user's Actor: the email of staff, "subscriber:<username>" of a
	// subscriber.
	Email string `json:"email"`
	Role  Role   `json:"role"`
	// SubscriberID is the subscriber a subscriber's session acts for (0 for staff).
	SubscriberID int64 `json:"sid,omitempty"`
	// CSRF is the token every form and unsafe API call of this session must carry.
	CSRF string `json:"csrf"`
	// Pending is true between a correct password and the TOTP code: such a session
	// opens only the TOTP step.
	Pending bool `json:"pending,omitempty"`
	// MustEnroll is true for a user whose admin requires TOTP and who has none yet: such
	// a session opens only the enrolment page and sign-out.
	MustEnroll bool `json:"enroll,omitempty"`
	// EnrollSecret is the sealed secret being enrolled, until its first code is checked.
	EnrollSecret []byte    `json:"enroll_secret,omitempty"`
	Created      time.Time `json:"created"`
}

// SessionStore keeps sessions (auth/redis). Every session lives SessionIdle after its
// last use, and the store keeps an index of each user's sessions.
type SessionStore interface {
	// CreateSession stores s under a new random ID, sets s.ID and returns it.
	CreateSession(ctx context.Context, s *Session) (string, error)
	// EndUserSessions deletes every session of user id and returns how many there were.
	EndUserSessions(ctx context.Context, userID int64) (int, error)
	// FindSession returns the session and restarts its idle time. ENOTFOUND when it
	// does not exist or expired.
	FindSession(ctx context.Context, id string) (*Session, error)
	// UpdateSession rewrites s under s.ID. ENOTFOUND when it expired meanwhile.
	UpdateSession(ctx context.Context, s *Session) error
	// DeleteSession removes the session; a missing one is not an error.
	DeleteSession(ctx context.Context, id string) error
}

// NewToken returns 32 random bytes, base64url without padding: session IDs and CSRF
// tokens.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// errSessionEnded is what CheckSession says of a session that no longer stands.
func errSessionEnded(why string) error {
	return radius.Errorf(radius.ENOTFOUND, "session ended: %s", why)
}

// SessionEnded is the rule of a session's life: why sess of user u no longer stands at
// now ("" while it does). It ends when the account is disabled, when anything it relies
// on changed since it began (u.SessionGen moved on), when it is older than max (however
// active), and in its TOTP step after PendingTOTP.
func SessionEnded(sess *Session, u *User, now time.Time, max time.Duration) string {
	age := now.Sub(sess.Created)
	switch {
	case u.Disabled():
		return "the account is disabled"
	case sess.Gen != u.SessionGen:
		return "the account changed"
	case sess.UserID != u.ID || sess.Role != u.Role || sess.SubscriberID != u.SubscriberID:
		return "the account changed"
	case max > 0 && age > max:
		return "the session reached its maximum lifetime"
	case sess.Pending && age > PendingTOTP:
		return "the two-factor step waited too long"
	}
	return ""
}

// CheckSession re-reads the user of sess and applies SessionEnded. It returns the
// user, whose fresh values the request should use; ENOTFOUND when the session must
// end (the user is gone too), and the caller deletes it.
func (s *Service) CheckSession(ctx context.Context, sess *Session) (*User, error) {
	u, err := s.Users.FindUserByID(ctx, sess.UserID)
	if radius.ErrorCode(err) == radius.ENOTFOUND {
		return nil, errSessionEnded("the account is gone")
	}
	if err != nil {
		return nil, err
	}
	if why := SessionEnded(sess, u, s.Now(), s.SessionMax); why != "" {
		return nil, errSessionEnded(why)
	}
	return u, nil
}
