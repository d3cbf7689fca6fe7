package views

import "time"

// AppSettingsModel is an app's settings page: how to connect each forge's
// webhook, the built-in git remote, the webhook deliveries lately received,
// and the forge form (commit statuses and polling).
type AppSettingsModel struct {
	Page   Page
	App    string
	AppURL string
	// Secret verifies webhook deliveries; shown so it can be pasted into
	// the forge.
	Secret string
	Forges []ForgeHook
	// RemoteURL is the built-in git remote of the app
	// ({PublicURL}/git/{app}.git); empty when the remote is off.
	RemoteURL string
	Branch    string // the app's default branch, for the push example
	// Deliveries are the newest webhook deliveries, newest first.
	Deliveries []DeliveryRow
	Form       ForgeForm
	// SaveURL: POST with _csrf, "forge", "api_url", "repo", "token",
	// "clear_token" (checkbox "on"), "poll".
	SaveURL string
	Errors  map[string]string // "forge", "api_url", "repo", "token", "poll" → message
	Error   string
}

// ForgeHook is how to connect one forge's webhook.
type ForgeHook struct {
	Kind       string // github, gitlab, gitea, bitbucket
	Name       string // GitHub, GitLab, Gitea/Forgejo, Bitbucket
	PayloadURL string
	// Steps are the setup instructions, in order; each is plain text.
	Steps []string
	// SecretField names where the secret goes in the forge's form.
	SecretField string
}

// DeliveryRow is one webhook delivery in the settings page's table.
type DeliveryRow struct {
	Forge   string
	Event   string
	Outcome string // accepted, ignored, rejected
	Reason  string
	Summary string
	Builds  []uint
	At      time.Time
}

// ForgeForm is the forge settings form's values.
type ForgeForm struct {
	Forge       string // "" for none
	APIURL      string
	Repo        string
	RepoDerived string
	TokenSet    bool
	Poll        string // "" or e.g. "1m0s"
}

// ForgeOption is one choice of the forge select.
type ForgeOption struct {
	Value, Label string
}

// forgeOptions are the forges the form offers, "none" first.
func forgeOptions() []ForgeOption {
	return []ForgeOption{{"", "None"}, {"github", "GitHub"}, {"gitlab", "GitLab"}, {"gitea", "Gitea/Forgejo"}, {"bitbucket", "Bitbucket (webhooks only; no statuses yet)"}}
}
