package views

import "time"

// AccountModel is the signed-in user's account page: personal API tokens
// and signed-in browsers, each revocable.
type AccountModel struct {
	Page       Page
	Email      string
	IsAdmin    bool
	IsApprover bool
	// NewToken is a token just made: shown this once, never again.
	NewToken     string
	NewTokenName string
	Tokens       []TokenRow
	Sessions     []SessionRow
	CreateURL    string // where the "new token" form posts
	Error        string // what was wrong with the new token's name
	// Invites, for admins: InviteURL is where the invite form posts (empty
	// hides it); NewInviteURL is a link just made, shown this once.
	InviteURL      string
	InviteEmail    string // the form's email after an error
	InviteError    string
	NewInviteURL   string
	NewInviteEmail string
}

// TokenRow is one personal API token.
type TokenRow struct {
	ID         uint
	Name       string
	Prefix     string // the token's first characters, to recognise it
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	RevokeURL  string // empty once revoked
}

// SessionRow is one signed-in browser.
type SessionRow struct {
	ID        uint
	UserAgent string
	CreatedAt time.Time
	ExpiresAt time.Time
	Current   bool   // the browser looking at the page
	RevokeURL string // signs that browser out
}
