package pipelines

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
)

var envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// reservedEnv are names Seedbed sets itself for every function.
func reservedEnv(key string) bool {
	return key == "PORT" || strings.HasPrefix(key, "SEEDBED_") || strings.HasPrefix(key, "AWS_LAMBDA_") || key == "_HANDLER"
}

// Var is a stage variable as users see it: a secret's value is never shown.
type Var struct {
	Key       string
	Value     string // empty for secrets
	Secret    bool
	UpdatedAt time.Time
}

func (s *Service) appStage(ctx context.Context, appName, stageName string) (store.App, store.Stage, error) {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return app, store.Stage{}, notFoundf("No app named %q. `seedbed apps list` shows the apps.", appName)
		}
		return app, store.Stage{}, err
	}
	st, err := s.cfg.Store.StageByName(ctx, app.ID, stageName)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return app, st, notFoundf("App %q has no stage %q. `seedbed stages list %s` shows its stages.", app.Name, stageName, app.Name)
		}
		return app, st, err
	}
	return app, st, nil
}

// Vars lists a stage's variables, secrets without their values.
func (s *Service) Vars(ctx context.Context, appName, stageName string) ([]Var, error) {
	_, st, err := s.appStage(ctx, appName, stageName)
	if err != nil {
		return nil, err
	}
	vs, err := s.cfg.Store.StageVars(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Var, 0, len(vs))
	for _, v := range vs {
		view := Var{Key: v.Key, Secret: v.Secret, UpdatedAt: v.UpdatedAt}
		if !v.Secret {
			view.Value = v.Value
		}
		out = append(out, view)
	}
	return out, nil
}

// SetVar sets one variable of a stage; a secret is sealed before it is
// stored. It takes effect with the stage's next deploy.
func (s *Service) SetVar(ctx context.Context, appName, stageName, key, value string, secret bool) error {
	_, st, err := s.appStage(ctx, appName, stageName)
	if err != nil {
		return err
	}
	if !envKeyRe.MatchString(key) {
		return invalidf("%q is not a valid variable name: use letters, digits and _, not starting with a digit (e.g. DATABASE_URL).", key)
	}
	if reservedEnv(key) {
		return invalidf("%s is set by Seedbed itself (PORT, SEEDBED_*, AWS_LAMBDA_*); choose another name.", key)
	}
	if len(value) > 32<<10 {
		return invalidf("The value of %s is %d bytes; at most 32 KiB fit in a variable.", key, len(value))
	}
	v := store.StageVar{StageID: st.ID, Key: key, Value: value, Secret: secret}
	if secret {
		if err := checkSecretValue(key, value); err != nil {
			return err
		}
		if s.cfg.Sealer == nil {
			return fmt.Errorf("set secret %s: no secret key configured", key)
		}
		if v.Value, err = s.cfg.Sealer.Seal(value, secretAAD(st.ID, key)); err != nil {
			return err
		}
	}
	return s.cfg.Store.SetStageVar(ctx, v)
}

// UnsetVar removes one variable of a stage.
func (s *Service) UnsetVar(ctx context.Context, appName, stageName, key string) error {
	_, st, err := s.appStage(ctx, appName, stageName)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.UnsetStageVar(ctx, st.ID, key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFoundf("Stage %s has no variable %s.", stageName, key)
		}
		return err
	}
	return nil
}

func secretAAD(stageID uint, key string) string { return fmt.Sprintf("stage:%d:%s", stageID, key) }

// stageEnv opens a stage's variables: the env every function of the stage
// gets on top of its own, and the secret values to mask in logs.
func (s *Service) stageEnv(ctx context.Context, st store.Stage) (map[string]string, masker, error) {
	vs, err := s.cfg.Store.StageVars(ctx, st.ID)
	if err != nil {
		return nil, masker{}, err
	}
	env := map[string]string{}
	var secrets masker
	for _, v := range vs {
		if !v.Secret {
			env[v.Key] = v.Value
			continue
		}
		if s.cfg.Sealer == nil {
			return nil, masker{}, fmt.Errorf("stage %s has secret %s but no secret key is configured", st.Name, v.Key)
		}
		plain, err := s.cfg.Sealer.Open(v.Value, secretAAD(st.ID, v.Key))
		if err != nil {
			return nil, masker{}, fmt.Errorf("stage %s, secret %s: %w", st.Name, v.Key, err)
		}
		env[v.Key] = plain
		secrets = secrets.add(fmt.Sprintf("%s of stage %s", v.Key, st.Name), plain)
	}
	return env, secrets, nil
}

