// Package web is Seedbed's HTTP face: the server-rendered console (templ
// components from package views), the JSON API under /api/v1 and the live log
// streams. It owns routing, sessions, CSRF and the mapping of errors to HTTP
// statuses; everything it does is asked of package pipelines or read from the
// store.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/forge"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/auth"
	"github.com/seedbed/seedbed/web/gitremote"
	"github.com/seedbed/seedbed/web/views"
)

// Reader is what the pages and the API read from the database.
type Reader interface {
	Apps(ctx context.Context) ([]store.App, error)
	Overview(ctx context.Context) (store.Overview, error)
	AppByName(ctx context.Context, name string) (store.App, error)
	AppByID(ctx context.Context, id uint) (store.App, error)
	Stages(ctx context.Context, appID uint) ([]store.Stage, error)
	PreviewStages(ctx context.Context, appID uint) ([]store.Stage, error)
	StageByID(ctx context.Context, id uint) (store.Stage, error)
	StageByName(ctx context.Context, appID uint, name string) (store.Stage, error)
	StageStatuses(ctx context.Context) ([]store.StageStatus, error)
	StageDeploys(ctx context.Context, stageID uint, limit int) ([]store.Deploy, error)
	HasRollbackTarget(ctx context.Context, stageID, liveReleaseID uint) (bool, error)
	AwaitingDeploys(ctx context.Context, stageID uint) ([]store.Deploy, error)
	Builds(ctx context.Context, appID uint, limit int) ([]store.Build, error)
	BuildByID(ctx context.Context, id uint) (store.Build, error)
	Artifacts(ctx context.Context, buildID uint) ([]store.Artifact, error)
	ReleaseByID(ctx context.Context, id uint) (store.Release, error)
	Deploys(ctx context.Context, appID uint, limit int) ([]store.Deploy, error)
	DeploysOfBuild(ctx context.Context, buildID uint) ([]store.Deploy, error)
	DeployByID(ctx context.Context, id uint) (store.Deploy, error)
	LogLines(ctx context.Context, kind string, ownerID, afterID uint, limit int) ([]store.LogLine, error)
	Ping(ctx context.Context) error
}

// Pipelines is what the console and API ask to happen.
type Pipelines interface {
	CreateApp(ctx context.Context, in pipelines.NewApp) (store.App, error)
	RequestDeploy(ctx context.Context, req pipelines.DeployRequest) (store.Build, store.Deploy, error)
	CreateStage(ctx context.Context, app string, in pipelines.StageSettings) (store.Stage, error)
	UpdateStage(ctx context.Context, app, stage string, in pipelines.StageSettings) (store.Stage, error)
	StageTarget(ctx context.Context, app, stage string) (pipelines.StageTarget, error)
	SetStageTarget(ctx context.Context, app, stage string, in pipelines.StageTarget) (pipelines.StageTarget, error)
	DeleteStage(ctx context.Context, app, stage string, opt pipelines.RemoveOptions) error
	ReorderStages(ctx context.Context, app string, names []string) error
	Vars(ctx context.Context, app, stage string) ([]pipelines.Var, error)
	SetVar(ctx context.Context, app, stage, key, value string, secret bool) error
	UnsetVar(ctx context.Context, app, stage, key string) error
	PlanPromotion(ctx context.Context, app, from, to string) (pipelines.PromotionPlan, error)
	Promote(ctx context.Context, req pipelines.PromoteRequest) (store.Deploy, pipelines.PromotionPlan, error)
	Rollback(ctx context.Context, req pipelines.RollbackRequest) (store.Deploy, error)
	Approve(ctx context.Context, id uint, who pipelines.Approver) (store.Deploy, error)
	Reject(ctx context.Context, id uint, who pipelines.Approver, reason string) (store.Deploy, error)
	CancelDeploy(ctx context.Context, id uint) (store.Deploy, error)
	CancelBuild(ctx context.Context, id uint) (store.Build, error)
	HandlePush(ctx context.Context, app string, p pipelines.Push) (pipelines.PushResult, error)
	ForgeSettings(ctx context.Context, app string) (pipelines.ForgeSettings, error)
	SaveForgeSettings(ctx context.Context, app string, upd pipelines.ForgeSettingsUpdate) (pipelines.ForgeSettings, error)
	HandlePullRequest(ctx context.Context, app string, ev forge.Event) (pipelines.PushResult, error)
	Previews(ctx context.Context, app string) (pipelines.Previews, error)
	EnablePreviews(ctx context.Context, app, template string) (pipelines.Previews, error)
	OpenPreview(ctx context.Context, app string, req pipelines.PreviewRequest) (pipelines.PreviewResult, error)
	UpdatePreview(ctx context.Context, app string, req pipelines.PreviewRequest) (pipelines.PreviewResult, error)
	ClosePreview(ctx context.Context, app string, number int, opt pipelines.RemoveOptions) (store.Stage, error)
	// WebhookSecret opens an app's sealed webhook secret.
	WebhookSecret(app store.App) (string, error)
}

