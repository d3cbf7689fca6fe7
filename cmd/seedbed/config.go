package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/seedbed/seedbed/alerts"
	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/handoff"
	"github.com/seedbed/seedbed/metrics"
	"github.com/seedbed/seedbed/netguard"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/targets/local"
	"github.com/seedbed/seedbed/web"
)

// Config is how a Seedbed server process is set up. Every field has a flag
// and an environment variable; flags win.
type Config struct {
	Addr        string // console and API
	GatewayAddr string // functions
	// GatewayLoop serves the gateway's plain HTTP/1.1 requests with
	// package keepalive's loop, the rest with net/http's server.
	GatewayLoop bool
	DataDir     string
	DatabaseURL string // empty: SQLite in DataDir
	RedisURL    string // empty: the in-process queue server
	PublicURL   string // how users reach the console; default from Addr
	GatewayURL  string // how users reach functions; default from GatewayAddr
	Domain      string // host routing: STAGE--APP.<Domain>
	Workers     int
	NodeID      string
	// Inherited holds the listening sockets of the process this one
	// takes over from (SIGHUP, see handoff); nil when it started afresh.
	Inherited     *handoff.Inherited
	AdminEmail    string
	AdminPassword string
	SecureCookies bool
	SecretKey     string // hex; empty: data dir's secret.key
	BuildTimeout  time.Duration
	// BuildUser is who build commands and deploy hooks run as: auto,
	// none, a user name or uid:gid (see builders.ResolveUser). The flag
	// defaults to auto; empty (a Config made in code) means none.
	BuildUser string
	// BuildEnv is the environment build commands start from: a scrubbed
	// copy of Seedbed's own, without its secrets.
	BuildEnv []string
	// GitHookCommand runs the built-in remote's pre-receive hook; empty:
	// this executable with "git-hook".
	GitHookCommand []string
	// Builds says whether this process runs builds; serve can leave them
	// to `seedbed worker` processes.
	Builds bool
	// WarmGoCache compiles the Go standard library into the shared std
	// cache at start, in the background, so that a new app's first Go
	// build does not (see builders.WarmGoCache). The flag defaults to on;
	// a Config made in code (tests) leaves it off.
	WarmGoCache bool
	// Deploys says whether this process applies deploys (serve does;
	// a build-only worker does not).
	Deploys bool
	// RunnerImage is the image of the kubernetes target's pods (Seedbed's
	// own image, run as `seedbed run-function`) for stages that name none.
	RunnerImage string
	// RunnerArtifactsURL is where pods fetch artifacts from this server;
	// empty means the public URL + /runner/artifacts.
	RunnerArtifactsURL string
	// MemoryLimits is how functions are held to their memory: auto,
	// cgroup or soft (see local.MemoryLimits); empty means auto.
	MemoryLimits string
	// InstanceMemoryBudget is the most memory (MiB) the instances of all
	// functions may be sized at together before scaling up stops (see
	// local.Config.MemoryBudget); zero means no budget.
	InstanceMemoryBudget int
	// AllowPrivateRepos lets apps' repositories and forge API URLs be on
	// loopback, private and link-local addresses (see netguard). Off,
	// users who may create apps cannot make the server reach its own
	// ports or its network's.
	AllowPrivateRepos bool
	// RepoResolver looks repository hosts up when an app's URL is saved;
	// nil: the system's. No flag: tests set it to stand for a DNS server
	// that answers differently later (rebinding), which the fetch's own
	// check after resolution must catch.
	RepoResolver netguard.Resolver
	// ReconcileInterval is how often serve looks for builds and deploys
	// whose job the queue lost; zero means pipelines.DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// ScheduleTick is how often serve looks for due schedule ticks (the
	// most a tick fires late); zero means 200ms. Tests only.
	ScheduleTick time.Duration

	// TrustedProxyList is --trusted-proxies as given: CIDRs of reverse
	// proxies whose X-Forwarded-For names the client; finish parses it
	// into TrustedProxies. None: the connection's address counts.
	TrustedProxyList string
	TrustedProxies   []*net.IPNet

	// Isolation is how functions, builds and hooks are confined: auto,
	// sandbox or none (see sandbox.Isolation and isolation.go). The flag
	// defaults to auto; empty (a Config made in code) means none.
	Isolation string
	// Retention is what seedbed gc keeps; the zero value (a Config made
	// in code) means pipelines.DefaultRetention. GCInterval is how often
	// serve collects; 0 never.
	Retention  pipelines.Retention
	GCInterval time.Duration
	// FunctionLogs is what each stage's function log keeps (see
	// fnlog.Retention); the zero value keeps everything.
	FunctionLogs fnlog.Retention
	// envErr is a retention or gc setting in the environment that does
	// not parse; finish reports it.
	envErr error

	// Request metrics, request log and issues (config_metrics.go).
	// MetricsAddr serves /metrics for Prometheus; empty: not served.
	// RequestLogSample is the share of successful requests the request
	// log keeps (a Config made in code: 0, failures only).
	MetricsOff       bool
	MetricsAddr      string
	RequestLogSample float64
	RequestLogRate   int // most successful entries a second; 0: no cap
	RequestLogOff    bool
	MetricsRetention metrics.Retention
	// HTTPS and custom domains (see domains.go and docs/domains.md).
	HTTPS HTTPSConfig
	// ArtifactStore is where artifacts are kept: empty for the data
	// dir's artifacts folder, s3://BUCKET/PREFIX for a bucket of the
	// S3-compatible server at S3Endpoint (see artifacts.go).
	ArtifactStore string
	S3Endpoint    string
	S3Region      string
	// BuildCacheMax bounds a shared build cache snapshot (bytes of its
	// files) when ArtifactStore is a bucket; 0 shares none.
	BuildCacheMax int64
	// S3AccessKey and S3SecretKey come from the environment only
	// (SEEDBED_S3_ACCESS_KEY, SEEDBED_S3_SECRET_KEY).
	S3AccessKey, S3SecretKey string
	// SMTPURL and SMTPFrom are where email alerts are sent through and
	// from (--smtp-url, --smtp-from); finish parses them into SMTP.
	SMTPURL  string
	SMTPFrom string
	SMTP     alerts.SMTP
	// AlertInterval is how often serve evaluates alert rules; zero means
	// 15s. AlertBackoff is the wait before a notification's second
	// attempt (doubling after); zero means 5s. No flag for the latter:
	// tests shorten it.
	AlertInterval time.Duration
	AlertBackoff  time.Duration
}

