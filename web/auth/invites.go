package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// InvitePrefix starts every invite token.
const InvitePrefix = "sbi_"

// NewInviteToken makes the secret of an invite link and the hash to store.
func NewInviteToken() (token, hash string, err error) {
	secret, err := randomString(32)
	if err != nil {
		return "", "", err
	}
	token = InvitePrefix + secret
	return token, Hash(token), nil
}

// HashPassword hashes a new password the way CreateUser does, for callers
// that create the user themselves (accepting an invite). It does not check
// the password; use CheckPassword first.
func (a *Accounts) HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), a.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
