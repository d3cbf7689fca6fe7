// Package views holds the console's templ components and the view model each
// page renders. Handlers in package web fill a model and render a component;
// components never query anything themselves.
package views

import "time"

// Page is what every console page's layout needs.
type Page struct {
	Title     string
	UserEmail string    // empty when signed out
	CSRFToken string    // put into every form as the hidden field "_csrf"
	Flash     string    // one-off notice shown at the top, e.g. "App created"
	Nav       string    // which top-level section is active: "apps"
	Now       time.Time // the time relative times ("3m ago") are measured from; zero shows absolute times
	// SecurityWarning, shown to admins on every page, says what of this
	// server is not confined (functions running unsandboxed).
	SecurityWarning string
}

// LoginModel is the sign-in form.
type LoginModel struct {
	Page  Page
	Email string
	Error string
	Next  string // where to go after signing in
}

// AppRow is one app in the apps list.
type AppRow struct {
	Name    string
	RepoURL string
	Branch  string
	Stages  []StageBadge
}

// StageBadge is a stage's name, the release it serves and the status of
// its newest deploy.
type StageBadge struct {
	Name   string
	Status string // "", queued, running, succeeded, failed, superseded, …
	// LiveReleaseID is the release the stage serves (0: nothing live) and
	// LiveCommit the commit it was built from.
	LiveReleaseID uint
	LiveCommit    string
}

// Pending is the status shown beside what the stage serves: a deploy still
// on its way (queued, running, awaiting approval) or one that failed last.
// A deploy that succeeded is what is live; one cancelled, rejected or
// superseded left the stage as it was: "" for those.
func (b StageBadge) Pending() string {
	switch b.Status {
	case "queued", "running", "awaiting_approval", "failed":
		return b.Status
	}
	return ""
}

// AppsModel is the apps list.
type AppsModel struct {
	Page Page
	Apps []AppRow
	Live Live // the stage statuses follow the stream
	// CanCreate shows the way to connect a repository: admins and
	// creators may.
	CanCreate bool
}

// Live names the stream a page follows to stay fresh (see liveWatch):
// empty URL, a page as fresh as its last load.
type Live struct {
	URL     string // server-sent events saying "changed"
	Version string // what the page shows, as the stream words it
}

// AppForm is the create-app form with its validation state.
type AppForm struct {
	Page      Page
	Name      string
	RepoURL   string
	Branch    string
	DeployKey string
	NoCheck   bool              // the repository is not read before the app is saved
	Errors    map[string]string // field name ("name", "repo_url", "branch", "deploy_key") → message
	Error     string            // a problem not tied to one field
}

// AppModel is an app's page.
type AppModel struct {
	Page    Page
	Live    Live // the pipeline, previews, builds and deploys follow the stream
	Name    string
	RepoURL string
	Branch  string
	Stages  []StageCard
	Builds  []BuildRow
	Deploys []DeployRow
	// PreviewTemplate is the stage preview stages are cloned from (empty:
	// previews are off); Previews lists them, apart from the pipeline.
	PreviewTemplate string
	Previews        []PreviewRow
	// Stages are managed by owners: AddStageURL (POST _csrf, name, branch,
	// after, approval, protected) and OrderURL (POST _csrf, order: the stage names
	// in pipeline order, separated by spaces) are empty for others.
	AddStageURL string
	OrderURL    string
	// SettingsURL links the app's settings and webhook secret; empty for
	// all but owners, who alone may read them.
	SettingsURL string
	StageOrder  string // the current order, "dev staging prod"
}

// StageCard is one stage of an app's pipeline with what it serves.
type StageCard struct {
	Name       string
	Branch     string
	URL        string // gateway URL of the stage, e.g. http://127.0.0.1:8081/app/dev/
	Live       *ReleaseInfo
	LastDeploy *DeployRow
	DeployURL  string // POST here (with _csrf and optional "ref") to deploy
	Functions  []FunctionInfo
	// Settings of the stage, shown as small tags on the card.
	Approval  bool // promotions into it wait for a person
	Protected bool // no direct deploys; DeployURL is empty then
	// PromoteURL is a GET link to the promotion preview into the next stage
	// (empty for the last stage or when this stage serves nothing);
	// PromoteTo names that next stage.
	PromoteURL string
	PromoteTo  string
	// RollbackURL: POST here (with _csrf) to roll back to the previous
	// release; empty when there is none. Ask for confirmation.
	RollbackURL string
	SettingsURL string // GET: the stage's settings page
	LogsURL     string // GET: the stage's function logs; add ?function= for one
	EventsURL   string // GET: the stage's schedules and invocations
	MapURL      string // GET: the stage drawn, release beside what runs
	// Awaiting lists promotions into this stage that wait for approval.
	Awaiting []DeployRow
	// Traffic is the stage's recent request and error rate; nil when
	// this server collects no metrics.
	Traffic *StageTraffic
	// Firing names the alert rules that fire for this stage; AlertsURL
	// is the app's Alerts page they link to.
	Firing    []string
	AlertsURL string
}

// ReleaseInfo describes a release.
type ReleaseInfo struct {
	ID            uint
	BuildID       uint
	CommitSHA     string // full; show the first 7
	CommitMessage string
	CommitAuthor  string
	CreatedAt     time.Time
}

// FunctionInfo is a function of a live release.
type FunctionInfo struct {
	Key    string // "service/name"
	Digest string
	Routes []string
}

// BuildRow is one build in a list.
type BuildRow struct {
	ID            uint
	URL           string
	Ref           string
	CommitSHA     string
	CommitMessage string
	Status        string // queued, running, succeeded, failed
	Trigger       string
	CreatedAt     time.Time
	Duration      time.Duration // zero while unfinished
}

