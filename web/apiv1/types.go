// Package apiv1 holds the JSON shapes of Seedbed's API v1 and a Go client for
// it. The server (package web) and the CLI share these types, so the two
// cannot drift apart.
package apiv1

import "time"

// Error is the body of every non-2xx answer.
type Error struct {
	Code    string `json:"code"`    // invalid, not_found, conflict, unauthorized, forbidden, internal
	Message string `json:"message"` // what went wrong and what to do
}

// LoginRequest exchanges an email and password for an API token.
type LoginRequest struct {
	Email     string `json:"email"`
	Password  string `json:"password"`
	TokenName string `json:"token_name,omitempty"`
}

// LoginResponse carries the new token; it is shown only this once.
type LoginResponse struct {
	Token string `json:"token"`
	Email string `json:"email"`
}

// User is the signed-in user.
type User struct {
	ID      uint   `json:"id"`
	Email   string `json:"email"`
	IsAdmin bool   `json:"is_admin"`
	// IsCreator tells that the user may create apps (admins may too).
	IsCreator bool `json:"is_creator"`
}

// CreateAppRequest connects a repository.
type CreateAppRequest struct {
	Name      string `json:"name"`
	RepoURL   string `json:"repo_url"`
	Branch    string `json:"branch,omitempty"`
	DeployKey string `json:"deploy_key,omitempty"`
	// Check, when false, creates the app without reading its repository
	// first (a repository that will exist later). Absent means true.
	Check *bool `json:"check,omitempty"`
}

// App is a connected repository with its pipeline.
type App struct {
	Name      string    `json:"name"`
	RepoURL   string    `json:"repo_url"`
	Branch    string    `json:"branch"`
	CreatedAt time.Time `json:"created_at"`
	Stages    []Stage   `json:"stages,omitempty"`
}

// Stage is one stage of an app's pipeline and what it serves.
type Stage struct {
	Name        string   `json:"name"`
	Branch      string   `json:"branch,omitempty"`
	Approval    bool     `json:"approval"`
	Protected   bool     `json:"protected"`
	URL         string   `json:"url"`
	LiveRelease *Release `json:"live_release,omitempty"`
	LastDeploy  *Deploy  `json:"last_deploy,omitempty"`
}

// Release is what a build produced.
type Release struct {
	ID        uint       `json:"id"`
	BuildID   uint       `json:"build_id"`
	Commit    string     `json:"commit"`
	Message   string     `json:"message,omitempty"`
	Functions []Function `json:"functions"`
}

// Function is a function of a release.
type Function struct {
	Key    string   `json:"key"`
	Digest string   `json:"digest"`
	Routes []string `json:"routes"`
}

// DeployRequest asks for a build and deploy of a ref to a stage.
type DeployRequest struct {
	Stage string `json:"stage"`
	Ref   string `json:"ref,omitempty"`
	// Full rebuilds every service instead of reusing the artifacts of
	// services unchanged since the stage's live release.
	Full bool `json:"full,omitempty"`
}

// DeployResponse names the build and deploy that were started.
type DeployResponse struct {
	Build  Build  `json:"build"`
	Deploy Deploy `json:"deploy"`
}

// Build is one build.
type Build struct {
	ID            uint       `json:"id"`
	App           string     `json:"app"`
	Ref           string     `json:"ref"`
	Commit        string     `json:"commit,omitempty"`
	CommitMessage string     `json:"commit_message,omitempty"`
	Status        string     `json:"status"`
	Error         string     `json:"error,omitempty"`
	Trigger       string     `json:"trigger"`
	URL           string     `json:"url"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	Artifacts     []Artifact `json:"artifacts,omitempty"`
	// Full says the build was asked to rebuild every service.
	Full bool `json:"full,omitempty"`
	// Phases are the timed steps of the build (only on GET /builds/{id}).
	Phases []BuildPhase `json:"phases,omitempty"`
}

// BuildPhase is one timed step of a build: checkout, then per service
// install, hooks, compile and package.
type BuildPhase struct {
	Name       string    `json:"name"`
	Service    string    `json:"service,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	DurationMS int64     `json:"duration_ms"`
}

// Finished reports whether the build has ended.
func (b Build) Finished() bool {
	return b.Status == "succeeded" || b.Status == "failed" || b.Status == "cancelled"
}

