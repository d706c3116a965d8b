package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"
	"time"

	"tollgate/radius"
)

// API tokens: how an integrator authenticates on /api/v1 without a browser session.
//
// A token is "tg_" + lookup + "_" + secret: lookup is 10 random bytes in lower-case
// base32 (16 characters), secret 32 random bytes in unpadded base64url (43). It is
// shown once, when it is made. The store keeps lookup, to find the row without using the
// secret, and HMAC-SHA256(key, whole token) with the key derived from the server key
// (seal.Sealer.Key(TokenKeyPurpose)). Authenticate finds the row by lookup, then compares
// the HMAC with hmac.Equal, which takes the same time wherever the bytes differ; an
// unknown lookup is compared against a dummy hash so that it costs the same. A dump of
// the table authenticates nothing, and the lookup part alone is useless.

// TokenKeyPurpose is the purpose of the sealer subkey that keys token hashes.
const TokenKeyPurpose = "api token"

// Scope is what a token may do.
type Scope string

// The scopes: read allows GET, HEAD and OPTIONS; write allows every method.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
)

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeRead || s == ScopeWrite }

// Allows reports whether s covers a request that writes (write) or only reads.
func (s Scope) Allows(write bool) bool { return s == ScopeWrite || (s == ScopeRead && !write) }

// Limits of tokens.
const (
	// MaxTokenTTL is the longest a token may be made to last (ten years).
	MaxTokenTTL = 10 * 365 * 24 * time.Hour
	// tokenPrefix starts every token, so secret scanners and people recognise one.
	tokenPrefix = "tg_"
	lookupBytes = 10
	secretBytes = 32
)

// Token is an API token as stored: never its secret.
type Token struct {
	ID     int64
	Name   string
	Lookup string // the public part of the token that finds its row
	Hash   []byte // HMAC-SHA256 of the token
	Scope  Scope
	// CreatedBy is who made it: a portal user's email or "cli:<user>".
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: live
}

// Actor is the token's name in the audit log.
func (t *Token) Actor() string { return "token:" + t.Name }

// State is "live", "expired" or "revoked" at now.
func (t *Token) State(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "live"
}

// TokenStore keeps API tokens (auth/postgres).
type TokenStore interface {
	// CreateToken stores t and sets its ID (and CreatedAt, when zero). ECONFLICT when a
	// live token has the name, EINVALID.
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByLookup returns the token (live or not) with the lookup part. ENOTFOUND.
	FindTokenByLookup(ctx context.Context, lookup string) (*Token, error)
	// FindTokens lists every token, live ones first, newest first.
	FindTokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes the live token called name at at and returns it. ENOTFOUND.
	RevokeToken(ctx context.Context, name string, at time.Time) (*Token, error)
	// TouchToken records that token id was used at at; it writes only when the last
	// recorded use is older than a minute, so a busy token costs one write a minute.
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// Tokens makes, checks, lists and revokes API tokens. Key is the HMAC key
// (seal.Sealer.Key(TokenKeyPurpose)); Now is the clock (time.Now when nil).
type Tokens struct {
	Store TokenStore
	Key   []byte
	Now   func() time.Time
}

// TokenRequest is the input of Tokens.Create.
type TokenRequest struct {
	Name  string
	Scope Scope
	// TTL is how long the token lasts; 0 never expires.
	TTL       time.Duration
	CreatedBy string
}

func (s *Tokens) now() time.Time {
	if s.Now != nil {
		return s.Now().Round(0).Truncate(time.Microsecond)
	}
	return time.Now().Round(0).Truncate(time.Microsecond)
}

// hash is the stored form of token.
func (s *Tokens) hash(token string) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(token))
	return m.Sum(nil)
}

var lookupEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ValidateTokenName checks a token's name: 1 to 64 letters, digits, '.', '_' or '-',
// starting with a letter or digit. EINVALID starting with "name:".
func ValidateTokenName(name string) error {
	if name == "" || len(name) > 64 {
		return radius.Errorf(radius.EINVALID, "name: must be 1 to 64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return radius.Errorf(radius.EINVALID, "name: %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", name)
		}
	}
	return nil
}

