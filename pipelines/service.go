// Package pipelines is Seedbed's domain: it turns triggers into recorded
// builds and deploys, runs them as queued jobs, plans change sets and applies
// releases to stages through a target. The database is the source of truth:
// every build and deploy is written before it is queued, and Recover queues
// again whatever was recorded but not finished.
package pipelines

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines/forge"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// Store is what the pipelines need from the database.
type Store interface {
	logStore
	previewStore
	CreateApp(ctx context.Context, a *store.App, stages []store.Stage) error
	Apps(ctx context.Context) ([]store.App, error)
	AppByName(ctx context.Context, name string) (store.App, error)
	AppByID(ctx context.Context, id uint) (store.App, error)
	Stages(ctx context.Context, appID uint) ([]store.Stage, error)
	AllStages(ctx context.Context) ([]store.Stage, error)
	StageByName(ctx context.Context, appID uint, name string) (store.Stage, error)
	StageByID(ctx context.Context, id uint) (store.Stage, error)
	TryLockStage(ctx context.Context, stageID uint, owner string, ttl time.Duration) (bool, error)
	UnlockStage(ctx context.Context, stageID uint, owner string) error
	ReleaseStageLocks(ctx context.Context, prefix string) error
	SetStageLive(ctx context.Context, stageID, releaseID, deployID uint) error
	CreateBuild(ctx context.Context, b *store.Build) error
	SaveBuild(ctx context.Context, b *store.Build) error
	BuildByID(ctx context.Context, id uint) (store.Build, error)
	UnfinishedBuilds(ctx context.Context) ([]store.Build, error)
	ReplaceArtifacts(ctx context.Context, buildID uint, arts []store.Artifact) error
	Artifacts(ctx context.Context, buildID uint) ([]store.Artifact, error)
	CreateRelease(ctx context.Context, r *store.Release) error
	ReleaseByID(ctx context.Context, id uint) (store.Release, error)
	ReleaseByBuild(ctx context.Context, buildID uint) (store.Release, error)
	CreateDeploy(ctx context.Context, d *store.Deploy) error
	SaveDeploy(ctx context.Context, d *store.Deploy) error
	DeployByID(ctx context.Context, id uint) (store.Deploy, error)
	DeploysOfBuild(ctx context.Context, buildID uint) ([]store.Deploy, error)
	UnfinishedDeploys(ctx context.Context) ([]store.Deploy, error)
	NewerDeploys(ctx context.Context, d store.Deploy) ([]store.Deploy, error)
	StageDeploys(ctx context.Context, stageID uint, limit int) ([]store.Deploy, error)
	CreateStage(ctx context.Context, st *store.Stage, position int) error
	SaveStageSettings(ctx context.Context, st store.Stage) error
	DeleteStage(ctx context.Context, st store.Stage) error
	ReorderStages(ctx context.Context, appID uint, ids []uint) error
	StageVars(ctx context.Context, stageID uint) ([]store.StageVar, error)
	SetStageVar(ctx context.Context, v store.StageVar) error
	UnsetStageVar(ctx context.Context, stageID uint, key string) error
	RequestBuildCancel(ctx context.Context, id uint) (bool, error)
	RequestDeployCancel(ctx context.Context, id uint) (bool, error)
	forgeStore
}

// Enqueuer puts jobs on the queue (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Canceller interrupts a job that a worker is running.
type Canceller interface {
	CancelProcessing(id string) error
}

// Builder turns a checkout into artifacts and runs the commands of deploy
// and remove hooks, as the build user (a *builders.Builder).
type Builder interface {
	BuildWith(ctx context.Context, opts builders.BuildOptions, log builders.Log) ([]builders.Output, error)
	// TempDir makes a folder for hooks to run in, which the caller
	// removes (a stale one is removed at the next start).
	TempDir(prefix string) (string, error)
	// HandOver makes a folder Seedbed made, and what is in it, the
	// build user's of the app with id app, before hooks run in it.
	HandOver(app uint, dir string) error
	RunHook(ctx context.Context, app uint, dir string, env []string, what, command string, log builders.Log) error
}

