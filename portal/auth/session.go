package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"
)

// SessionIdle is how long a portal session lives without a request: each request
// starts it again.
const SessionIdle = 12 * time.Hour

// PendingTOTP is how long a sign-in may wait between the password and the TOTP code.
const PendingTOTP = 5 * time.Minute

// Session is one signed-in browser or API client, kept in Redis under a hash of its ID.
type Session struct {
	// ID is the cookie value: 32 random bytes, base64url. Never stored as is.
	ID     string `json:"-"`
	UserID int64  `json:"uid"`
	Email  string `json:"email"`
	Role   Role   `json:"role"`
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
// last use.
type SessionStore interface {
	// CreateSession stores s under a new random ID, sets s.ID and returns it.
	CreateSession(ctx context.Context, s *Session) (string, error)
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