// Create makes a token and returns it in clear, the only time it is shown, with its
// stored form. EINVALID naming the field (name, scope, expires), ECONFLICT when a live
// token has the name.
func (s *Tokens) Create(ctx context.Context, in TokenRequest) (string, *Token, error) {
	if err := ValidateTokenName(in.Name); err != nil {
		return "", nil, err
	}
	if !in.Scope.Valid() {
		return "", nil, radius.Errorf(radius.EINVALID, "scope: %q is not read or write", in.Scope)
	}
	if in.TTL < 0 || in.TTL > MaxTokenTTL {
		return "", nil, radius.Errorf(radius.EINVALID, "expires: must be 0 (never) to 3650d")
	}
	if in.TTL > 0 && in.TTL < time.Minute {
		return "", nil, radius.Errorf(radius.EINVALID, "expires: must be at least a minute")
	}
	var lb [lookupBytes]byte
	var sb [secretBytes]byte
	rand.Read(lb[:]) // never fails (crypto/rand)
	rand.Read(sb[:])
	lookup := strings.ToLower(lookupEncoding.EncodeToString(lb[:]))
	token := tokenPrefix + lookup + "_" + base64.RawURLEncoding.EncodeToString(sb[:])
	now := s.now()
	t := &Token{Name: in.Name, Lookup: lookup, Hash: s.hash(token), Scope: in.Scope, CreatedBy: in.CreatedBy, CreatedAt: now}
	if in.TTL > 0 {
		t.ExpiresAt = now.Add(in.TTL)
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// Refusals of Authenticate. The messages tell a client what to fix; the token itself
// is never repeated.
var (
	errBadToken     = radius.Errorf(radius.EUNAUTHORIZED, "the API token is not valid")
	errTokenExpired = radius.Errorf(radius.EUNAUTHORIZED, "the API token expired: make a new one")
	errTokenRevoked = radius.Errorf(radius.EUNAUTHORIZED, "the API token was revoked")
)

// dummyHash is compared when no row matches, so that an unknown lookup costs what a
// known one does.
var dummyHash = make([]byte, sha256.Size)

// ParseToken splits a token into its lookup part; ok is false for anything not shaped
// like a token.
func ParseToken(token string) (lookup string, ok bool) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", false
	}
	lookup, secret, ok := strings.Cut(rest, "_")
	if !ok || len(lookup) != 16 || len(secret) != 43 {
		return "", false
	}
	for i := 0; i < len(lookup); i++ {
		if c := lookup[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return "", false
		}
	}
	return lookup, true
}

// Authenticate returns the live token whose secret is token and records its use.
// EUNAUTHORIZED for a malformed, unknown, revoked or expired token (the last two say so,
// once the secret was shown to be right).
func (s *Tokens) Authenticate(ctx context.Context, token string) (*Token, error) {
	lookup, ok := ParseToken(token)
	if !ok {
		return nil, errBadToken
	}
	t, err := s.Store.FindTokenByLookup(ctx, lookup)
	switch {
	case radius.ErrorCode(err) == radius.ENOTFOUND:
		hmac.Equal(s.hash(token), dummyHash)
		return nil, errBadToken
	case err != nil:
		return nil, err
	}
	if !hmac.Equal(s.hash(token), t.Hash) {
		return nil, errBadToken
	}
	now := s.now()
	switch t.State(now) {
	case "revoked":
		return nil, errTokenRevoked
	case "expired":
		return nil, errTokenExpired
	}
	if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
		return nil, err
	}
	return t, nil
}

// List returns every token, live ones first.
func (s *Tokens) List(ctx context.Context) ([]Token, error) { return s.Store.FindTokens(ctx) }

// Revoke revokes the live token called name. ENOTFOUND.
func (s *Tokens) Revoke(ctx context.Context, name string) (*Token, error) {
	return s.Store.RevokeToken(ctx, name, s.now())
}