// DeployRow is one deploy in a list.
type DeployRow struct {
	ID          uint
	URL         string
	Stage       string
	BuildID     uint
	ReleaseID   uint
	Status      string // also awaiting_approval, rejected, cancelled
	Trigger     string // console, api, cli, push, promotion, rollback
	TriggeredBy string
	Error       string
	CreatedAt   time.Time
	Duration    time.Duration
}

// ArtifactRow is one packaged function of a build.
type ArtifactRow struct {
	Service  string
	Function string
	Digest   string
	Size     int64
}

// LogLine is one line of a log.
type LogLine struct {
	ID     uint
	Stream string // stdout, stderr, seedbed
	Text   string
}

// BuildModel is a build's page. While the build runs, the page subscribes to
// StreamURL (server-sent events, see package web) and appends lines live.
type BuildModel struct {
	Page      Page
	App       string
	AppURL    string
	Build     BuildRow
	Error     string
	Artifacts []ArtifactRow
	// Phases has the build's timed phases and its artifacts' reuse (see
	// build_phases.go).
	Phases    BuildPhases
	Deploys   []DeployRow
	Log       []LogLine
	StreamURL string // SSE endpoint; empty once the build has finished
	CancelURL string // POST (with _csrf) to cancel; empty once finished. Ask for confirmation.
	// Live follows the deploys of a finished build (while it runs, the
	// log's stream refreshes the page when it ends).
	Live Live
}

// ChangeItem is one entry of a change set.
type ChangeItem struct {
	Kind   string // "add", "change", "remove", "keep"
	Key    string // function key "service/name"
	Before string // digest (or "") before
	After  string // digest (or "") after
	Detail []string
}

// DeployModel is a deploy's page.
type DeployModel struct {
	Page      Page
	App       string
	AppURL    string
	Deploy    DeployRow
	BuildURL  string
	Summary   string // e.g. "1 added, 1 changed, 0 removed" or "Nothing changes"
	Changes   []ChangeItem
	Log       []LogLine
	StreamURL string // SSE endpoint for the deploy's log; empty once finished
	// Actions, each a POST form with _csrf; empty when not possible.
	ApproveURL string // awaiting approval and the user may approve
	RejectURL  string // same; the form has an optional "reason" text field
	CancelURL  string // unfinished; ask for confirmation
	// Approval facts, when a person decided.
	DecidedBy string
	DecidedAt *time.Time
	// SourceStage is where a promotion came from ("" otherwise).
	SourceStage string
	// Commit of the deployed release.
	CommitSHA     string
	CommitMessage string
}

// ErrorModel is an error page.
type ErrorModel struct {
	Page    Page
	Status  int
	Message string
}

// CommitRow is one commit a promotion brings.
type CommitRow struct {
	SHA     string
	Message string
	Author  string
}

// PromoteModel is the preview of a promotion, shown before the user confirms.
type PromoteModel struct {
	Page          Page
	App           string
	AppURL        string
	From, To      string
	ReleaseID     uint
	BuildID       uint
	CommitSHA     string
	CommitMessage string
	Summary       string       // "Nothing changes: …" or "Major change …: 1 added, …"
	Major         []ChangeItem // functions or routes added/removed, runtime/handler changed
	Minor         []ChangeItem // code or env only
	Unchanged     []ChangeItem
	Commits       []CommitRow
	CommitsError  string // why commits could not be listed, if so
	NeedsApproval bool   // the deploy will wait as "awaiting approval"
	ConfirmURL    string // POST (with _csrf, "from", "to" and "release_id" hidden fields) to promote; data-testid="confirm-promote"
	// Moved says why a confirmation was refused: the source stage serves
	// another release than the one previewed (or the form named none). The
	// page then shows the plan as it is now, for review.
	Moved string
	// Maps are the two stages drawn side by side, source then target;
	// none when they could not be read.
	Maps []StageMapView
}

// VarRow is one stage variable; a secret's Value is empty and never shown.
type VarRow struct {
	Key       string
	Value     string
	Secret    bool
	UpdatedAt time.Time
	DeleteURL string // POST with _csrf to remove it; ask for confirmation
}

// StageSettingsModel is a stage's settings page: branch, approval,
// protection, and its env vars and secrets.
type StageSettingsModel struct {
	Page      Page
	App       string
	AppURL    string
	Stage     string
	Branch    string
	Approval  bool
	Protected bool
	Target    string
	// SaveURL: POST with _csrf, "branch", "approval" (checkbox "on"),
	// "protected" (checkbox "on"). Empty for all but owners, who alone
	// may change the settings: the page then shows them read-only.
	SaveURL string
	Vars    []VarRow
	// SetVarURL: POST with _csrf, "key", "value", "secret" (checkbox "on").
	// Empty for viewers, who may not change variables.
	SetVarURL string
	// DeleteURL: POST with _csrf to delete the stage; ask for confirmation.
	// Empty for all but owners.
	DeleteURL string
	Errors    map[string]string // "branch", "key", "value" → message
	Error     string
	// TargetURL: POST with _csrf, "target" (local or kubernetes) and the
	// Kube fields by their json names. Empty for all but owners.
	TargetURL string
	Kube      KubeSettingsForm
}

// KubeSettingsForm is a stage's kubernetes settings as the form shows them.
type KubeSettingsForm struct {
	Kubeconfig, Namespace, Image, ImagePullSecret string
	Replicas, Memory, CPU, ProgressDeadline       string
}
