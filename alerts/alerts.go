// Package alerts tells people when something of their app needs them: a
// build or deploy failed, a promotion awaits approval, a function's error
// rate or p95 latency is above a threshold, a function is crash-looping.
//
// Rules (per app, for one stage or every stage) say what to watch and
// which channel to tell: a Slack-compatible incoming webhook, email over
// the server's SMTP settings, or a generic webhook signed as GitHub signs
// its own (X-Seedbed-Signature-256: sha256=HMAC). Every notification is a
// delivery recorded in the database first, then sent by a job on the
// existing asynq queue, which retries it with back-off; the deliveries
// list shows each one's attempts, status and response code. Each
// notification links to the console page that explains it.
//
// Events reach the package through the small interfaces it implements:
// pipelines.Notifier (builds, deploys, approvals) and local.CrashObserver
// (crashes, via CrashCounter). Conditions measured over time (error rate,
// p95, crash loops) are checked by an Evaluator that serve runs on a
// ticker, one process at a time.
package alerts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
)

// Job kind and queue of a delivery: a stable name, because queued jobs
// outlive a deploy of Seedbed.
const (
	KindDeliver = "alert:deliver"
	Queue       = "alerts"
)

// DeliverArgs is the payload of an alert:deliver job.
type DeliverArgs struct {
	DeliveryID uint `json:"delivery_id"`
}

// Store is what the package reads and writes (a *store.Store).
type Store interface {
	AppByName(ctx context.Context, name string) (store.App, error)
	AppByID(ctx context.Context, id uint) (store.App, error)
	Stages(ctx context.Context, appID uint) ([]store.Stage, error)
	StageByID(ctx context.Context, id uint) (store.Stage, error)
	StageByName(ctx context.Context, appID uint, name string) (store.Stage, error)
	StageDeploys(ctx context.Context, stageID uint, limit int) ([]store.Deploy, error)
	AwaitingDeploys(ctx context.Context, stageID uint) ([]store.Deploy, error)
	Builds(ctx context.Context, appID uint, limit int) ([]store.Build, error)
	DeploysOfBuild(ctx context.Context, buildID uint) ([]store.Deploy, error)

	AlertChannels(ctx context.Context, appID uint) ([]store.AlertChannel, error)
	AlertChannelByName(ctx context.Context, appID uint, name string) (store.AlertChannel, error)
	AlertChannelByID(ctx context.Context, id uint) (store.AlertChannel, error)
	CreateAlertChannel(ctx context.Context, c *store.AlertChannel) error
	SaveAlertChannelTarget(ctx context.Context, id uint, target, secret string) error
	DeleteAlertChannel(ctx context.Context, c store.AlertChannel) error
	AlertRules(ctx context.Context, appID uint) ([]store.AlertRule, error)
	AllAlertRules(ctx context.Context, kinds ...string) ([]store.AlertRule, error)
	AlertRuleByName(ctx context.Context, appID uint, name string) (store.AlertRule, error)
	CreateAlertRule(ctx context.Context, r *store.AlertRule) error
	DeleteAlertRule(ctx context.Context, id uint) error
	SetAlertRuleFiring(ctx context.Context, id uint, firing bool, stage string, value float64, at time.Time) (bool, error)
	NoteAlertRuleValue(ctx context.Context, id uint, value float64, stage string, at time.Time) error
	CreateAlertDelivery(ctx context.Context, d *store.AlertDelivery) error
	AlertDeliveryByID(ctx context.Context, id uint) (store.AlertDelivery, error)
	SaveAlertDelivery(ctx context.Context, d *store.AlertDelivery) error
	AlertDeliveries(ctx context.Context, appID uint, limit int) ([]store.AlertDelivery, error)
	UnfinishedAlertDeliveries(ctx context.Context) ([]store.AlertDelivery, error)
	FiringRules(ctx context.Context, appID uint) (map[string][]string, error)
	LatestAlertDelivery(ctx context.Context, channelID uint, event string) (store.AlertDelivery, error)
	PruneAlertDeliveries(ctx context.Context, keepPerApp int) (int64, error)
	TryLockMaintenance(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	UnlockMaintenance(ctx context.Context, name, owner string) error
}

// Enqueuer queues jobs (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Sealer encrypts the URLs and secrets of channels (a *pipelines.Sealer).
type Sealer interface {
	Seal(value, aad string) (string, error)
	Open(sealed, aad string) (string, error)
}

// MetricsSource answers how a stage's functions did over the last since:
// requests, of which errors (5xx answers and failed invocations), and the
// 95th percentile of their latency. function "" means every function of
// the stage together. The gateway's request metrics provide it.
type MetricsSource interface {
	Window(ctx context.Context, app, stage, function string, since time.Duration) (requests, errors int64, p95 time.Duration, err error)
}

// Config is what a Service is made of.
type Config struct {
	Store  Store
	Queue  Enqueuer
	Sealer Sealer
	// PublicURL is where people reach the console; notifications link
	// into it.
	PublicURL string
	// Network is the policy channel URLs are held to: no loopback,
	// private or link-local address unless the operator allows them
	// (--allow-private-repos, as for repositories).
	Network  netguard.Policy
	Resolver netguard.Resolver // nil: the system's
	SMTP     SMTP
	// Metrics measures error rates and latencies; nil leaves error-rate
	// and p95 rules unevaluated (their page says so).
	Metrics MetricsSource
	// Crashes counts function crashes for crash-loop rules; nil leaves
	// them unevaluated.
	Crashes *CrashCounter
	// Attempts is how often a delivery is tried; zero means 8. Backoff
	// is the wait before the second attempt, doubling after each failed
	// one up to MaxBackoff; zero means 5s and 10m.
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// SendTimeout bounds one attempt; zero means 15s.
	SendTimeout time.Duration
	NodeID      string
	Logger      *slog.Logger
	Now         func() time.Time
}

// Service keeps an app's channels and rules and sends notifications.
type Service struct {
	cfg  Config
	log  *slog.Logger
	http *httpSender
}

// New makes a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 8
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 5 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 15 * time.Second
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Service{cfg: cfg, log: cfg.Logger, http: newHTTPSender(cfg.Network, cfg.SendTimeout)}
}

