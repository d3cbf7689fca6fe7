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
	// Invites are the pending invites (unused, not revoked, not expired),
	// newest first.
	Invites []InviteRow
}

// InviteRow is one pending invite an admin may revoke.
type InviteRow struct {
	ID         uint
	Email      string
	IsAdmin    bool
	IsApprover bool
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokeURL  string
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

// inviteJoinsAs says what an invite makes its user.
func inviteJoinsAs(inv InviteRow) string {
	switch {
	case inv.IsAdmin && inv.IsApprover:
		return "admin, approver"
	case inv.IsAdmin:
		return "admin"
	case inv.IsApprover:
		return "approver"
	}
	return "user"
}
