package views

import "time"

// DomainRow is one custom domain of an app, with its state in words.
type DomainRow struct {
	Name    string // as stored (punycode)
	Display string // in Unicode
	Stage   string
	URL     string
	// State is "dns", "pending", "issued" or "failed": which of the
	// states below the row shows first.
	State     string
	DNS       string // ok, elsewhere, missing, unknown
	DNSAddrs  string
	CheckedAt *time.Time
	ExpiresAt *time.Time
	LastError string
	ErrorAt   *time.Time
	// CheckURL and RemoveURL take a POST with _csrf; empty unless the
	// viewer owns the app.
	CheckURL  string
	RemoveURL string
}

// DomainsModel is an app's domains page. AddURL (POST with _csrf, "stage",
// "name") is empty unless the signed-in user owns the app; Disabled says
// that this Seedbed serves no HTTPS.
type DomainsModel struct {
	Page      Page
	App       string
	AppURL    string
	Disabled  string
	PublicIPs string
	Rows      []DomainRow
	Stages    []string
	AddURL    string
	Stage     string // the form's values after an error
	Name      string
	Error     string
}
