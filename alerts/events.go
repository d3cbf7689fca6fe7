package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/seedbed/seedbed/store"
)

// BuildFailed notifies the rules of b's app that watch builds. A rule of
// one stage matches a build that deploys were waiting for on that stage.
// Reporting the same build again notifies no one twice.
func (s *Service) BuildFailed(ctx context.Context, b store.Build) error {
	app, err := s.cfg.Store.AppByID(ctx, b.AppID)
	if err != nil {
		return fmt.Errorf("notify build %d failed: %w", b.ID, err)
	}
	stages, err := s.buildStages(ctx, b)
	if err != nil {
		return fmt.Errorf("notify build %d failed: %w", b.ID, err)
	}
	p := Payload{Event: store.RuleBuildFailed, State: "firing", App: app.Name, BuildID: b.ID,
		Title: fmt.Sprintf("Build #%d of %s failed", b.ID, app.Name),
		Text:  fmt.Sprintf("Build #%d (%s, commit %s) failed: %s", b.ID, b.Ref, short(b.CommitSHA), firstLine(b.Error)),
		URL:   s.link(fmt.Sprintf("/builds/%d", b.ID))}
	match := func(r store.AlertRule) (string, bool) {
		if r.Stage == "" {
			if len(stages) == 1 {
				return stages[0], true
			}
			return "", true
		}
		return r.Stage, slices.Contains(stages, r.Stage)
	}
	return s.fire(ctx, app, store.RuleBuildFailed, fmt.Sprintf("build_failed:%d", b.ID), p, match)
}

// buildStages names the stages deploys of b were for.
func (s *Service) buildStages(ctx context.Context, b store.Build) ([]string, error) {
	ds, err := s.cfg.Store.DeploysOfBuild(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ds {
		st, err := s.cfg.Store.StageByID(ctx, d.StageID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, st.Name) {
			out = append(out, st.Name)
		}
	}
	return out, nil
}

// DeployFailed notifies the rules of d's stage that watch deploys.
func (s *Service) DeployFailed(ctx context.Context, d store.Deploy) error {
	app, stage, err := s.deployPlace(ctx, d)
	if err != nil {
		return fmt.Errorf("notify deploy %d failed: %w", d.ID, err)
	}
	p := Payload{Event: store.RuleDeployFailed, State: "firing", App: app.Name, Stage: stage.Name, DeployID: d.ID,
		Title: fmt.Sprintf("Deploy #%d of %s to %s failed", d.ID, app.Name, stage.Name),
		Text:  fmt.Sprintf("Deploy #%d to %s failed; the stage kept what it served. %s", d.ID, stage.Name, firstLine(d.Error)),
		URL:   s.link(fmt.Sprintf("/deploys/%d", d.ID))}
	return s.fire(ctx, app, store.RuleDeployFailed, fmt.Sprintf("deploy_failed:%d", d.ID), p, stageMatch(stage))
}

// ApprovalAwaiting notifies the rules of d's stage that watch approvals.
func (s *Service) ApprovalAwaiting(ctx context.Context, d store.Deploy) error {
	app, stage, err := s.deployPlace(ctx, d)
	if err != nil {
		return fmt.Errorf("notify deploy %d awaits approval: %w", d.ID, err)
	}
	who := d.TriggeredBy
	if who == "" {
		who = "Someone"
	}
	p := Payload{Event: store.RuleApprovalAwaiting, State: "firing", App: app.Name, Stage: stage.Name, DeployID: d.ID,
		Title: fmt.Sprintf("A promotion of %s to %s awaits approval", app.Name, stage.Name),
		Text:  fmt.Sprintf("%s asked to promote to %s (deploy #%d); an approver approves or rejects it on its page.", who, stage.Name, d.ID),
		URL:   s.link(fmt.Sprintf("/deploys/%d", d.ID))}
	return s.fire(ctx, app, store.RuleApprovalAwaiting, fmt.Sprintf("approval_awaiting:%d", d.ID), p, stageMatch(stage))
}

// stageMatch matches the rules of a stage: those naming it, and those of
// every stage unless it is a preview stage (not part of the pipeline).
func stageMatch(stage store.Stage) func(store.AlertRule) (string, bool) {
	return func(r store.AlertRule) (string, bool) {
		return stage.Name, r.Stage == stage.Name || (r.Stage == "" && stage.PRNumber == nil)
	}
}

func (s *Service) deployPlace(ctx context.Context, d store.Deploy) (store.App, store.Stage, error) {
	app, err := s.cfg.Store.AppByID(ctx, d.AppID)
	if err != nil {
		return app, store.Stage{}, err
	}
	stage, err := s.cfg.Store.StageByID(ctx, d.StageID)
	return app, stage, err
}

// fire marks the matching rules of kind firing and notifies their
// channels of the event key. Every rule is tried; the errors are joined.
func (s *Service) fire(ctx context.Context, app store.App, kind, key string, p Payload, match func(store.AlertRule) (string, bool)) error {
	rules, err := s.cfg.Store.AlertRules(ctx, app.ID)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rules {
		if r.Kind != kind {
			continue
		}
		stage, ok := match(r)
		if !ok {
			continue
		}
		if _, err := s.setFiring(ctx, r, true, 1, stage); err != nil {
			errs = append(errs, err)
		}
		if err := s.notifyRule(ctx, app, r, key, p); err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// notifyRule sends p to r's channel once per key.
func (s *Service) notifyRule(ctx context.Context, app store.App, r store.AlertRule, key string, p Payload) error {
	ch, err := s.cfg.Store.AlertChannelByID(ctx, r.ChannelID)
	if err != nil {
		return err
	}
	p.Rule = r.Name
	_, _, err = s.record(ctx, app, ch, &r, key, p)
	return err
}

func (s *Service) alertsPage(app string) string {
	return s.link("/apps/" + url.PathEscape(app) + "/alerts")
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