// configFlags registers the server flags on fs, defaulting from getenv.
func configFlags(fs *pflag.FlagSet, getenv func(string) string) *Config {
	c := &Config{}
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.Addr, "addr", env("SEEDBED_ADDR", "127.0.0.1:8080"), "console and API listen address (SEEDBED_ADDR)")
	fs.StringVar(&c.GatewayAddr, "gateway-addr", env("SEEDBED_GATEWAY_ADDR", "127.0.0.1:8081"), "function gateway listen address (SEEDBED_GATEWAY_ADDR)")
	fs.BoolVar(&c.GatewayLoop, "gateway-loop", getenv("SEEDBED_GATEWAY_LOOP") != "false", "serve the gateway's plain HTTP/1.1 requests (a GET or a POST of up to 64 KiB on a kept-alive connection) with Seedbed's own keep-alive loop, which is faster; everything else (WebSockets, large or chunked uploads, HEAD, HTTP/1.0) goes to Go's net/http server either way. false: net/http serves every request (SEEDBED_GATEWAY_LOOP)")
	fs.StringVar(&c.DataDir, "data-dir", env("SEEDBED_DATA_DIR", "data"), "where the SQLite database, artifacts, caches and running functions live (SEEDBED_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("SEEDBED_DATABASE_URL", ""), "postgres://… to use PostgreSQL; empty for SQLite in the data dir (SEEDBED_DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", env("SEEDBED_REDIS_URL", ""), "redis://… to use Redis for the queue; empty for the in-process queue server (SEEDBED_REDIS_URL)")
	fs.StringVar(&c.PublicURL, "public-url", env("SEEDBED_PUBLIC_URL", ""), "URL users reach the console at; default http://<addr> (SEEDBED_PUBLIC_URL)")
	fs.StringVar(&c.GatewayURL, "gateway-url", env("SEEDBED_GATEWAY_URL", ""), "URL users reach functions at; default http://<gateway-addr> (SEEDBED_GATEWAY_URL)")
	fs.StringVar(&c.Domain, "domain", env("SEEDBED_DOMAIN", "localhost"), "gateway host routing: STAGE--APP.<domain> (SEEDBED_DOMAIN)")
	fs.StringVar(&c.RunnerImage, "runner-image", env("SEEDBED_RUNNER_IMAGE", ""), "image the kubernetes target runs functions from (Seedbed's own image; its entry point runs `seedbed run-function`), for stages that set none (SEEDBED_RUNNER_IMAGE)")
	fs.StringVar(&c.RunnerArtifactsURL, "runner-artifacts-url", env("SEEDBED_RUNNER_ARTIFACTS_URL", ""), "URL the kubernetes target's pods fetch artifacts from; default <public-url>/runner/artifacts (SEEDBED_RUNNER_ARTIFACTS_URL)")
	fs.StringVar(&c.MemoryLimits, "memory-limits", env("SEEDBED_MEMORY_LIMITS", "auto"), "how functions are held to their memory: auto (hard with cgroups where usable, else soft), cgroup (hard; refuse to start without a usable cgroup) or soft (the runtimes' own knobs only) (SEEDBED_MEMORY_LIMITS)")
	fs.StringVar(&c.Isolation, "isolation", env("SEEDBED_ISOLATION", string(sandbox.IsolationAuto)), "how functions, builds and hooks are confined: auto (in a bubblewrap sandbox, as a user of their app, with a network of their own, where bubblewrap and pasta work; ELSE UNCONFINED, as Seedbed's own user, with a warning in the log and on the console), sandbox (always; refuse to start without it) or none (never). Needs root and "+sandbox.InstallHint+" (SEEDBED_ISOLATION)")
	budget, _ := strconv.Atoi(env("SEEDBED_INSTANCE_MEMORY_BUDGET", "0"))
	fs.IntVar(&c.InstanceMemoryBudget, "instance-memory-budget", budget, "the most memory, in MiB, the instances of all functions may be sized at together (the sum of their memory settings): no further instance starts to scale up past it; 0 means no budget (SEEDBED_INSTANCE_MEMORY_BUDGET)")
	workers, _ := strconv.Atoi(env("SEEDBED_WORKERS", "4"))
	fs.IntVar(&c.Workers, "workers", workers, "how many builds and deploys run at once in this process (SEEDBED_WORKERS)")
	fs.StringVar(&c.NodeID, "node-id", env("SEEDBED_NODE_ID", ""), "name of this process in stage locks; default from host name and data dir (SEEDBED_NODE_ID)")
	timeout, _ := time.ParseDuration(env("SEEDBED_BUILD_TIMEOUT", "30m"))
	fs.DurationVar(&c.BuildTimeout, "build-timeout", timeout, "longest a build may run (SEEDBED_BUILD_TIMEOUT)")
	fs.StringVar(&c.BuildUser, "build-user", env("SEEDBED_BUILD_USER", builders.UserAuto), "who build commands and deploy hooks run as: auto (as root, a user per app: uid and gid 1879048192 + the app's id; else Seedbed's own user), a user name or uid:gid (one user for every app), or none for Seedbed's own user (SEEDBED_BUILD_USER)")
	fs.BoolVar(&c.Builds, "builds", getenv("SEEDBED_BUILDS") != "false", "run builds in this process; false leaves them to seedbed worker processes (SEEDBED_BUILDS)")
	fs.BoolVar(&c.WarmGoCache, "warm-go-cache", getenv("SEEDBED_WARM_GO_CACHE") != "false", "compile the Go standard library once at start, in the background, so that new apps' first Go builds start from it (SEEDBED_WARM_GO_CACHE)")
	fs.BoolVar(&c.AllowPrivateRepos, "allow-private-repos", getenv("SEEDBED_ALLOW_PRIVATE_REPOS") == "true", "let apps' repositories and forge API URLs be on loopback, private or link-local addresses (127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fc00::/7, fe80::/10), for every app: for a forge on this host or network (SEEDBED_ALLOW_PRIVATE_REPOS)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", getenv("SEEDBED_SECURE_COOKIES") == "true", "mark cookies Secure, for HTTPS (SEEDBED_SECURE_COOKIES)")
	fs.StringVar(&c.TrustedProxyList, "trusted-proxies", env("SEEDBED_TRUSTED_PROXIES", ""), "comma-separated CIDRs of reverse proxies (in front of the console and the gateway) whose X-Forwarded-For names the client; empty: the connection's address counts, whatever headers say (SEEDBED_TRUSTED_PROXIES)")
	retentionFlags(fs, env, c)
	metricsFlags(fs, env, c)
	httpsFlags(fs, env, c)
	fs.StringVar(&c.ArtifactStore, "artifact-store", env("SEEDBED_ARTIFACT_STORE", ""), "where artifacts are kept: empty for <data-dir>/artifacts, or s3://BUCKET/PREFIX for a bucket of an S3-compatible server (--s3-endpoint), shared by every serve and worker, which also holds the shared build caches and the HTTPS certificates (sealed; copied from the database at start); credentials from SEEDBED_S3_ACCESS_KEY and SEEDBED_S3_SECRET_KEY (SEEDBED_ARTIFACT_STORE)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", env("SEEDBED_S3_ENDPOINT", ""), "the S3-compatible server of --artifact-store: http(s)://host:port; empty for AWS S3 (SEEDBED_S3_ENDPOINT)")
	fs.StringVar(&c.S3Region, "s3-region", env("SEEDBED_S3_REGION", ""), "the region of the --artifact-store bucket; empty to ask the server (SEEDBED_S3_REGION)")
	buildCacheFlags(fs, env, c)
	c.S3AccessKey = getenv("SEEDBED_S3_ACCESS_KEY")
	c.S3SecretKey = getenv("SEEDBED_S3_SECRET_KEY")
	alertFlags(fs, env, c)
	c.SecretKey = getenv("SEEDBED_SECRET_KEY")
	c.AdminEmail = getenv("SEEDBED_ADMIN_EMAIL")
	c.AdminPassword = getenv("SEEDBED_ADMIN_PASSWORD")
	return c
}