func invalidf(format string, args ...any) error {
	return &pipelines.Error{Code: pipelines.EInvalid, Message: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &pipelines.Error{Code: pipelines.ENotFound, Message: fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &pipelines.Error{Code: pipelines.EConflict, Message: fmt.Sprintf(format, args...)}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func checkName(what, name string) error {
	if !nameRE.MatchString(name) {
		return invalidf("%s name %q: use 1 to 40 lower-case letters, digits and dashes, starting with a letter or digit (e.g. ops-slack).", what, name)
	}
	return nil
}

// NewChannel is what a user gives for a channel.
type NewChannel struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // slack, email or webhook
	// URL of a slack or webhook channel.
	URL string `json:"url,omitempty"`
	// Addresses of an email channel, comma-separated.
	Addresses string `json:"addresses,omitempty"`
	// Secret signs a webhook channel's deliveries; empty makes one.
	Secret string `json:"secret,omitempty"`
	By     string `json:"-"`
}

// CreateChannel checks and stores a channel of app. For a webhook channel
// it returns the signing secret, which is shown this once.
func (s *Service) CreateChannel(ctx context.Context, app store.App, in NewChannel) (store.AlertChannel, string, error) {
	in.Name = strings.TrimSpace(in.Name)
	if err := checkName("Channel", in.Name); err != nil {
		return store.AlertChannel{}, "", err
	}
	ch := store.AlertChannel{AppID: app.ID, Name: in.Name, Kind: in.Kind, CreatedBy: in.By, CreatedAt: s.cfg.Now().UTC()}
	var target, secret string
	switch in.Kind {
	case store.ChannelSlack, store.ChannelWebhook:
		u, err := s.checkURL(ctx, in.URL)
		if err != nil {
			return ch, "", err
		}
		target, ch.Hint = u, urlHint(u)
		if in.Kind == store.ChannelWebhook {
			secret = in.Secret
			if secret == "" {
				secret = newSecret()
			} else if len(secret) < 16 {
				return ch, "", invalidf("A webhook secret needs at least 16 characters; leave it empty and Seedbed makes one.")
			}
		} else if in.Secret != "" {
			return ch, "", invalidf("Slack incoming webhooks are not signed: leave the secret empty, or make a webhook channel.")
		}
	case store.ChannelEmail:
		addrs, err := parseAddresses(in.Addresses)
		if err != nil {
			return ch, "", invalidf("Email channel %s: %v.", in.Name, err)
		}
		if !s.cfg.SMTP.Configured() {
			return ch, "", invalidf("This Seedbed cannot send email yet: an admin starts it with --smtp-url and --smtp-from (SEEDBED_SMTP_URL, SEEDBED_SMTP_FROM).")
		}
		ch.Target = strings.Join(addrs, ", ")
		ch.Hint = ch.Target
	default:
		return ch, "", invalidf("Channel kind %q: want slack (a Slack-compatible incoming webhook), email or webhook (signed JSON).", in.Kind)
	}
	if s.cfg.Sealer == nil && target != "" {
		return ch, "", fmt.Errorf("create alert channel %s: no secret key configured", in.Name)
	}
	if err := s.cfg.Store.CreateAlertChannel(ctx, &ch); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ch, "", conflictf("App %s has a channel named %s already; pick another name or delete that one first.", app.Name, in.Name)
		}
		return ch, "", fmt.Errorf("create alert channel %s of %s: %w", in.Name, app.Name, err)
	}
	if target != "" {
		// Sealed once the row exists: the seal is bound to the channel's id.
		sealedTarget, err := s.cfg.Sealer.Seal(target, pipelines.AlertChannelAAD(app.ID, ch.ID, store.SealedAlertTarget))
		if err != nil {
			return ch, "", s.undoChannel(ctx, ch, err)
		}
		sealedSecret := ""
		if secret != "" {
			if sealedSecret, err = s.cfg.Sealer.Seal(secret, pipelines.AlertChannelAAD(app.ID, ch.ID, store.SealedAlertSecret)); err != nil {
				return ch, "", s.undoChannel(ctx, ch, err)
			}
		}
		if err := s.cfg.Store.SaveAlertChannelTarget(ctx, ch.ID, sealedTarget, sealedSecret); err != nil {
			return ch, "", s.undoChannel(ctx, ch, err)
		}
		ch.Target, ch.Secret = sealedTarget, sealedSecret
	}
	return ch, secret, nil
}

