package store

import "time"

// User is a person who signs in to the console or uses the CLI.
type User struct {
	ID           uint
	Email        string
	PasswordHash string `json:"-"`
	IsAdmin      bool
	IsApprover   bool // may approve promotions into stages that need approval
	// IsCreator lets a user who is no admin create apps (and so own them);
	// admins set it.
	IsCreator bool
	CreatedAt time.Time
}

// APIToken is a personal bearer token. Only its sha256 is kept.
type APIToken struct {
	ID         uint
	UserID     uint
	Name       string
	Hash       string `json:"-"`
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Session is a signed-in browser. Only the sha256 of its cookie is kept.
type Session struct {
	ID        uint
	TokenHash string
	UserID    uint
	CSRFToken string
	UserAgent string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// App is one connected Git repository.
type App struct {
	ID        uint
	Name      string
	RepoURL   string
	Branch    string
	DeployKey string `json:"-"` // PEM private key for ssh repositories; sealed
	// WebhookSecret verifies deliveries from the app's forge. Sealed by the
	// pipelines package, as DeployKey is (in clear only when an older
	// Seedbed wrote it, until the next start seals it).
	WebhookSecret string `json:"-"`
	// Forge settings: where commit statuses go and how often to poll.
	// ForgeToken is sealed by the pipelines package; PollSeconds 0 means
	// no polling.
	Forge       string
	ForgeAPIURL string `gorm:"column:forge_api_url"`
	ForgeRepo   string
	ForgeToken  string `json:"-"`
	PollSeconds int
	// PreviewTemplateID is the stage preview stages are cloned from; nil
	// when the app has no preview stages.
	PreviewTemplateID *uint `gorm:"column:preview_template_id"`
	CreatedAt         time.Time
}

// Stage is a named environment of an app; Position orders the pipeline.
type Stage struct {
	ID            uint
	AppID         uint
	Name          string
	Position      int
	Branch        string
	LiveReleaseID *uint
	LiveDeployID  *uint
	Approval      bool       // promotions into this stage wait for a person
	Protected     bool       // only promotions and rollbacks, no direct deploys of a branch
	Target        string     // where its functions run: "local"
	LockOwner     string     `json:"-"`
	LockExpiresAt *time.Time `json:"-"`
	// A preview stage (pr-N) belongs to pull request PRNumber and is not
	// part of the pipeline; ClosedAt is set once the request closed.
	PRNumber  *int   `gorm:"column:pr_number"`
	PRBranch  string `gorm:"column:pr_branch"`
	PRTitle   string `gorm:"column:pr_title"`
	ClosedAt  *time.Time
	CreatedAt time.Time

	// Kubernetes holds the kubernetes target's settings (JSON, see
	// pipelines.KubernetesSettings) when Target is "kubernetes".
	Kubernetes string
	// AppliedTarget is where the stage was last applied (JSON: the target
	// and its settings then); empty before its first deploy or after its
	// removal. See SaveStageApplied.
	AppliedTarget string `json:"-"`
}

// Build statuses.
const (
	BuildQueued    = "queued"
	BuildRunning   = "running"
	BuildSucceeded = "succeeded"
	BuildFailed    = "failed"
	BuildCancelled = "cancelled"
)

// Build is one immutable run for one commit.
type Build struct {
	ID              uint
	AppID           uint
	Ref             string
	CommitSHA       string
	CommitMessage   string
	CommitAuthor    string
	Status          string
	Error           string
	TriggerKind     string
	TriggeredBy     string
	CancelRequested bool
	// Source is where the build fetches from when that is not the app's
	// repository (the built-in git remote).
	Source       string
	SourceBranch string // the only branch to fetch from Source
	// FullBuild asks for every service to be rebuilt, none reused.
	FullBuild bool
	// Phases is the timing of the build's phases, JSON owned by the
	// pipelines package (see pipelines.BuildPhases).
	Phases     string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Finished reports whether the build has reached an end state.
func (b Build) Finished() bool {
	return b.Status == BuildSucceeded || b.Status == BuildFailed || b.Status == BuildCancelled
}

// Artifact records one packaged function of a build; the bytes live in the
// content-addressed artifact store under Digest.
type Artifact struct {
	ID       uint
	BuildID  uint
	Service  string
	Function string
	Digest   string
	Size     int64
	// ReusedFrom is the build this artifact was reused from, unchanged,
	// or 0 when this build packaged it; ReuseReason says why.
	ReusedFrom  uint
	ReuseReason string
	CreatedAt   time.Time
}

// Release is the manifest a build produced: the thing that is deployed.
// Manifest is JSON owned by the pipelines package.
type Release struct {
	ID        uint
	AppID     uint
	BuildID   uint
	Manifest  string
	CreatedAt time.Time
}

// Deploy statuses.
const (
	DeployAwaiting   = "awaiting_approval" // a promotion waiting for a person
	DeployQueued     = "queued"            // waiting for its build or for the stage
	DeployRunning    = "running"           // planning or applying
	DeploySucceeded  = "succeeded"         // the stage serves its release
	DeployFailed     = "failed"            // the stage kept what it had
	DeploySuperseded = "superseded"        // a newer deploy of the stage won
	DeployRejected   = "rejected"          // a person turned the promotion down
	DeployCancelled  = "cancelled"         // stopped on request; the stage kept what it had
)

// Deploy applies a release to a stage.
type Deploy struct {
	ID          uint
	AppID       uint
	StageID     uint
	BuildID     *uint
	ReleaseID   *uint
	Status      string
	TriggerKind string
	TriggeredBy string
	ChangeSet   string // JSON, owned by the pipelines package
	// Applied is what the stage served after this deploy, as JSON owned by
	// the pipelines package, with env values replaced by digests.
	Applied         string
	SourceStageID   *uint // the stage a promotion came from
	DecidedBy       string
	DecidedAt       *time.Time
	CancelRequested bool
	Error           string
	CreatedAt       time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time
}

// Finished reports whether the deploy has reached an end state.
func (d Deploy) Finished() bool {
	switch d.Status {
	case DeploySucceeded, DeployFailed, DeploySuperseded, DeployRejected, DeployCancelled:
		return true
	}
	return false
}

// Log owner kinds.
const (
	LogBuild  = "build"
	LogDeploy = "deploy"
)

// LogLine is one line of a build's or deploy's output, stored as it happens.
type LogLine struct {
	ID        uint
	OwnerKind string
	OwnerID   uint
	Stream    string
	Text      string
	CreatedAt time.Time
}

// StageVar is an environment variable of a stage. A secret's Value is
// ciphertext, sealed by the pipelines package; it is never shown again.
type StageVar struct {
	ID        uint
	StageID   uint
	Key       string
	Value     string `json:"-"`
	Secret    bool
	UpdatedAt time.Time
}

// Webhook delivery outcomes.
const (
	DeliveryAccepted = "accepted" // it started builds
	DeliveryIgnored  = "ignored"  // valid, but nothing to do; Reason says why
	DeliveryRejected = "rejected" // forged, malformed or too large; Reason says why

	// DeliveryDuplicate: a push (same ref, before and after) that another
	// delivery took already; nothing was started again.
	DeliveryDuplicate = "duplicate"
)

// WebhookDelivery is one request a forge sent, with what Seedbed did.
type WebhookDelivery struct {
	ID         uint
	AppID      uint
	Forge      string
	DeliveryID string
	Event      string
	Outcome    string
	Reason     string
	Summary    string
	RemoteAddr string
	BuildIDs   string // comma-separated
	CreatedAt  time.Time

	// PushKey is "<ref> <before> <after>" while this delivery holds the
	// push, unique per app; empty otherwise.
	PushKey string
}
