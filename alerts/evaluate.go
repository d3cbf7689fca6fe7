package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

// minRequests is how many requests a window needs before its error rate
// counts: one failed request of two is no 50 % error rate worth waking
// someone for.
const minRequests = 10

// keepDeliveries is how many finished notifications each app keeps; the
// evaluator prunes older ones every pruneEvery.
const (
	keepDeliveries = 500
	pruneEvery     = time.Hour
)

// evaluateLock names the lease that keeps evaluation to one process at a
// time, on one database however many processes share it.
const evaluateLock = "alerts-evaluate"

// Evaluator checks the measured rules (error rate, p95, crash loops) and
// resolves event rules whose condition has passed, every interval, in one
// process at a time.
type Evaluator struct {
	s        *Service
	interval time.Duration
}

// NewEvaluator makes an Evaluator; interval 0 means 15s.
func (s *Service) NewEvaluator(interval time.Duration) *Evaluator {
	if interval <= 0 {
		interval = 15 * time.Second
	}
	return &Evaluator{s: s, interval: interval}
}

// Run evaluates every interval until ctx ends.
func (e *Evaluator) Run(ctx context.Context) {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	owner := e.s.cfg.NodeID + ":alerts"
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := e.s.cfg.Store.UnlockMaintenance(unlockCtx, evaluateLock, owner); err != nil {
				e.s.log.Warn("let go of the alert evaluation lease", "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
		// The lease outlives a tick, so its holder keeps it; another
		// process takes over once it has been gone for two.
		ok, err := e.s.cfg.Store.TryLockMaintenance(ctx, evaluateLock, owner, 2*e.interval+time.Second)
		if err != nil {
			e.s.log.Error("alert evaluation lease", "err", err)
			continue
		}
		if !ok {
			continue
		}
		if err := e.s.Evaluate(ctx); err != nil && ctx.Err() == nil {
			e.s.log.Error("evaluate alert rules", "err", err)
		}
		if time.Since(pruned) >= pruneEvery {
			pruned = time.Now()
			if n, err := e.s.cfg.Store.PruneAlertDeliveries(ctx, keepDeliveries); err != nil {
				e.s.log.Error("prune notifications", "err", err)
			} else if n > 0 {
				e.s.log.Info("pruned notifications", "count", n)
			}
		}
	}
}

// Evaluate checks every rule once: measured rules fire and resolve (and
// notify both ways), event rules whose condition passed resolve quietly.
// It queues again notifications the queue lost.
func (s *Service) Evaluate(ctx context.Context) error {
	rules, err := s.cfg.Store.AllAlertRules(ctx, store.RuleBuildFailed, store.RuleDeployFailed, store.RuleApprovalAwaiting,
		store.RuleErrorRate, store.RuleLatencyP95, store.RuleCrashLoop)
	if err != nil {
		return err
	}
	apps := map[uint]store.App{}
	var errs []error
	for _, r := range rules {
		app, ok := apps[r.AppID]
		if !ok {
			if app, err = s.cfg.Store.AppByID(ctx, r.AppID); err != nil {
				errs = append(errs, fmt.Errorf("rule %d: %w", r.ID, err))
				continue
			}
			apps[r.AppID] = app
		}
		if measured(r.Kind) {
			err = s.evaluateMeasured(ctx, app, r)
		} else {
			err = s.resolveEvent(ctx, app, r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s of %s: %w", r.Name, app.Name, err))
		}
	}
	if err := s.requeueStale(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// requeueStale queues again deliveries that have waited a minute: their
// job may have been lost with Redis.
func (s *Service) requeueStale(ctx context.Context) error {
	ds, err := s.cfg.Store.UnfinishedAlertDeliveries(ctx)
	if err != nil {
		return err
	}
	cutoff := s.cfg.Now().Add(-time.Minute)
	for _, d := range ds {
		if d.CreatedAt.After(cutoff) {
			continue
		}
		if err := s.enqueue(ctx, d.ID); err != nil {
			return err
		}
	}
	return nil
}

// ruleStages lists the stages a rule watches: its own, or every stage of
// the pipeline.
func (s *Service) ruleStages(ctx context.Context, app store.App, r store.AlertRule) ([]store.Stage, error) {
	if r.Stage != "" {
		st, err := s.cfg.Store.StageByName(ctx, app.ID, r.Stage)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil // the stage was deleted; nothing to watch
		}
		if err != nil {
			return nil, err
		}
		return []store.Stage{st}, nil
	}
	return s.cfg.Store.Stages(ctx, app.ID)
}

// resolveEvent ends the firing of an event rule once its condition has
// passed: the stage's latest deploy did not fail, no promotion awaits, the
// app's latest build did not fail.
func (s *Service) resolveEvent(ctx context.Context, app store.App, r store.AlertRule) error {
	if !r.Firing {
		return nil
	}
	still := false
	switch r.Kind {
	case store.RuleBuildFailed:
		bs, err := s.cfg.Store.Builds(ctx, app.ID, 20)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if b.Finished() && b.Status != store.BuildCancelled {
				still = b.Status == store.BuildFailed
				break
			}
		}
	default:
		stages, err := s.ruleStages(ctx, app, r)
		if err != nil {
			return err
		}
		for _, st := range stages {
			var err error
			if r.Kind == store.RuleApprovalAwaiting {
				var ds []store.Deploy
				ds, err = s.cfg.Store.AwaitingDeploys(ctx, st.ID)
				still = still || len(ds) > 0
			} else {
				var ds []store.Deploy
				ds, err = s.cfg.Store.StageDeploys(ctx, st.ID, 20)
				for _, d := range ds {
					if d.Status == store.DeploySucceeded || d.Status == store.DeployFailed {
						still = still || d.Status == store.DeployFailed
						break
					}
				}
			}
			if err != nil {
				return err
			}
		}
	}
	if still {
		return nil
	}
	_, err := s.setFiring(ctx, r, false, 0, "")
	return err
}

// measurement is what a measured rule saw on one stage.
type measurement struct {
	stage     string
	value     float64
	requests  int64
	errors    int64
	available bool // the source answered
}

func (s *Service) measure(ctx context.Context, app store.App, r store.AlertRule, stage string) (measurement, error) {
	m := measurement{stage: stage}
	window := time.Duration(r.WindowSeconds) * time.Second
	switch r.Kind {
	case store.RuleCrashLoop:
		if s.cfg.Crashes == nil {
			return m, nil
		}
		m.value = float64(s.cfg.Crashes.Count(app.Name, stage, r.Function, window))
		m.available = true
		return m, nil
	default:
		if s.cfg.Metrics == nil {
			return m, nil
		}
		req, errs, p95, err := s.cfg.Metrics.Window(ctx, app.Name, stage, r.Function, window)
		if err != nil {
			return m, fmt.Errorf("metrics of %s/%s: %w", app.Name, stage, err)
		}
		m.requests, m.errors, m.available = req, errs, true
		if r.Kind == store.RuleErrorRate {
			if req >= minRequests {
				m.value = float64(errs) * 100 / float64(req)
			}
		} else if req > 0 {
			m.value = float64(p95) / float64(time.Millisecond)
		}
		return m, nil
	}
}

// over tells whether a measured value breaks the rule.
func over(r store.AlertRule, v float64) bool {
	if r.Kind == store.RuleCrashLoop {
		return v >= r.Threshold
	}
	return v > r.Threshold
}

func (s *Service) evaluateMeasured(ctx context.Context, app store.App, r store.AlertRule) error {
	stages, err := s.ruleStages(ctx, app, r)
	if err != nil {
		return err
	}
	var worst *measurement
	for _, st := range stages {
		m, err := s.measure(ctx, app, r, st.Name)
		if err != nil {
			return err
		}
		if !m.available {
			return nil // no source: leave the rule as it is
		}
		if worst == nil || m.value > worst.value {
			worst = &m
		}
	}
	if worst == nil {
		worst = &measurement{}
	}
	firing := over(r, worst.value)
	changed, err := s.setFiring(ctx, r, firing, worst.value, worst.stage)
	if err != nil || !changed {
		return err
	}
	p := s.measuredPayload(app, r, *worst, firing)
	key := fmt.Sprintf("rule:%d:%s:%d", r.ID, p.State, s.cfg.Now().UnixNano())
	return s.notifyRule(ctx, app, r, key, p)
}

// setFiring moves r to firing (for stage) or resolved and tells whether
// this call changed it; otherwise it records the value.
func (s *Service) setFiring(ctx context.Context, r store.AlertRule, firing bool, value float64, stage string) (bool, error) {
	now := s.cfg.Now().UTC()
	changed, err := s.cfg.Store.SetAlertRuleFiring(ctx, r.ID, firing, stage, value, now)
	if err != nil || changed {
		return changed, err
	}
	return false, s.cfg.Store.NoteAlertRuleValue(ctx, r.ID, value, stage, now)
}

func (s *Service) measuredPayload(app store.App, r store.AlertRule, m measurement, firing bool) Payload {
	window := (time.Duration(r.WindowSeconds) * time.Second).String()
	what := "every function"
	if r.Function != "" {
		what = r.Function
	}
	v, th := m.value, r.Threshold
	p := Payload{Event: r.Kind, State: "firing", App: app.Name, Stage: m.stage, Function: r.Function, Rule: r.Name,
		Value: &v, Threshold: &th, URL: s.alertsPage(app.Name) + "#rule-" + url.PathEscape(r.Name)}
	if !firing {
		p.State = "resolved"
	}
	place := app.Name + "/" + m.stage
	switch r.Kind {
	case store.RuleErrorRate:
		p.Title = fmt.Sprintf("Error rate of %s is %.1f %% (rule: above %g %%)", place, v, th)
		p.Text = fmt.Sprintf("%d of %d requests to %s failed in the last %s.", m.errors, m.requests, what, window)
	case store.RuleLatencyP95:
		p.Title = fmt.Sprintf("p95 latency of %s is %.0f ms (rule: above %g ms)", place, v, th)
		p.Text = fmt.Sprintf("Over %d requests to %s in the last %s.", m.requests, what, window)
	case store.RuleCrashLoop:
		p.Title = fmt.Sprintf("%s is crash-looping: %.0f crashes (rule: %g or more)", place, v, th)
		p.Text = fmt.Sprintf("%s crashed %.0f times in the last %s and was restarted each time.", what, v, window)
	}
	if !firing {
		p.Title = "Resolved: " + p.Title
		p.Text = fmt.Sprintf("Rule %s no longer fires. %s", r.Name, p.Text)
	}
	return p
}

// CrashCounter remembers recent crashes of functions, for crash-loop
// rules. The local target reports to it (it is a local.CrashObserver).
// It counts the crashes of this process's functions: run the evaluator
// where functions run (serve).
type CrashCounter struct {
	mu      sync.Mutex
	now     func() time.Time
	crashes map[crashKey][]time.Time
}

type crashKey struct{ app, stage, function string }

// keepCrashes is how long a crash is remembered: the longest window.
const keepCrashes = 24 * time.Hour

// maxCrashes bounds what is remembered per function.
const maxCrashes = 1000

// NewCrashCounter makes an empty CrashCounter; now nil means time.Now.
func NewCrashCounter(now func() time.Time) *CrashCounter {
	if now == nil {
		now = time.Now
	}
	return &CrashCounter{now: now, crashes: map[crashKey][]time.Time{}}
}

// FunctionCrashed records that function ("service/name") of stage
// crashed and is being restarted.
func (c *CrashCounter) FunctionCrashed(stage targets.StageRef, function string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	k := crashKey{stage.App, stage.Stage, function}
	ts := append(c.crashes[k], now)
	cut := 0
	for cut < len(ts) && (now.Sub(ts[cut]) > keepCrashes || len(ts)-cut > maxCrashes) {
		cut++
	}
	c.crashes[k] = ts[cut:]
}

// Count tells how many crashes function ("" for any) of app's stage had
// in the last since.
func (c *CrashCounter) Count(app, stage, function string, since time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	cutoff := c.now().Add(-since)
	n := 0
	for k, ts := range c.crashes {
		if k.app != app || k.stage != stage || (function != "" && k.function != function) {
			continue
		}
		for _, t := range ts {
			if t.After(cutoff) {
				n++
			}
		}
	}
	return n
}