// undoChannel removes a channel whose sealing failed and returns why.
func (s *Service) undoChannel(ctx context.Context, ch store.AlertChannel, cause error) error {
	err := fmt.Errorf("create alert channel %s: %w", ch.Name, cause)
	if derr := s.cfg.Store.DeleteAlertChannel(context.WithoutCancel(ctx), ch); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// checkURL refuses what a channel cannot post to, and hosts the network
// policy refuses (the dialer checks again on every connection).
func (s *Service) checkURL(ctx context.Context, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", invalidf("The channel's URL must be an http:// or https:// URL, e.g. https://hooks.slack.com/services/T000/B000/XXXX.")
	}
	if u.User != nil {
		return "", invalidf("The channel's URL must not hold a user or password; put a token in its path or use a webhook channel's secret.")
	}
	if err := s.cfg.Network.CheckHost(ctx, s.cfg.Resolver, u.Hostname()); err != nil {
		return "", invalidf("The channel's URL is refused: %v.", err)
	}
	return u.String(), nil
}

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newDeliveryID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40 // a version 4 UUID, as GitHub's delivery ids are
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Channels lists app's channels.
func (s *Service) Channels(ctx context.Context, app store.App) ([]store.AlertChannel, error) {
	return s.cfg.Store.AlertChannels(ctx, app.ID)
}