// Config is what a Service is made of.
type Config struct {
	Store   Store
	Queue   Enqueuer
	Builder Builder
	Target  targets.Target
	// Sealer encrypts stage secrets; without it, secrets cannot be set.
	Sealer *Sealer
	// Artifacts holds the packaged functions (an artifact.Storage); deploy
	// hooks run in an unpacked copy of their service's artifact. Without
	// it, a release with deploy hooks cannot be deployed.
	Artifacts Artifacts
	// Canceller stops a running job at once (an *asynq.Inspector); without
	// it, a cancelled job stops at its next check.
	Canceller Canceller
	// GitReposDir holds the bare repositories of the built-in git remote
	// (<app>.git); an app with no repository URL builds from there.
	GitReposDir string
	// NodeID names this process in stage locks, so that a restarted
	// process can free the locks its previous life held.
	NodeID string
	Logger *slog.Logger
	// BuildTimeout bounds one build; DeployTimeout one deploy.
	BuildTimeout  time.Duration
	DeployTimeout time.Duration
	// PublicURL is where people reach the console; commit statuses link
	// to builds and deploys there. Empty: statuses carry no link.
	PublicURL string
	// StatusClient sends commit statuses to forges; nil: one with a 10 s
	// timeout held to Network.
	StatusClient *http.Client
	// Network says which addresses fetching a repository and calling a
	// forge may reach; the zero Policy refuses loopback, private and
	// link-local ones (see netguard).
	Network netguard.Policy
	// Notifier hears of failed builds and deploys and of promotions that
	// await approval; nil: no one is notified.
	Notifier Notifier
}

// Service runs Seedbed's pipelines.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New makes a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BuildTimeout == 0 {
		cfg.BuildTimeout = 30 * time.Minute
	}
	if cfg.DeployTimeout == 0 {
		cfg.DeployTimeout = 10 * time.Minute
	}
	if cfg.StatusClient == nil {
		cfg.StatusClient = cfg.Network.HTTPClient(10 * time.Second)
	}
	return &Service{cfg: cfg, log: cfg.Logger}
}

// Trigger kinds recorded on builds and deploys.
const (
	TriggerConsole  = "console"
	TriggerAPI      = "api"
	TriggerPush     = "push"    // the built-in git remote
	TriggerWebhook  = "webhook" // a forge's webhook
	TriggerCLI      = "cli"
	TriggerPromote  = "promotion"
	TriggerRollback = "rollback"
)

// DefaultStages is the pipeline a new app starts with.
var defaultStages = []string{"dev", "staging", "prod"}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// NewApp is what a user gives to connect a repository.
type NewApp struct {
	Name      string
	RepoURL   string
	Branch    string
	DeployKey string
	// NoCheck skips reading the repository before the app is created:
	// for a repository that will exist later.
	NoCheck bool
}

// repoCheckTimeout bounds how long creating an app waits to read its
// repository's refs.
const repoCheckTimeout = 30 * time.Second

// Validate lists every problem with the input, by field name.
func (in NewApp) Validate() map[string]string {
	errs := map[string]string{}
	if !nameRe.MatchString(in.Name) || strings.Contains(in.Name, "--") {
		errs["name"] = "Use 1 to 63 lower-case letters, digits and single dashes, starting with a letter or digit (e.g. \"my-api\")."
	}
	if msg := checkRepoURL(in.RepoURL); msg != "" {
		errs["repo_url"] = msg
	}
	if in.Branch == "" || strings.ContainsAny(in.Branch, " ~^:?*[\\") || strings.HasPrefix(in.Branch, "-") {
		errs["branch"] = "Give the branch to deploy by default, e.g. \"main\"."
	}
	if in.DeployKey != "" && !strings.Contains(in.DeployKey, "PRIVATE KEY-----") {
		errs["deploy_key"] = "A deploy key is an SSH private key in PEM form (\"-----BEGIN OPENSSH PRIVATE KEY-----\"). Leave it empty for public or local repositories."
	}
	return errs
}