// Artifact is a packaged function.
type Artifact struct {
	Service  string `json:"service"`
	Function string `json:"function"`
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`
	// ReusedFrom is the build whose artifact this build reused unchanged
	// (0: built by this build); ReuseReason says why.
	ReusedFrom  uint   `json:"reused_from,omitempty"`
	ReuseReason string `json:"reuse_reason,omitempty"`
}

// Deploy is one deploy.
type Deploy struct {
	ID          uint       `json:"id"`
	App         string     `json:"app"`
	Stage       string     `json:"stage"`
	BuildID     uint       `json:"build_id,omitempty"`
	ReleaseID   uint       `json:"release_id,omitempty"`
	Status      string     `json:"status"`
	Error       string     `json:"error,omitempty"`
	Trigger     string     `json:"trigger"`
	TriggeredBy string     `json:"triggered_by,omitempty"`
	SourceStage string     `json:"source_stage,omitempty"` // where a promotion came from
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	URL         string     `json:"url"`
	ChangeSet   *ChangeSet `json:"change_set,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// Finished reports whether the deploy has ended.
func (d Deploy) Finished() bool {
	switch d.Status {
	case "succeeded", "failed", "superseded", "rejected", "cancelled":
		return true
	}
	return false
}

// ChangeSet is what a deploy does to a stage.
type ChangeSet struct {
	Summary   string           `json:"summary"`
	Major     bool             `json:"major"`
	Functions []FunctionChange `json:"functions"`
}

// FunctionChange is what a deploy does to one function.
type FunctionChange struct {
	Kind   string   `json:"kind"` // add, change, remove, keep
	Key    string   `json:"key"`
	Before string   `json:"before,omitempty"`
	After  string   `json:"after,omitempty"`
	Detail []string `json:"detail,omitempty"`
	Major  bool     `json:"major,omitempty"`
}

// LogLine is one line of a build's or deploy's log.
type LogLine struct {
	ID     uint      `json:"id"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
	Time   time.Time `json:"time"`
}

// LogPage is a slice of a log, and whether more can come.
type LogPage struct {
	Lines    []LogLine `json:"lines"`
	Status   string    `json:"status"`
	Finished bool      `json:"finished"` // the owner ended; after the last line nothing more comes
}

// StageRequest creates a stage or changes its settings.
type StageRequest struct {
	Name      string `json:"name,omitempty"`
	Branch    string `json:"branch"`
	Approval  bool   `json:"approval"`
	Protected bool   `json:"protected"`
	Position  *int   `json:"position,omitempty"` // create only; default the end
	After     string `json:"after,omitempty"`    // create only: right after this stage (instead of position)
}

// OrderRequest sets the pipeline order: every stage once, first to last.
type OrderRequest struct {
	Stages []string `json:"stages"`
}

// Var is a stage variable; a secret's value is never returned.
type Var struct {
	Key       string    `json:"key"`
	Value     string    `json:"value,omitempty"`
	Secret    bool      `json:"secret"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SetVarRequest sets a stage variable.
type SetVarRequest struct {
	Value  string `json:"value"`
	Secret bool   `json:"secret"`
}

// PromoteRequest promotes the release live in From to To (empty: the next
// stage). ReleaseID is the release the preview showed (PromotionPlan's
// Release.ID): the promotion is refused with 409 if From serves another one
// by now. Live instead promotes whatever From serves, unreviewed; one of
// the two is required.
type PromoteRequest struct {
	From      string `json:"from"`
	To        string `json:"to,omitempty"`
	ReleaseID uint   `json:"release_id,omitempty"`
	Live      bool   `json:"live,omitempty"`
}

// Commit is one commit of a promotion.
type Commit struct {
	SHA     string `json:"sha"`
	Message string `json:"message"`
	Author  string `json:"author"`
}

// PromotionPlan is what a promotion would do.
type PromotionPlan struct {
	From          string    `json:"from"`
	To            string    `json:"to"`
	Release       Release   `json:"release"`
	ChangeSet     ChangeSet `json:"change_set"`
	Commits       []Commit  `json:"commits"`
	CommitsError  string    `json:"commits_error,omitempty"`
	NeedsApproval bool      `json:"needs_approval"`
}

// RollbackRequest rolls a stage back; ReleaseID 0 means the previous release.
type RollbackRequest struct {
	ReleaseID uint `json:"release_id,omitempty"`
}

// RejectRequest turns a promotion down.
type RejectRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Webhooks is how to connect an app's forge, and what it sent lately.
type Webhooks struct {
	Secret     string            `json:"secret"`
	URLs       map[string]string `json:"urls"` // forge → payload URL
	RemoteURL  string            `json:"remote_url,omitempty"`
	Deliveries []Delivery        `json:"deliveries"`
}

// Delivery is one webhook delivery and what Seedbed did with it.
type Delivery struct {
	ID         uint      `json:"id"`
	Forge      string    `json:"forge"`
	DeliveryID string    `json:"delivery_id"`
	Event      string    `json:"event,omitempty"`
	Outcome    string    `json:"outcome"` // accepted, ignored, rejected
	Reason     string    `json:"reason,omitempty"`
	Summary    string    `json:"summary,omitempty"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	Builds     string    `json:"builds,omitempty"`
	Time       time.Time `json:"time"`
}