// appSecrets is every secret value of an app's stages, and its deploy key:
// builds are not tied to one stage, so their logs mask all of them.
func (s *Service) appSecrets(ctx context.Context, app store.App) (masker, error) {
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return masker{}, err
	}
	previews, err := s.cfg.Store.PreviewStages(ctx, app.ID)
	if err != nil {
		return masker{}, err
	}
	stages = append(stages, previews...)
	var all masker
	for _, st := range stages {
		_, secrets, err := s.stageEnv(ctx, st)
		if err != nil {
			return masker{}, err
		}
		all = all.merge(secrets)
	}
	key, err := s.deployKey(app)
	if err != nil {
		return masker{}, err
	}
	if key != "" {
		all = all.add("deploy key", key)
	}
	return all, nil
}

// resolve gives each function of a release the stage's variables on top of
// the function's own env from seedbed.yml: the stage wins. Keys whose
// values hold a secret (secrets masks them) are named in Secrets, for the
// target to mask in what it keeps of the function's output.
func resolve(fns []targets.Function, stageEnv map[string]string, secrets masker) []targets.Function {
	out := make([]targets.Function, len(fns))
	for i, f := range fns {
		env := maps.Clone(f.Env)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, stageEnv)
		f.Env = env
		f.Secrets = nil
		for _, k := range slices.Sorted(maps.Keys(env)) {
			if secrets.mask(env[k]) != env[k] {
				f.Secrets = append(f.Secrets, k)
			}
		}
		out[i] = f
	}
	return out
}

// withRelease marks fns as deployed from release id, for their logs.
func withRelease(fns []targets.Function, id uint) []targets.Function {
	for i := range fns {
		fns[i].Release = id
	}
	return fns
}

// redacted replaces env values by digests, for change sets and history.
func redacted(fns []targets.Function) []targets.Function {
	out := make([]targets.Function, len(fns))
	for i, f := range fns {
		env := make(map[string]string, len(f.Env))
		for k, v := range f.Env {
			env[k] = redact(v)
		}
		f.Env = env
		out[i] = f
	}
	return out
}

// StageSettings is what a user sets on a stage.
type StageSettings struct {
	Name      string
	Branch    string // exact branch or a glob such as "release/*"
	Approval  bool
	Protected bool
	Position  int    // -1: at the end
	After     string // create only: right after this stage (Position must then be -1)
}

func checkBranchPattern(p string) error {
	p = strings.TrimPrefix(p, "tag:")
	if p == "" {
		return nil
	}
	if _, err := path.Match(p, "x"); err != nil || strings.ContainsAny(p, " ~^:\\") {
		return invalidf("%q is not a branch name or glob (e.g. main, release/*, or tag:v* for tags).", p)
	}
	return nil
}

// CreateStage adds a stage to an app's pipeline.
func (s *Service) CreateStage(ctx context.Context, appName string, in StageSettings) (store.Stage, error) {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		return store.Stage{}, notFoundf("No app named %q.", appName)
	}
	if !nameRe.MatchString(in.Name) || strings.Contains(in.Name, "--") {
		return store.Stage{}, invalidf("%q is not a valid stage name: use lower-case letters, digits and single dashes (e.g. qa, eu-prod).", in.Name)
	}
	if err := checkBranchPattern(in.Branch); err != nil {
		return store.Stage{}, err
	}
	if in.After != "" {
		if in.Position >= 0 {
			return store.Stage{}, invalidf("Give either a position or a stage to go after, not both.")
		}
		if in.Position, err = s.positionAfter(ctx, app, in.After); err != nil {
			return store.Stage{}, err
		}
	}
	st := store.Stage{AppID: app.ID, Name: in.Name, Branch: in.Branch, Approval: in.Approval, Protected: in.Protected, Target: "local"}
	if err := s.cfg.Store.CreateStage(ctx, &st, in.Position); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return st, conflictf("App %s has a stage %s already.", app.Name, in.Name)
		}
		return st, err
	}
	return st, nil
}