func checkRepoURL(raw string) string {
	const hint = "Give the repository's clone URL: https://host/owner/repo.git, ssh://git@host/owner/repo.git, git@host:owner/repo.git, file:///path or an absolute local path."
	switch {
	case raw == "":
		return "" // the app's code comes by git push to Seedbed's built-in remote
	case strings.HasPrefix(raw, "/"):
		return ""
	case strings.HasPrefix(raw, "git@") && strings.Contains(raw, ":"):
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return hint
	}
	switch u.Scheme {
	case "http", "https", "ssh", "git":
		if u.Host == "" {
			return hint
		}
		return ""
	case "file":
		return ""
	}
	return hint
}

// CreateApp connects a repository as a new app with the default pipeline,
// and a new webhook secret. The webhook secret and deploy key are sealed:
// the returned App holds them sealed (WebhookSecret opens the secret), and
// without a Sealer no app can be created.
func (s *Service) CreateApp(ctx context.Context, in NewApp) (store.App, error) {
	in.Name = strings.TrimSpace(in.Name)
	in.RepoURL = strings.TrimSpace(in.RepoURL)
	in.Branch = strings.TrimSpace(in.Branch)
	if in.Branch == "" {
		in.Branch = "main"
	}
	if errs := in.Validate(); len(errs) > 0 {
		var parts []string
		for _, f := range []string{"name", "repo_url", "branch", "deploy_key"} {
			if m, ok := errs[f]; ok {
				parts = append(parts, f+": "+m)
			}
		}
		return store.App{}, invalidf("%s", strings.Join(parts, " "))
	}
	if in.RepoURL != "" && !in.NoCheck {
		// A taken name is the cheaper thing to say, before a slow read.
		if _, err := s.cfg.Store.AppByName(ctx, in.Name); err == nil {
			return store.App{}, conflictf("An app named %q exists already; choose another name.", in.Name)
		}
		if err := s.checkRepository(ctx, in); err != nil {
			return store.App{}, err
		}
	}
	secret, err := forge.Secret()
	if err != nil {
		return store.App{}, err
	}
	// The webhook secret is sealed as the deploy key is: a copy of the
	// database alone must not let anyone sign deliveries.
	if secret, err = s.sealForApp("the webhook secret", in.Name, secret, webhookSecretAAD(in.Name)); err != nil {
		return store.App{}, err
	}
	deployKey, err := s.sealDeployKey(in.Name, in.DeployKey)
	if err != nil {
		return store.App{}, err
	}
	a := store.App{Name: in.Name, RepoURL: in.RepoURL, Branch: in.Branch, DeployKey: deployKey, WebhookSecret: secret}
	var stages []store.Stage
	for _, name := range defaultStages {
		st := store.Stage{Name: name}
		if name == "dev" {
			st.Branch = in.Branch
		}
		stages = append(stages, st)
	}
	if err := s.cfg.Store.CreateApp(ctx, &a, stages); err != nil {
		if ErrorCode(err) == EConflict {
			return a, conflictf("An app named %q exists already; choose another name.", in.Name)
		}
		return a, err
	}
	return a, nil
}

// checkRepository lists the refs of a new app's repository with the app's
// deploy key, held to the network policy builds are held to, so that a
// repository Seedbed cannot read is refused when the app is created, not
// at its first deploy. An empty repository passes: its code may come later.
func (s *Service) checkRepository(ctx context.Context, in NewApp) error {
	ctx, cancel := context.WithTimeout(ctx, repoCheckTimeout)
	defer cancel()
	_, err := builders.ListRefs(ctx, builders.FetchOptions{RepoURL: in.RepoURL, DeployKey: in.DeployKey, Network: s.cfg.Network})
	if err == nil {
		return nil
	}
	// ListRefs says "list refs: fetch URL: why" or "list refs of URL: why".
	why := err.Error()
	for _, prefix := range []string{"list refs: fetch ", "list refs of ", "list refs: "} {
		if rest, ok := strings.CutPrefix(why, prefix); ok {
			why = rest
			break
		}
	}
	return invalidf("repo_url: cannot read repository %s. Fix the URL or the credentials, or create the app without this check (CLI --no-check, API \"check\": false) if the repository will exist later.", why)
}

