package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/local"
)

// Config is one function to run.
type Config struct {
	Stage    targets.StageRef
	Function targets.Function
	// Source is where the artifact comes from.
	Source Source
	// Dir holds the fetched artifact and the function's run directory.
	Dir string
	// Addr is where to serve the function (":8080"). Requests arrive as
	// Seedbed's gateway received them (path /APP/STAGE/… or host
	// STAGE--APP.<Domain>) and are routed by the same gateway code.
	Addr string
	// Domain is seedbed serve's gateway domain, for host routing.
	Domain string
	// TrustedProxies are the networks whose forwarding headers count:
	// Seedbed's gateway, which proxies every request to the pod. Nil
	// trusts every peer — right where only the gateway can reach the pod
	// (see docs/kubernetes.md, network policy).
	TrustedProxies []*net.IPNet
	Logger         *slog.Logger
	// QueueToken is the stage's queue send token, handed to the function
	// as SEEDBED_QUEUE_TOKEN; "" gives none.
	QueueToken string
	// Logs takes every line the function prints, masked as the local
	// target masks them (a LogShipper sends them to seedbed serve); nil
	// keeps only the last lines for error messages.
	Logs local.LogWriter
}

// Run fetches and verifies the artifact, starts the function, and serves
// it on cfg.Addr until ctx ends; ready, if not nil, gets the address it
// listens on once the function is healthy. Nothing listens before that, so
// a pod's readiness probe on the port means the function answers.
func Run(ctx context.Context, cfg Config, ready func(addr string)) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fn := cfg.Function
	if fn.Service == "" || fn.Name == "" {
		return errors.New("run-function: the function spec names no service and function")
	}
	arts, err := artifact.New(filepath.Join(cfg.Dir, "artifacts"))
	if err != nil {
		return fmt.Errorf("run-function %s: %w", fn.Key(), err)
	}
	began := time.Now()
	if err := Fetch(ctx, cfg.Source, fn.Digest, arts); err != nil {
		return fmt.Errorf("run-function %s: %w", fn.Key(), err)
	}
	log.Info("artifact fetched and verified", "function", fn.Key(), "digest", fn.Digest, "took", time.Since(began).Round(time.Millisecond))

	lc := local.Config{Dir: filepath.Join(cfg.Dir, "local"), Artifacts: arts, Logger: log, Logs: cfg.Logs}
	if cfg.QueueToken != "" {
		lc.QueueTokens = fixedToken(cfg.QueueToken)
	}
	tg, err := local.New(lc)
	if err != nil {
		return fmt.Errorf("run-function %s: %w", fn.Key(), err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tg.Close(closeCtx)
	}()
	if err := tg.Apply(ctx, cfg.Stage, []targets.Function{fn}, slogPrinter{log}); err != nil {
		return fmt.Errorf("run-function: %w", err)
	}
	trusted := cfg.TrustedProxies
	if trusted == nil {
		_, all4, _ := net.ParseCIDR("0.0.0.0/0")
		_, all6, _ := net.ParseCIDR("::/0")
		trusted = []*net.IPNet{all4, all6}
	}
	gw := gateway.New(gateway.Config{Domain: cfg.Domain, TrustedProxies: trusted}, tg)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("run-function %s: listen: %w", fn.Key(), err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "function", fn.Key(), "stage", cfg.Stage.String(), "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-served:
		return fmt.Errorf("run-function %s: serve: %w", fn.Key(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}

// slogPrinter turns the target's progress lines into log records.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) { p.log.Info(fmt.Sprintf(format, args...)) }

// fixedToken is the one stage's queue send token a pod was given.
type fixedToken string

func (f fixedToken) QueueToken(targets.StageRef) string { return string(f) }

// VerifyQueueToken is never asked: a pod serves no queue sends.
func (f fixedToken) VerifyQueueToken(targets.StageRef, string) bool { return false }