// finish fills what derives from other settings.
func (c *Config) finish(environ []string) error {
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "seedbed.db")
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		sum := sha256.Sum256([]byte(c.DataDir))
		c.NodeID = host + "-" + hex.EncodeToString(sum[:4])
	}
	if c.Workers < 1 {
		return fmt.Errorf("--workers must be at least 1, not %d", c.Workers)
	}
	if c.BuildEnv == nil {
		c.BuildEnv = buildEnv(environ)
	}
	limits, err := local.ParseMemoryLimits(c.MemoryLimits)
	if err != nil {
		return fmt.Errorf("--memory-limits (SEEDBED_MEMORY_LIMITS): %w", err)
	}
	c.MemoryLimits = string(limits)
	if c.TrustedProxies, err = web.ParseTrustedProxies(c.TrustedProxyList); err != nil {
		return fmt.Errorf("--trusted-proxies (SEEDBED_TRUSTED_PROXIES): %w", err)
	}
	if c.Isolation != "" {
		iso, err := sandbox.ParseIsolation(c.Isolation)
		if err != nil {
			return fmt.Errorf("--isolation (SEEDBED_ISOLATION): %w", err)
		}
		c.Isolation = string(iso)
	}
	if c.envErr != nil {
		return c.envErr
	}
	if c.Retention == (pipelines.Retention{}) {
		c.Retention = pipelines.DefaultRetention()
	}
	// Artifacts a build stores stay until its release names them: the
	// grace period outlasts the longest build.
	c.Retention.Grace = max(time.Hour, c.BuildTimeout+30*time.Minute)
	if err := c.Retention.Validate(); err != nil {
		return err
	}
	if err := c.checkMetrics(); err != nil {
		return err
	}
	if err := c.checkArtifactStore(); err != nil {
		return err
	}
	if c.SMTP, err = alerts.ParseSMTP(c.SMTPURL, c.SMTPFrom); err != nil {
		return err
	}
	if c.AlertInterval < 0 {
		return fmt.Errorf("--alert-interval must be a duration such as 15s, not %s", c.AlertInterval)
	}
	if err := c.FunctionLogs.Validate(); err != nil {
		return err
	}
	if c.GCInterval < 0 {
		return fmt.Errorf("--gc-interval must be 0 (never) or a duration such as 1h, not %s", c.GCInterval)
	}
	return c.HTTPS.finish()
}

