package pipelines

import (
	"context"
	"path"
	"strings"

	"github.com/seedbed/seedbed/store"
)

// Push is a ref that moved in an app's repository.
type Push struct {
	Branch string // set for a branch push
	Tag    string // set for a tag push
	// Commit is the commit to build; an annotated tag's object is
	// peeled to the commit it names when the build checks it out.
	Commit  string
	Message string // its message, for [skip deploy]
	Deleted bool
	Trigger string // TriggerPush or TriggerWebhook
	By      string
	// Source is where to fetch the commit from when it is not the app's
	// repository: the built-in remote's bare repository, and the only
	// branch to fetch from it.
	Source       string
	SourceBranch string
}

// PushResult is what a push started, or why it started nothing.
type PushResult struct {
	Build   *store.Build
	Deploys []store.Deploy
	Stages  []string // the stages it deploys to
	Ignored string   // why nothing was started, if so
	// Done says what was done instead of a build, if anything was (a
	// closed pull request's preview stopped).
	Done string
}

// SkipDeploy reports whether a commit message asks for no deploy.
func SkipDeploy(message string) bool {
	m := strings.ToLower(message)
	return strings.Contains(m, "[skip deploy]") || strings.Contains(m, "[deploy skip]")
}

// stageFollows reports whether a stage's branch rule matches a push: an
// exact branch, a glob ("release/*"), or for tags "tag:<glob>" ("tag:v*").
func stageFollows(rule string, p Push) bool {
	if rule == "" {
		return false
	}
	name, pattern := p.Branch, rule
	if tagPattern, ok := strings.CutPrefix(rule, "tag:"); ok {
		name, pattern = p.Tag, tagPattern
	} else if p.Tag != "" {
		return false
	}
	if name == "" {
		return false
	}
	if pattern == name {
		return true
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// HandlePush builds the pushed commit once and deploys it to every stage
// that follows the branch or tag. Protected stages take no pushes.
func (s *Service) HandlePush(ctx context.Context, appName string, p Push) (PushResult, error) {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		return PushResult{}, notFoundf("No app named %q.", appName)
	}
	what := "branch " + p.Branch
	if p.Tag != "" {
		what = "tag " + p.Tag
	}
	switch {
	case p.Deleted:
		return PushResult{Ignored: what + " was deleted; nothing to build"}, nil
	case SkipDeploy(p.Message):
		return PushResult{Ignored: "the head commit says [skip deploy]"}, nil
	}
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return PushResult{}, err
	}
	var follow []store.Stage
	var names []string
	for _, st := range stages {
		if !st.Protected && stageFollows(st.Branch, p) {
			follow = append(follow, st)
			names = append(names, st.Name)
		}
	}
	if len(follow) == 0 {
		return PushResult{Ignored: "no stage follows " + what}, nil
	}
	// The build records the branch or tag that moved, so it is found by
	// that name (`seedbed builds list --ref main`), and the pushed commit,
	// which is what it checks out: not whatever the branch points to
	// when the build starts.
	ref := p.Branch + p.Tag
	b, ds, err := s.buildAndDeploy(ctx, app, store.Build{Ref: ref, CommitSHA: p.Commit, Source: p.Source, SourceBranch: p.SourceBranch}, follow, p.Trigger, p.By)
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{Build: &b, Deploys: ds, Stages: names}, nil
}