// DeployRequest asks for a commit of an app to be built and deployed to a stage.
type DeployRequest struct {
	App   string
	Stage string
	Ref   string // branch, tag or commit; empty means the stage's branch, else the app's
	// Full rebuilds every service, reusing no artifact of the stage's
	// live release.
	Full    bool
	Trigger string
	By      string // who asked: a user's email, or the forge
}

// RequestDeploy records a build and a deploy that waits for it, then queues
// the build. It returns once both are recorded and queued.
func (s *Service) RequestDeploy(ctx context.Context, req DeployRequest) (store.Build, store.Deploy, error) {
	app, err := s.cfg.Store.AppByName(ctx, req.App)
	if err != nil {
		return store.Build{}, store.Deploy{}, notFoundf("No app named %q. `seedbed apps list` shows the apps.", req.App)
	}
	if req.Stage == "" {
		req.Stage = "dev"
	}
	stage, err := s.cfg.Store.StageByName(ctx, app.ID, req.Stage)
	if err != nil {
		return store.Build{}, store.Deploy{}, notFoundf("App %q has no stage %q.", app.Name, req.Stage)
	}
	if stage.Protected {
		return store.Build{}, store.Deploy{}, conflictf("Stage %s is protected: it takes only promotions and rollbacks. Promote a release into it (`seedbed promote %s --to %s`) or change the stage's settings.", stage.Name, app.Name, stage.Name)
	}
	ref := strings.TrimSpace(req.Ref)
	if ref == "" && !strings.ContainsAny(stage.Branch, "*?[") {
		ref = stage.Branch // a glob names many branches, so it is no default
	}
	if ref == "" {
		ref = app.Branch
	}
	if strings.ContainsAny(ref, " ~^:?*[\\") || strings.HasPrefix(ref, "-") || strings.Contains(ref, "..") {
		return store.Build{}, store.Deploy{}, invalidf("%q is not a branch, tag or commit.", ref)
	}
	b, ds, err := s.buildAndDeploy(ctx, app, store.Build{Ref: ref, FullBuild: req.Full}, []store.Stage{stage}, req.Trigger, req.By)
	if err != nil {
		return b, store.Deploy{}, fmt.Errorf("deploy %s to %s: %w", app.Name, stage.Name, err)
	}
	return b, ds[0], nil
}

// buildAndDeploy records the build b and a deploy waiting for it in
// each stage, then queues the build.
func (s *Service) buildAndDeploy(ctx context.Context, app store.App, b store.Build, stages []store.Stage, trigger, by string) (store.Build, []store.Deploy, error) {
	b.AppID, b.Status, b.TriggerKind, b.TriggeredBy = app.ID, store.BuildQueued, trigger, by
	if err := s.cfg.Store.CreateBuild(ctx, &b); err != nil {
		return b, nil, err
	}
	var ds []store.Deploy
	for _, st := range stages {
		d := store.Deploy{AppID: app.ID, StageID: st.ID, BuildID: &b.ID, Status: store.DeployQueued, TriggerKind: trigger, TriggeredBy: by}
		if err := s.cfg.Store.CreateDeploy(ctx, &d); err != nil {
			return b, ds, err
		}
		ds = append(ds, d)
	}
	if err := s.enqueueBuild(ctx, b.ID); err != nil {
		// Recorded but not queued: Recover picks it up at the next start.
		return b, ds, fmt.Errorf("queue build %d: %w", b.ID, err)
	}
	return b, ds, nil
}