// Config is what a Server is made of.
type Config struct {
	Store      Reader
	Deliveries DeliveryStore
	Pipelines  Pipelines
	Accounts   *auth.Accounts
	Assets     fs.FS
	// GatewayURL is where users reach functions, e.g. http://127.0.0.1:8081.
	GatewayURL string
	// PublicURL is where forges and users reach the console and API.
	PublicURL string
	// SecureCookies marks cookies Secure and gives them the __Host- prefix;
	// set it when served over HTTPS. A PublicURL of https://… implies it.
	SecureCookies bool
	Logger        *slog.Logger
	// Now returns the current time; tests fix it for stable pages.
	Now func() time.Time
	// GitReposDir holds the built-in git remote's bare repositories;
	// empty turns the remote off. GitHookCommand runs its pre-receive
	// hook (default: this executable with "git-hook").
	GitReposDir    string
	GitHookCommand []string

	// RepoRules say which repository URL an app may have, by who sets
	// it: local paths for admins only, none inside the data dir, private
	// addresses only where the operator allows them.
	RepoRules netguard.RepoRules

	// Access keeps app roles, tokens and sessions; when nil, Store is used
	// if it has them, and otherwise only admins reach any app.
	Access AccessStore

	// Queue is the queue's server, which /healthz pings with the
	// database; nil leaves it out of the report.
	Queue Pinger
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For is believed. Without any, a client's address is the
	// connection's, whatever headers it sends: the sign-in and webhook
	// rate limits count by it.
	TrustedProxies []*net.IPNet
	// StreamRecheck is how often open live streams check that their
	// session or token and the reader's role still hold; zero: 5s.
	StreamRecheck time.Duration
	// SecurityWarning, when set, is shown to admins on every console page:
	// what of this server is not confined (see cmd/seedbed isolation.go).
	SecurityWarning string
	// Metrics reads the gateway's request metrics for the charts and the
	// pipeline board; nil: the pages say no metrics are collected.
	Metrics MetricsReader
	// Observations keeps the request log and the error groups; nil
	// leaves them out.
	Observations ObservationStore
	// Alerts keeps apps' alert rules and channels and sends notifications;
	// nil: the Alerts pages and API answer that alerts are off.
	Alerts Alerts
	// Domains registers stages' custom domains; nil when Seedbed serves
	// no HTTPS (see api_domains.go).
	Domains Domains
	// FunctionLogs holds what the functions this process runs print;
	// nil: the log pages and API say this process keeps none.
	FunctionLogs FunctionLogs
	// Events answers for schedules and invocations; nil: this server runs
	// no functions and has none.
	Events Events
	// Queues answers for a stage's queues; nil as Events.
	Queues Queues
	// Running tells what stages' targets run now, for the stage maps;
	// nil: this server cannot tell, and the maps say so.
	Running RunningReader
	// Drift checks stages for drift on their targets, for the stage maps
	// and the API; nil: this server runs no stages and cannot tell.
	Drift DriftChecker
	// Instances counts the instances functions run, for the stage maps'
	// "short of instances"; nil: not counted.
	Instances InstanceCounter
	// QueueTokens makes the stages' queue send tokens; nil: the API has
	// none to give.
	QueueTokens QueueTokens
}

// Server serves the console and the API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	echo     *echo.Echo
	throttle *throttle
	git      *gitremote.Server // the built-in git remote at /git/, or nil

	logins *throttle // failed sign-ins per address and email

	secure  bool   // served over HTTPS: Secure, __Host- cookies
	csrfKey []byte // signs pre-session CSRF tokens; made at start

	// ending is closed by EndStreams: open event streams end, so that a
	// shutdown does not wait for them until its deadline.
	ending    chan struct{}
	endStream sync.Once
}

// EndStreams ends every open event stream (live logs, live pages,
// followed function logs); browsers and the CLI reconnect and resume
// where they were. Call it when the server shuts down
// (http.Server.RegisterOnShutdown): a shutdown waits for open requests,
// and a stream never ends by itself.
func (s *Server) EndStreams() { s.endStream.Do(func() { close(s.ending) }) }

// newServer makes a Server with all its routes but the git remote.
func newServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.GatewayURL = strings.TrimRight(cfg.GatewayURL, "/")
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Access == nil {
		cfg.Access, _ = cfg.Store.(AccessStore)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, echo: echo.New(), throttle: newThrottle(20, 10*time.Minute), ending: make(chan struct{}),
		logins: newThrottle(loginLimit, loginWindow)}
	s.secure = cfg.SecureCookies || strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://")
	s.csrfKey = make([]byte, 32)
	// A key per process: a sign-in form opened before a restart asks to be
	// reloaded, nothing more (a session's token lives in its row).
	_, _ = rand.Read(s.csrfKey) // never fails (crypto/rand, Go 1.24+)
	s.echo.IPExtractor = ipExtractor(cfg.TrustedProxies)
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.routes()
	return s
}

