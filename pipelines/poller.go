package pipelines

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/store"
)

// TriggerPoll marks builds that polling found: a ref moved in a repository
// that sends no webhooks.
const TriggerPoll = "poll"

// Poller finds pushes to repositories that cannot send webhooks: for each
// app with a polling interval it lists the repository's refs (no clone),
// compares them with what it saw last time (kept in the database, so a
// restart misses nothing and builds nothing twice), and hands every branch
// or tag that moved to HandlePush. Only one process should run a Poller.
type Poller struct {
	svc  *Service
	tick time.Duration

	mu   sync.Mutex
	last map[uint]time.Time // when each app was polled last
}

// NewPoller makes a Poller that checks every tick which apps are due.
func (s *Service) NewPoller(tick time.Duration) *Poller {
	if tick <= 0 {
		tick = time.Second
	}
	return &Poller{svc: s, tick: tick, last: map[uint]time.Time{}}
}

// Run polls until ctx is done.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.PollDue(ctx)
		}
	}
}

// PollDue polls every app whose interval has passed since its last poll.
// Failures are logged; the app is tried again after its interval.
func (p *Poller) PollDue(ctx context.Context) {
	apps, err := p.svc.cfg.Store.Apps(ctx)
	if err != nil {
		p.svc.log.Warn("poll: list apps", "err", err)
		return
	}
	now := time.Now()
	for _, app := range apps {
		if app.PollSeconds <= 0 || app.RepoURL == "" {
			continue
		}
		p.mu.Lock()
		due := now.Sub(p.last[app.ID]) >= time.Duration(app.PollSeconds)*time.Second
		if due {
			p.last[app.ID] = now
		}
		p.mu.Unlock()
		if !due {
			continue
		}
		if _, err := p.PollApp(ctx, app); err != nil && ctx.Err() == nil {
			p.svc.log.Warn("poll", "app", app.Name, "err", err)
		}
	}
}

// PollResult is what one poll of an app found and started.
type PollResult struct {
	Moved  []string // full ref names that moved or appeared
	Builds []uint   // builds started for them
}

// PollApp lists an app's refs once and starts builds for those that moved.
// The first poll of an app only records where its refs are: turning
// polling on does not rebuild what is already there.
func (p *Poller) PollApp(ctx context.Context, app store.App) (PollResult, error) {
	var res PollResult
	deployKey, err := p.svc.deployKey(app)
	if err != nil {
		return res, fmt.Errorf("poll %s: %w", app.Name, err)
	}
	refs, err := builders.ListRefs(ctx, builders.FetchOptions{RepoURL: app.RepoURL, DeployKey: deployKey, Network: p.svc.cfg.Network})
	if err != nil {
		return res, fmt.Errorf("poll %s: %w", app.Name, err)
	}
	seen, err := p.svc.cfg.Store.PolledRefs(ctx, app.ID)
	if err != nil {
		return res, err
	}
	first := len(seen) == 0
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sha := refs[name]
		if first || seen[name] == sha {
			continue
		}
		res.Moved = append(res.Moved, name)
		push := Push{Commit: sha, Trigger: TriggerPoll, By: "polling"}
		if b, ok := strings.CutPrefix(name, "refs/heads/"); ok {
			push.Branch = b
		} else {
			push.Tag = strings.TrimPrefix(name, "refs/tags/")
		}
		pr, err := p.svc.HandlePush(ctx, app.Name, push)
		if err != nil {
			// Keep the old sha, so the next poll tries again.
			if old, ok := seen[name]; ok {
				refs[name] = old
			} else {
				delete(refs, name)
			}
			p.svc.log.Warn("poll: start build", "app", app.Name, "ref", name, "err", err)
			continue
		}
		if pr.Build != nil {
			res.Builds = append(res.Builds, pr.Build.ID)
		}
	}
	if len(refs) == 0 && first {
		return res, nil
	}
	if err := p.svc.cfg.Store.ReplacePolledRefs(ctx, app.ID, refs); err != nil {
		return res, err
	}
	return res, nil
}
