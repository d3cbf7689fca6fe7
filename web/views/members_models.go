package views

import "time"

// MemberRow is one user's role on an app.
type MemberRow struct {
	Email     string
	Role      string // viewer, deployer, owner
	Since     time.Time
	RemoveURL string // POST with _csrf; empty unless the viewer is an owner
}

// MembersModel is an app's members page. SetURL (POST with _csrf, "email",
// "role") is empty unless the signed-in user owns the app.
type MembersModel struct {
	Page    Page
	App     string
	AppURL  string
	Members []MemberRow
	SetURL  string
	Email   string // the form's email after an error
	Error   string
}