// positionAfter is the pipeline position right after the stage named after.
func (s *Service) positionAfter(ctx context.Context, app store.App, after string) (int, error) {
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, st := range stages {
		if st.Name == after {
			return st.Position + 1, nil
		}
		names = append(names, st.Name)
	}
	return 0, invalidf("App %s has no stage %q to put the new stage after; its stages are: %s.", app.Name, after, strings.Join(names, ", "))
}

// UpdateStage changes a stage's branch, approval and protection.
func (s *Service) UpdateStage(ctx context.Context, appName, stageName string, in StageSettings) (store.Stage, error) {
	_, st, err := s.appStage(ctx, appName, stageName)
	if err != nil {
		return st, err
	}
	if in.After != "" {
		return st, invalidf("\"after\" places a new stage; to move %s, set the pipeline's order (PUT /api/v1/apps/%s/stages, or seedbed stages order).", st.Name, appName)
	}
	if err := checkBranchPattern(in.Branch); err != nil {
		return st, err
	}
	st.Branch, st.Approval, st.Protected = in.Branch, in.Approval, in.Protected
	return st, s.cfg.Store.SaveStageSettings(ctx, st)
}

// DeleteStage stops a stage's functions, running the remove hooks of its
// live release around that unless opt says not to, and removes the stage
// with its history. A failing before_remove hook keeps the stage as it is.
func (s *Service) DeleteStage(ctx context.Context, appName, stageName string, opt RemoveOptions) error {
	app, st, err := s.appStage(ctx, appName, stageName)
	if err != nil {
		return err
	}
	downErr := s.takeDown(ctx, "delete", app, st, opt)
	var after *afterRemoveError
	if downErr != nil && !errors.As(downErr, &after) {
		return downErr
	}
	if err := s.cfg.Store.DeleteStage(ctx, st); err != nil {
		return err
	}
	return finishedDespite(downErr, fmt.Sprintf("Stage %s/%s is deleted.", app.Name, st.Name))
}

// ReorderStages sets the pipeline order; names lists every stage once.
func (s *Service) ReorderStages(ctx context.Context, appName string, names []string) error {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if err != nil {
		return notFoundf("No app named %q.", appName)
	}
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return err
	}
	byName := map[string]uint{}
	for _, st := range stages {
		byName[st.Name] = st.ID
	}
	var ids []uint
	seen := map[string]bool{}
	for _, n := range names {
		id, ok := byName[n]
		if !ok || seen[n] {
			return invalidf("List every stage of %s exactly once; %q is unknown or repeated.", app.Name, n)
		}
		seen[n] = true
		ids = append(ids, id)
	}
	if len(ids) != len(stages) {
		var all []string
		for _, st := range stages {
			all = append(all, st.Name)
		}
		return invalidf("List every stage of %s exactly once: %s.", app.Name, strings.Join(all, ", "))
	}
	return s.cfg.Store.ReorderStages(ctx, app.ID, ids)
}

// syncStages creates the stages seedbed.yml declares that the app lacks,
// in the file's order, and applies the file's settings to stages it creates.
// Existing stages keep the settings users gave them in the console.
func (s *Service) syncStages(ctx context.Context, app store.App, specs []stack.StageSpec, log *logSink) error {
	if len(specs) == 0 {
		return nil
	}
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, st := range stages {
		have[st.Name] = true
	}
	for _, spec := range specs {
		if have[spec.Name] {
			continue
		}
		st := store.Stage{AppID: app.ID, Name: spec.Name, Branch: spec.Branch, Approval: spec.Approval, Target: "local"}
		if err := s.cfg.Store.CreateStage(ctx, &st, -1); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		log.Printf("Added stage %s, declared in %s.", spec.Name, stack.FileName)
	}
	return nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