// envInt reads a whole number setting from the environment variable key,
// or def when it is unset; a bad value is kept for finish to report.
func (c *Config) envInt(env func(k, def string) string, key string, def int) int {
	v := env(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		c.envErr = errors.Join(c.envErr, fmt.Errorf("%s=%q: want a whole number", key, v))
	}
	return n
}

// envDuration reads a duration setting from the environment variable key,
// or def when it is unset; a bad value is kept for finish to report, with
// example ("720h or 30m") as what to write instead.
func (c *Config) envDuration(env func(k, def string) string, key string, def time.Duration, example string) time.Duration {
	v := env(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		c.envErr = errors.Join(c.envErr, fmt.Errorf("%s=%q: want a duration such as %s", key, v, example))
	}
	return d
}

// retentionFlags registers what seedbed gc keeps, and how often serve
// runs it.
func retentionFlags(fs *pflag.FlagSet, env func(k, def string) string, c *Config) {
	def := pipelines.DefaultRetention()
	atoi := func(k string, d int) int { return c.envInt(env, k, d) }
	duration := func(k string, d time.Duration) time.Duration { return c.envDuration(env, k, d, "720h or 30m") }
	fs.IntVar(&c.Retention.Releases, "retain-releases", atoi("SEEDBED_RETAIN_RELEASES", def.Releases), "releases each stage keeps: the newest it served, its rollback targets (live releases and those deploys in progress need are kept too); older ones go with their artifacts and logs; at least 2 (SEEDBED_RETAIN_RELEASES)")
	fs.DurationVar(&c.Retention.LogAge, "retain-logs", duration("SEEDBED_RETAIN_LOGS", def.LogAge), "how long build and deploy log lines are kept; 0 keeps them as long as their release (SEEDBED_RETAIN_LOGS)")
	fs.IntVar(&c.Retention.Deliveries, "retain-deliveries", atoi("SEEDBED_RETAIN_DELIVERIES", def.Deliveries), "webhook deliveries kept per app (SEEDBED_RETAIN_DELIVERIES)")
	fs.IntVar(&c.Retention.RejectedDeliveries, "retain-rejected-deliveries", atoi("SEEDBED_RETAIN_REJECTED_DELIVERIES", def.RejectedDeliveries), "rejected webhook deliveries kept across all apps (SEEDBED_RETAIN_REJECTED_DELIVERIES)")
	fs.DurationVar(&c.GCInterval, "gc-interval", duration("SEEDBED_GC_INTERVAL", time.Hour), "how often serve removes what retention does not keep, as seedbed gc does; 0 never (SEEDBED_GC_INTERVAL)")
	functionLogFlags(fs, env, c)
}

