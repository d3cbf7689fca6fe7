package views

import "time"

// BuildsModel is an app's builds list: filters by ref, status and trigger,
// newest first, a page of builds at a time.
type BuildsModel struct {
	Page   Page
	App    string
	AppURL string
	Builds []BuildRow
	// The filters in effect ("" is any) and the choices each offers.
	Ref, Status, Trigger string
	Refs, Statuses       []string
	Triggers             []string
	FormURL              string // the form submits here with GET
	NextURL              string // older builds; empty on the last page
	FirstURL             string // back to the newest; empty on the first page
}

// ActivityModel is the activity feed: who did what on the apps the user
// sees, newest first.
type ActivityModel struct {
	Page    Page
	Entries []ActivityRow
	NextURL string // older entries; empty on the last page
}

// ActivityRow is one build or deploy in the feed, or an invite an admin
// revoked (Who revoked the invite for Email).
type ActivityRow struct {
	Kind      string // "build", "deploy" or "invite"
	ID        uint
	URL       string
	App       string
	AppURL    string
	Stage     string // deploys
	Ref       string // builds
	BuildID   uint   // deploys of a build
	Status    string
	Trigger   string // console, push, webhook, poll, promotion, rollback, ...
	Who       string // who triggered it; "" for Seedbed itself
	DecidedBy string // who approved or rejected a promotion
	Email     string // invites: who was invited
	CreatedAt time.Time
}

// InviteModel is the page an invite link opens: choose a password, or why
// the link no longer works.
type InviteModel struct {
	Page      Page
	Email     string
	ActionURL string // POST with _csrf, password and confirm
	Error     string // what was wrong with the password
	Invalid   string // the link cannot be used (used, expired, unknown)
}