// DeleteChannel removes a channel of app that no rule sends to.
func (s *Service) DeleteChannel(ctx context.Context, app store.App, name string) error {
	ch, err := s.channel(ctx, app, name)
	if err != nil {
		return err
	}
	err = s.cfg.Store.DeleteAlertChannel(ctx, ch)
	if errors.Is(err, store.ErrInUse) {
		rules, rerr := s.cfg.Store.AlertRules(ctx, app.ID)
		if rerr != nil {
			return errors.Join(err, rerr)
		}
		var names []string
		for _, r := range rules {
			if r.ChannelID == ch.ID {
				names = append(names, r.Name)
			}
		}
		return conflictf("Channel %s still has rules sending to it: %s. Delete those rules first.", name, strings.Join(names, ", "))
	}
	return err
}

func (s *Service) channel(ctx context.Context, app store.App, name string) (store.AlertChannel, error) {
	ch, err := s.cfg.Store.AlertChannelByName(ctx, app.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return ch, notFoundf("App %s has no alert channel named %s.", app.Name, name)
	}
	return ch, err
}

// NewRule is what a user gives for a rule.
type NewRule struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Stage    string `json:"stage,omitempty"`    // empty: every stage
	Function string `json:"function,omitempty"` // service/name; empty: every function
	Channel  string `json:"channel"`
	// Threshold: percent for error_rate, milliseconds for latency_p95,
	// crashes for crash_loop.
	Threshold float64 `json:"threshold,omitempty"`
	// Window is how far back error_rate, latency_p95 and crash_loop look,
	// e.g. "5m".
	Window string `json:"window,omitempty"`
	By     string `json:"-"`
}

// Kinds lists the rule kinds with what each watches, for forms and help.
func Kinds() []KindInfo {
	return []KindInfo{
		{store.RuleBuildFailed, "a build failed", ""},
		{store.RuleDeployFailed, "a deploy failed", ""},
		{store.RuleApprovalAwaiting, "a promotion awaits approval", ""},
		{store.RuleErrorRate, "the error rate is above a percentage", "%"},
		{store.RuleLatencyP95, "the p95 latency is above a number of milliseconds", "ms"},
		{store.RuleCrashLoop, "a function crashed at least so many times", "crashes"},
	}
}

// KindInfo describes a rule kind.
type KindInfo struct {
	Kind string
	What string
	Unit string // of the threshold; "" for kinds with none
}

func kindInfo(kind string) (KindInfo, bool) {
	for _, k := range Kinds() {
		if k.Kind == kind {
			return k, true
		}
	}
	return KindInfo{}, false
}

// measured tells whether a kind is evaluated over a window.
func measured(kind string) bool {
	return kind == store.RuleErrorRate || kind == store.RuleLatencyP95 || kind == store.RuleCrashLoop
}