// New makes a Server with all its routes, and the built-in git remote when
// cfg.GitReposDir is set.
func New(cfg Config) (*Server, error) {
	s := newServer(cfg)
	if cfg.GitReposDir == "" {
		return s, nil
	}
	remote, err := gitremote.New(gitremote.Config{
		ReposDir: cfg.GitReposDir,
		Authenticate: func(ctx context.Context, _, password string) (string, error) {
			u, err := s.cfg.Accounts.TokenUser(ctx, password)
			return u.Email, err
		},
		Authorize:   s.gitAccess,
		OnPush:      s.onPush,
		HookCommand: cfg.GitHookCommand,
		Logger:      s.log.With("part", "git"),
	})
	if err != nil {
		return nil, fmt.Errorf("built-in git remote: %w", err)
	}
	s.git = remote
	return s, nil
}

// ServeHTTP makes the Server an http.Handler. The git remote is served
// beside echo, not through it: pushes stream far past echo's body limit.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.git != nil && strings.HasPrefix(r.URL.Path, "/git/") {
		s.git.ServeHTTP(w, r)
		return
	}
	s.echo.ServeHTTP(w, r)
}

// render writes a templ component as an HTML page. A page that answers a
// form htmx posted (a new token, a form with its mistakes) stays at the URL
// the browser shows: the POST's own URL is no page to come back to.
func render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	if isHTMX(c) && c.Request().Method != http.MethodGet {
		c.Response().Header().Set("HX-Push-Url", "false")
	}
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer putPageBuffer(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err // nothing is written yet: the error gets its own page
	}
	// The whole page in one write with its length: streamed, a 160 KB
	// overview went out as ~40 chunks of 4 KB, a system call each.
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// pageBuffers hold pages while render writes them.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putPageBuffer(b *bytes.Buffer) {
	if b.Cap() > 4<<20 { // an exceptional page: let it go
		return
	}
	b.Reset()
	pageBuffers.Put(b)
}

// isHTMX tells requests htmx sent (a console form posted in place) from
// plain browser navigations.
func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// httpError is an error with the status and user-facing message to answer with.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

func errorf(status int, code, message string) error {
	return &httpError{status: status, code: code, message: message}
}

// statusOf maps an error to its HTTP status, code and message: the one
// place where errors become answers.
func statusOf(err error) (int, string, string) {
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.message
	case errors.As(err, &ee):
		msg, _ := ee.Message.(string)
		if msg == "" {
			msg = http.StatusText(ee.Code)
		}
		code := "invalid"
		switch ee.Code {
		case http.StatusNotFound:
			code = "not_found"
		case http.StatusForbidden:
			code = "forbidden"
		case http.StatusUnauthorized:
			code = "unauthorized"
		}
		return ee.Code, code, msg
	}
	code := pipelines.ErrorCode(err)
	status := map[string]int{
		pipelines.EInvalid:   http.StatusUnprocessableEntity,
		pipelines.ENotFound:  http.StatusNotFound,
		pipelines.EConflict:  http.StatusConflict,
		pipelines.EForbidden: http.StatusForbidden,
		// The work is recorded; the queue takes it when it is back.
		pipelines.EUnavailable: http.StatusServiceUnavailable,
	}[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return status, code, pipelines.ErrorMessage(err)
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := statusOf(err)
	if status >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if isAPI(c) {
		_ = c.JSON(status, map[string]string{"code": code, "message": msg})
		return
	}
	_ = render(c, status, views.ErrorPage(views.ErrorModel{Page: s.page(c, "Error"), Status: status, Message: msg}))
}

// isAPI tells callers that want JSON errors (API clients, forges) from browsers.
func isAPI(c echo.Context) bool {
	p := c.Request().URL.Path
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/hooks/")
}

// ipExtractor tells a request's client address for the rate limits: the
// connection's, unless it comes from a trusted proxy, whose
// X-Forwarded-For is then read from the right, past every trusted hop.
// Headers from anyone else are ignored, so a client cannot pick a new
// address per try.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ParseTrustedProxies reads a comma-separated list of CIDRs (or single
// addresses) of reverse proxies, as --trusted-proxies takes it.
func ParseTrustedProxies(list string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, fmt.Errorf("%q is neither an address nor a CIDR; write e.g. 10.0.0.0/8 or 192.168.1.10", f)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR; write e.g. 10.0.0.0/8 or fd00::/8", f)
		}
		out = append(out, n)
	}
	return out, nil
}