// alertFlags registers where email alerts go through and how often rules
// are evaluated.
func alertFlags(fs *pflag.FlagSet, env func(k, def string) string, c *Config) {
	fs.StringVar(&c.SMTPURL, "smtp-url", env("SEEDBED_SMTP_URL", ""), "SMTP server for email alerts: smtp://user:password@host:587 (STARTTLS), smtps://…:465 (TLS) or smtp+insecure://host:25 (no TLS; a password only to loopback); empty: no email (SEEDBED_SMTP_URL)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", env("SEEDBED_SMTP_FROM", ""), "address email alerts are sent from, e.g. \"Seedbed <seedbed@example.com>\" (SEEDBED_SMTP_FROM)")
	interval := c.envDuration(env, "SEEDBED_ALERT_INTERVAL", 15*time.Second, "15s")
	fs.DurationVar(&c.AlertInterval, "alert-interval", interval, "how often serve checks alert rules (error rate, p95, crash loops) (SEEDBED_ALERT_INTERVAL)")
}

// buildEnv keeps what toolchains need from Seedbed's environment and drops
// everything else, Seedbed's own settings and credentials first of all.
func buildEnv(environ []string) []string {
	keep := map[string]bool{"PATH": true, "HOME": true, "LANG": true, "TMPDIR": true, "USER": true,
		"GOPROXY": true, "GOPRIVATE": true, "GONOSUMDB": true, "GONOPROXY": true, "GOSUMDB": true, "GOCACHE": true,
		"GOMODCACHE": true, "GOPATH": true, "GOTOOLCHAIN": true, "HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if keep[k] {
			out = append(out, kv)
		}
	}
	return out
}

func urlOf(addr string) string {
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" || host == "[::]" {
		host = "127.0.0.1"
	}
	return "http://" + host + ":" + port
}