// CreateRule checks and stores a rule of app.
func (s *Service) CreateRule(ctx context.Context, app store.App, in NewRule) (store.AlertRule, error) {
	in.Name = strings.TrimSpace(in.Name)
	r := store.AlertRule{AppID: app.ID, Name: in.Name, Kind: in.Kind, Stage: strings.TrimSpace(in.Stage), Function: strings.TrimSpace(in.Function),
		Threshold: in.Threshold, CreatedBy: in.By, CreatedAt: s.cfg.Now().UTC()}
	if err := checkName("Rule", in.Name); err != nil {
		return r, err
	}
	info, ok := kindInfo(in.Kind)
	if !ok {
		var names []string
		for _, k := range Kinds() {
			names = append(names, k.Kind)
		}
		return r, invalidf("Rule kind %q: want one of %s.", in.Kind, strings.Join(names, ", "))
	}
	if r.Stage != "" {
		if _, err := s.cfg.Store.StageByName(ctx, app.ID, r.Stage); errors.Is(err, store.ErrNotFound) {
			return r, invalidf("App %s has no stage %s; leave the stage empty for every stage.", app.Name, r.Stage)
		} else if err != nil {
			return r, err
		}
	}
	if measured(in.Kind) {
		if in.Threshold <= 0 || (in.Kind == store.RuleErrorRate && in.Threshold > 100) {
			return r, invalidf("Rule %s needs a threshold in %s above 0%s.", in.Name, info.Unit, map[bool]string{true: " and at most 100"}[in.Kind == store.RuleErrorRate])
		}
		w, err := time.ParseDuration(strings.TrimSpace(in.Window))
		if err != nil || w < time.Minute || w > 24*time.Hour {
			return r, invalidf("Rule %s needs a window between 1m and 24h, such as 5m (how far back it looks), not %q.", in.Name, in.Window)
		}
		r.WindowSeconds = int(w / time.Second)
	} else {
		if in.Threshold != 0 || in.Window != "" {
			return r, invalidf("Rule kind %s has no threshold or window: it notifies on every such event.", in.Kind)
		}
		if r.Function != "" {
			return r, invalidf("Rule kind %s is about a whole stage: leave the function empty.", in.Kind)
		}
	}
	ch, err := s.channel(ctx, app, strings.TrimSpace(in.Channel))
	if err != nil {
		return r, err
	}
	r.ChannelID = ch.ID
	if err := s.cfg.Store.CreateAlertRule(ctx, &r); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return r, conflictf("App %s has a rule named %s already; pick another name or delete that one first.", app.Name, in.Name)
		}
		return r, fmt.Errorf("create alert rule %s of %s: %w", in.Name, app.Name, err)
	}
	return r, nil
}

// Rules lists app's rules.
func (s *Service) Rules(ctx context.Context, app store.App) ([]store.AlertRule, error) {
	return s.cfg.Store.AlertRules(ctx, app.ID)
}

// DeleteRule removes a rule of app.
func (s *Service) DeleteRule(ctx context.Context, app store.App, name string) error {
	r, err := s.cfg.Store.AlertRuleByName(ctx, app.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFoundf("App %s has no alert rule named %s.", app.Name, name)
	}
	if err != nil {
		return err
	}
	return s.cfg.Store.DeleteAlertRule(ctx, r.ID)
}

// MetricsReady tells whether error-rate and p95 rules are evaluated: a
// MetricsSource is wired.
func (s *Service) MetricsReady() bool { return s.cfg.Metrics != nil }

// Firing lists the names of app's firing rules by the stage they fire
// for ("" for those about no one stage, such as a failed build).
func (s *Service) Firing(ctx context.Context, app store.App) (map[string][]string, error) {
	return s.cfg.Store.FiringRules(ctx, app.ID)
}

// Deliveries lists app's latest notifications, newest first.
func (s *Service) Deliveries(ctx context.Context, app store.App, limit int) ([]store.AlertDelivery, error) {
	return s.cfg.Store.AlertDeliveries(ctx, app.ID, limit)
}

// testGap is how long a channel rests between test notifications: an
// owner's button must not make Seedbed a mail or webhook cannon.
const testGap = 10 * time.Second

// SendTest queues a test notification to a channel of app.
func (s *Service) SendTest(ctx context.Context, app store.App, channel, by string) (store.AlertDelivery, error) {
	ch, err := s.channel(ctx, app, channel)
	if err != nil {
		return store.AlertDelivery{}, err
	}
	last, err := s.cfg.Store.LatestAlertDelivery(ctx, ch.ID, "test")
	switch {
	case err == nil && s.cfg.Now().Sub(last.CreatedAt) < testGap:
		return last, conflictf("A test notification went to %s %s ago; wait %s between tests.", ch.Name,
			s.cfg.Now().Sub(last.CreatedAt).Round(time.Second), testGap)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return store.AlertDelivery{}, err
	}
	p := Payload{Event: "test", State: "test", App: app.Name, Title: fmt.Sprintf("Test notification for %s", app.Name),
		Text: fmt.Sprintf("%s asked Seedbed to test channel %s. If you read this, the channel works.", by, ch.Name),
		URL:  s.link("/apps/" + url.PathEscape(app.Name) + "/alerts")}
	d, _, err := s.record(ctx, app, ch, nil, "", p)
	return d, err
}

