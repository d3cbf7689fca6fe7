// Package auth keeps Seedbed's accounts: users with bcrypt passwords, browser
// sessions and personal API tokens. Session cookies and tokens are random
// secrets of which only a sha256 is stored, so a copy of the database does
// not let anyone sign in.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/seedbed/seedbed/store"
)

// TokenPrefix starts every API token, so a leaked one is easy to recognise.
const TokenPrefix = "sbt_"

// SessionTTL is how long a browser stays signed in.
const SessionTTL = 14 * 24 * time.Hour

// ErrBadCredentials is returned for a wrong email or password; which of the
// two was wrong is deliberately not told.
var ErrBadCredentials = errors.New("wrong email or password")

// Store is what accounts need from the database.
type Store interface {
	CreateUser(ctx context.Context, u *store.User) error
	UpdateUserPassword(ctx context.Context, id uint, hash string) error
	UserByEmail(ctx context.Context, email string) (store.User, error)
	UserByID(ctx context.Context, id uint) (store.User, error)
	CountUsers(ctx context.Context) (int64, error)
	CreateAPIToken(ctx context.Context, t *store.APIToken) error
	UserByTokenHash(ctx context.Context, hash string) (store.User, store.APIToken, error)
	CreateSession(ctx context.Context, s *store.Session) error
	SessionUser(ctx context.Context, hash string) (store.User, store.Session, error)
	DeleteSession(ctx context.Context, id uint) error
}

// Accounts manages users, sessions and tokens.
type Accounts struct {
	store Store
	cost  int
}

// New makes Accounts. cost is the bcrypt cost; 0 means bcrypt's default.
func New(s Store, cost int) *Accounts {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	return &Accounts{store: s, cost: cost}
}

// CheckPassword tells what is wrong with a new password, or "".
func CheckPassword(pw string) string {
	if len(pw) < 8 {
		return "Use a password of at least 8 characters."
	}
	if len(pw) > 72 {
		return "Use a password of at most 72 bytes."
	}
	return ""
}

// CreateUser adds a user. With update set, an existing user's password is
// replaced instead of failing, so `seedbed admin create` can reset one.
func (a *Accounts) CreateUser(ctx context.Context, email, password string, admin, update bool) (store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if _, err := mail.ParseAddress(email); err != nil || !strings.Contains(email, "@") {
		return store.User{}, fmt.Errorf("%q is not an email address", email)
	}
	if msg := CheckPassword(password); msg != "" {
		return store.User{}, errors.New(msg)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), a.cost)
	if err != nil {
		return store.User{}, fmt.Errorf("hash password: %w", err)
	}
	u := store.User{Email: email, PasswordHash: string(hash), IsAdmin: admin}
	err = a.store.CreateUser(ctx, &u)
	if errors.Is(err, store.ErrConflict) && update {
		existing, err := a.store.UserByEmail(ctx, email)
		if err != nil {
			return u, err
		}
		if err := a.store.UpdateUserPassword(ctx, existing.ID, string(hash)); err != nil {
			return u, err
		}
		return existing, nil
	}
	return u, err
}

// CountUsers tells how many users exist.
func (a *Accounts) CountUsers(ctx context.Context) (int64, error) { return a.store.CountUsers(ctx) }

// Authenticate checks an email and password.
func (a *Accounts) Authenticate(ctx context.Context, email, password string) (store.User, error) {
	u, err := a.store.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same time as a real check, so timing does not tell
		// which emails exist.
		_ = bcrypt.CompareHashAndPassword([]byte("$2a$10$7EqJtq98hPqEX7fNZaFWoO5wB0QqTOUVdTnyb7i1pPUQz6G.kdd0u"), []byte(password))
		return u, ErrBadCredentials
	}
	if err != nil {
		return u, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return u, ErrBadCredentials
	}
	return u, nil
}

// NewSession signs a user in and returns the cookie value.
func (a *Accounts) NewSession(ctx context.Context, u store.User, userAgent string) (string, store.Session, error) {
	secret, err := randomString(32)
	if err != nil {
		return "", store.Session{}, err
	}
	csrf, err := randomString(32)
	if err != nil {
		return "", store.Session{}, err
	}
	if len(userAgent) > 200 {
		userAgent = userAgent[:200]
	}
	s := store.Session{TokenHash: Hash(secret), UserID: u.ID, CSRFToken: csrf, UserAgent: userAgent, ExpiresAt: time.Now().UTC().Add(SessionTTL)}
	if err := a.store.CreateSession(ctx, &s); err != nil {
		return "", s, err
	}
	return secret, s, nil
}

// Session finds the signed-in user behind a session cookie value.
func (a *Accounts) Session(ctx context.Context, cookie string) (store.User, store.Session, error) {
	return a.store.SessionUser(ctx, Hash(cookie))
}

// EndSession signs a browser out.
func (a *Accounts) EndSession(ctx context.Context, s store.Session) error {
	return a.store.DeleteSession(ctx, s.ID)
}

// NewToken makes a personal API token for u and returns it; it is shown
// once and only its hash is kept.
func (a *Accounts) NewToken(ctx context.Context, u store.User, name string) (string, store.APIToken, error) {
	secret, err := randomString(32)
	if err != nil {
		return "", store.APIToken{}, err
	}
	tok := TokenPrefix + secret
	if name == "" {
		name = "cli"
	}
	t := store.APIToken{UserID: u.ID, Name: name, Hash: Hash(tok), Prefix: tok[:len(TokenPrefix)+6]}
	if err := a.store.CreateAPIToken(ctx, &t); err != nil {
		return "", t, err
	}
	return tok, t, nil
}

// TokenUser finds the user behind an API token that is not revoked.
func (a *Accounts) TokenUser(ctx context.Context, token string) (store.User, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return store.User{}, fmt.Errorf("api token: %w", store.ErrNotFound)
	}
	u, _, err := a.store.UserByTokenHash(ctx, Hash(token))
	return u, err
}

// Hash is the sha256 of a secret, as stored.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
