package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/store"
)

// Artifacts is what the pipelines need of the artifact store.
type Artifacts interface {
	// Has reports whether the artifact with digest is stored.
	Has(digest string) bool
	// Extract unpacks the artifact with digest into destDir.
	Extract(ctx context.Context, digest, destDir string) error
}

// BuildPhases decodes the phases a build recorded (store.Build.Phases).
func BuildPhases(b store.Build) []builders.Phase {
	var ps []builders.Phase
	if b.Phases != "" {
		_ = json.Unmarshal([]byte(b.Phases), &ps) // written by this package only
	}
	return ps
}

// reusePlan is what an incremental build rebuilds and what it takes,
// unchanged, from the release live in its target stage.
type reusePlan struct {
	// only names the services to build; nil means all.
	only []string
	// reused holds the reused artifacts by "service/function".
	reused map[string]store.Artifact
}

// planIncremental decides which services of st the build b rebuilds:
// those whose files (under their path) or whose entry in the stack file
// changed since the commit of the release live in stage, and those that
// depend on a rebuilt service. The others reuse that release's artifacts.
// Anything that keeps it from comparing (no live release, its commit
// missing from the history, a full build asked for) rebuilds everything;
// the log says why in every case.
func (s *Service) planIncremental(ctx context.Context, b store.Build, stage *store.Stage, co builders.Checkout, st *stack.Stack, log *logSink) (reusePlan, error) {
	all := reusePlan{}
	switch {
	case b.FullBuild:
		log.Printf("Full build asked for: rebuilding every service.")
		return all, nil
	case stage == nil:
		log.Printf("No deploy waits for this build: rebuilding every service.")
		return all, nil
	case stage.LiveReleaseID == nil:
		log.Printf("Stage %s serves no release yet: building every service.", stage.Name)
		return all, nil
	}
	rel, err := s.cfg.Store.ReleaseByID(ctx, *stage.LiveReleaseID)
	if err != nil {
		return all, fmt.Errorf("load the release live in %s: %w", stage.Name, err)
	}
	m, err := decodeManifest(rel.Manifest)
	if err != nil {
		return all, err
	}
	since := fmt.Sprintf("release #%d (commit %s)", rel.ID, short(m.Commit))
	if m.Commit == co.CommitSHA {
		since = fmt.Sprintf("release #%d (the same commit %s)", rel.ID, short(m.Commit))
	}
	oldFile, err := builders.FileAt(co.Dir, m.Commit, stack.FileName)
	if errors.Is(err, builders.ErrNoCommit) {
		log.Printf("Commit %s of %s, live in %s, is not in the history of %s (rewritten by a force push?): rebuilding every service.", short(m.Commit), fmt.Sprintf("release #%d", rel.ID), stage.Name, short(co.CommitSHA))
		return all, nil
	}
	if err != nil {
		log.Printf("Cannot read %s of %s (%v): rebuilding every service.", stack.FileName, since, err)
		return all, nil
	}
	oldStack, err := stack.Parse(oldFile)
	if err != nil {
		log.Printf("%s of %s does not parse any more: rebuilding every service.", stack.FileName, since)
		return all, nil
	}
	changed, err := builders.ChangedPaths(ctx, co.Dir, m.Commit, co.CommitSHA)
	if err != nil {
		log.Printf("Cannot compare with %s (%v): rebuilding every service.", since, err)
		return all, nil
	}
	oldArts, err := s.cfg.Store.Artifacts(ctx, rel.BuildID)
	if err != nil {
		return all, fmt.Errorf("load the artifacts of build #%d: %w", rel.BuildID, err)
	}
	sizes := map[string]int64{}
	for _, a := range oldArts {
		sizes[a.Digest] = a.Size
	}
	digests := map[string]string{}
	for _, f := range m.Functions {
		digests[f.Service+"/"+f.Name] = f.Digest
	}
	oldSvcs := map[string]stack.Service{}
	for _, svc := range oldStack.Services {
		oldSvcs[svc.Name] = svc
	}

	reasons := map[string]string{} // rebuilt service -> why
	for _, svc := range st.DeployOrder() {
		if why := s.rebuildReason(svc, oldSvcs, changed, digests); why != "" {
			reasons[svc.Name] = why
			continue
		}
		for _, d := range svc.DependsOn {
			if _, ok := reasons[d]; ok {
				reasons[svc.Name] = fmt.Sprintf("service %s, which it depends on, is rebuilt", d)
				break
			}
		}
	}
	plan := reusePlan{only: []string{}, reused: map[string]store.Artifact{}}
	for _, svc := range st.Services {
		if why, ok := reasons[svc.Name]; ok {
			log.Printf("Service %s is rebuilt: %s.", svc.Name, why)
			plan.only = append(plan.only, svc.Name)
			continue
		}
		why := fmt.Sprintf("unchanged since %s", since)
		var ds []string
		for _, fn := range svc.Functions {
			d := digests[svc.Name+"/"+fn.Name]
			plan.reused[svc.Name+"/"+fn.Name] = store.Artifact{Service: svc.Name, Function: fn.Name, Digest: d, Size: sizes[d], ReusedFrom: rel.BuildID, ReuseReason: why}
			if !slices.Contains(ds, d) {
				ds = append(ds, d)
			}
		}
		log.Printf("Service %s %s: reusing %s", svc.Name, why, strings.Join(ds, ", "))
	}
	return plan, nil
}

// rebuildReason says why svc must be rebuilt, or "" when the artifacts
// of the release it is compared with can serve it.
func (s *Service) rebuildReason(svc stack.Service, old map[string]stack.Service, changed []string, digests map[string]string) string {
	prev, ok := old[svc.Name]
	if !ok {
		return "it is new"
	}
	if !reflect.DeepEqual(prev, svc) {
		return fmt.Sprintf("its entry in %s changed", stack.FileName)
	}
	var files []string
	for _, p := range changed {
		if svc.Path == "." || p == svc.Path || strings.HasPrefix(p, svc.Path+"/") {
			files = append(files, p)
		}
	}
	if len(files) > 0 {
		msg := fmt.Sprintf("%d file(s) changed under %s (%s", len(files), svc.Path, path.Clean(files[0]))
		if len(files) > 1 {
			msg += ", …"
		}
		return msg + ")"
	}
	for _, fn := range svc.Functions {
		d, ok := digests[svc.Name+"/"+fn.Name]
		if !ok {
			return fmt.Sprintf("function %s has no artifact in that release", fn.Name)
		}
		if s.cfg.Artifacts != nil && !s.cfg.Artifacts.Has(d) {
			return fmt.Sprintf("the artifact %s of function %s is no longer stored", shortDigest(d), fn.Name)
		}
	}
	return ""
}