// link makes a console URL from a path.
func (s *Service) link(path string) string { return s.cfg.PublicURL + path }

// record stores a delivery of p to ch and queues it. A key that ch was
// notified of before records nothing (created false).
func (s *Service) record(ctx context.Context, app store.App, ch store.AlertChannel, rule *store.AlertRule, key string, p Payload) (store.AlertDelivery, bool, error) {
	p.Delivery = newDeliveryID()
	p.At = s.cfg.Now().UTC()
	body, err := json.Marshal(p)
	if err != nil {
		return store.AlertDelivery{}, false, fmt.Errorf("encode notification: %w", err)
	}
	d := store.AlertDelivery{AppID: app.ID, ChannelID: ch.ID, DeliveryID: p.Delivery, Event: p.Event, EventKey: key, Stage: p.Stage,
		Title: p.Title, URL: p.URL, Payload: string(body), Status: store.AlertPending, CreatedAt: p.At}
	if rule != nil {
		id := rule.ID
		d.RuleID = &id
	}
	if err := s.cfg.Store.CreateAlertDelivery(ctx, &d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return d, false, nil
		}
		return d, false, err
	}
	if err := s.enqueue(ctx, d.ID); err != nil {
		// Recorded: the evaluator queues it again.
		return d, true, err
	}
	return d, true, nil
}

func deliverTaskID(id uint) string { return fmt.Sprintf("alert:%d", id) }

func (s *Service) enqueue(ctx context.Context, id uint) error {
	payload, _ := json.Marshal(DeliverArgs{DeliveryID: id})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := s.cfg.Queue.EnqueueContext(ctx, asynq.NewTask(KindDeliver, payload), asynq.Queue(Queue),
		asynq.TaskID(deliverTaskID(id)), asynq.MaxRetry(s.cfg.Attempts-1), asynq.Timeout(2*s.cfg.SendTimeout))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue notification %d: %w", id, err)
	}
	return nil
}

// Register adds the delivery job's handler to mux.
func (s *Service) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(KindDeliver, s.handleDeliver)
}

// RetryDelay is the asynq.RetryDelayFunc for the process that runs
// deliveries: Backoff doubling up to MaxBackoff for them, fallback for
// every other job.
func (s *Service) RetryDelay(fallback asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		if t.Type() != KindDeliver {
			return fallback(n, err, t)
		}
		d := s.cfg.Backoff
		for i := 0; i < n && d < s.cfg.MaxBackoff; i++ {
			d *= 2
		}
		return min(d, s.cfg.MaxBackoff)
	}
}

// Recover queues again every delivery not yet finished, e.g. after a
// crash or the loss of Redis; the job's task id is the delivery's, so what
// is still queued is not queued twice.
func (s *Service) Recover(ctx context.Context) error {
	ds, err := s.cfg.Store.UnfinishedAlertDeliveries(ctx)
	if err != nil {
		return fmt.Errorf("recover notifications: %w", err)
	}
	for _, d := range ds {
		if err := s.enqueue(ctx, d.ID); err != nil {
			return fmt.Errorf("recover notifications: %w", err)
		}
	}
	return nil
}

func (s *Service) handleDeliver(ctx context.Context, t *asynq.Task) error {
	var args DeliverArgs
	if err := json.Unmarshal(t.Payload(), &args); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return s.Deliver(ctx, args.DeliveryID, retried >= maxRetry)
}

// Deliver makes one attempt at a delivery and records it. last says no
// attempt follows: a failure then marks the delivery failed. The error is
// the attempt's, wrapping asynq.SkipRetry when trying again cannot help.
func (s *Service) Deliver(ctx context.Context, id uint, last bool) error {
	d, err := s.cfg.Store.AlertDeliveryByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deliver notification %d: %w: %w", id, err, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("deliver notification %d: %w", id, err)
	}
	if d.Finished() {
		return nil
	}
	code, sendErr := s.send(ctx, d)
	now := s.cfg.Now().UTC()
	d.Attempts++
	d.LastAttemptAt = &now
	d.ResponseCode = code
	var se *SendError
	permanent := errors.As(sendErr, &se) && se.Permanent
	switch {
	case sendErr == nil:
		d.Status, d.Error, d.DeliveredAt = store.AlertDelivered, "", &now
	case permanent || last:
		d.Status, d.Error = store.AlertFailed, sendErr.Error()
	default:
		d.Status, d.Error = store.AlertRetrying, sendErr.Error()
	}
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.cfg.Store.SaveAlertDelivery(saveCtx, &d); err != nil {
		return fmt.Errorf("deliver notification %d: %w", id, err)
	}
	switch {
	case sendErr == nil:
		return nil
	case d.Status == store.AlertFailed:
		s.log.Warn("notification failed", "app", d.AppID, "delivery", d.DeliveryID, "attempts", d.Attempts, "err", sendErr)
		return fmt.Errorf("deliver notification %d: %w: %w", id, sendErr, asynq.SkipRetry)
	}
	return fmt.Errorf("deliver notification %d (attempt %d): %w", id, d.Attempts, sendErr)
}

// send makes one attempt and returns the receiver's response code.
func (s *Service) send(ctx context.Context, d store.AlertDelivery) (int, error) {
	ch, err := s.cfg.Store.AlertChannelByID(ctx, d.ChannelID)
	if err != nil {
		return 0, &SendError{Permanent: errors.Is(err, store.ErrNotFound), Err: fmt.Errorf("channel: %w", err)}
	}
	var p Payload
	if err := json.Unmarshal([]byte(d.Payload), &p); err != nil {
		return 0, &SendError{Permanent: true, Err: fmt.Errorf("damaged notification: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	switch ch.Kind {
	case store.ChannelEmail:
		to, err := parseAddresses(ch.Target)
		if err != nil {
			return 0, &SendError{Permanent: true, Err: err}
		}
		err = s.cfg.SMTP.send(ctx, to, p)
		var se *SendError
		if errors.As(err, &se) {
			return se.Code, err
		}
		return 250, nil
	case store.ChannelSlack, store.ChannelWebhook:
		target, err := s.open(ch, ch.Target, store.SealedAlertTarget)
		if err != nil {
			return 0, &SendError{Permanent: true, Err: err}
		}
		if ch.Kind == store.ChannelSlack {
			body, err := slackBody(p)
			if err != nil {
				return 0, &SendError{Permanent: true, Err: err}
			}
			return s.http.post(ctx, target, body, nil)
		}
		secret, err := s.open(ch, ch.Secret, store.SealedAlertSecret)
		if err != nil {
			return 0, &SendError{Permanent: true, Err: err}
		}
		body := []byte(d.Payload)
		return s.http.post(ctx, target, body, map[string]string{
			HeaderSignature: Sign(secret, body),
			HeaderDelivery:  d.DeliveryID,
			HeaderEvent:     d.Event,
		})
	}
	return 0, &SendError{Permanent: true, Err: fmt.Errorf("channel %s has unknown kind %q", ch.Name, ch.Kind)}
}

func (s *Service) open(ch store.AlertChannel, sealed, kind string) (string, error) {
	if s.cfg.Sealer == nil {
		return "", errors.New("no secret key configured")
	}
	v, err := s.cfg.Sealer.Open(sealed, pipelines.AlertChannelAAD(ch.AppID, ch.ID, kind))
	if err != nil {
		return "", fmt.Errorf("%s of channel %s: %w", kind, ch.Name, err)
	}
	return v, nil
}

// Service is the pipelines' Notifier.
var _ pipelines.Notifier = (*Service)(nil)
