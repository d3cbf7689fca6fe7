package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/gitremote"
)

// pushPoll is how often a waiting push looks at its build and deploys.
const pushPoll = 50 * time.Millisecond

// gitAccess is the built-in remote's Authorize: what the user behind a
// token may do with an app's repository. Clone and fetch need the viewer
// role, push the deployer role; admins may do both. A user with no role gets
// NoAccess, as for an app that does not exist, so app names do not leak.
func (s *Server) gitAccess(ctx context.Context, email, appName string) (gitremote.Access, error) {
	app, err := s.cfg.Store.AppByName(ctx, appName)
	if errors.Is(err, store.ErrNotFound) {
		return gitremote.NoAccess, nil
	}
	if err != nil {
		return gitremote.NoAccess, fmt.Errorf("git access to app %q: %w", appName, err)
	}
	if s.cfg.Access == nil {
		return gitremote.NoAccess, nil // no roles without an access store: refuse rather than guess
	}
	u, err := s.cfg.Access.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return gitremote.NoAccess, nil // removed since the token was checked
	}
	if err != nil {
		return gitremote.NoAccess, fmt.Errorf("git access of %s: %w", email, err)
	}
	role, err := s.roleOf(ctx, u, app.ID)
	if err != nil {
		return gitremote.NoAccess, fmt.Errorf("git access of %s to app %q: %w", email, appName, err)
	}
	switch {
	case roleRank(role) >= roleRank(store.RoleDeployer):
		return gitremote.WriteAccess, nil
	case roleRank(role) >= roleRank(store.RoleViewer):
		return gitremote.ReadAccess, nil
	}
	return gitremote.NoAccess, nil
}

// onPush is the built-in remote's pre-receive step. It starts a build for
// every pushed branch or tag that a stage follows and, unless the pusher
// said `git push -o nowait`, waits for the builds and their deploys,
// relaying their progress as "remote:" lines. A failed build or deploy
// refuses the push, so `git push` exits non-zero, as with `git push heroku`,
// and cancels what it started. The remote calls it for one push of an app
// at a time, once git is sure to make the push's ref updates if it accepts,
// so a stage deploys only commits its branch then points to.
func (s *Server) onPush(ctx context.Context, push gitremote.Push, progress io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
	if err := s.authorizePush(ctx, push.User, push.App); err != nil {
		return err
	}
	var started []pipelines.PushResult
	for _, u := range push.Updates {
		p := pipelines.Push{Commit: u.New, Trigger: pipelines.TriggerPush, By: push.User, Source: push.RepoDir, Deleted: u.New == gitremote.ZeroID}
		name := u.Ref
		switch {
		case strings.HasPrefix(u.Ref, "refs/heads/"):
			p.Branch = strings.TrimPrefix(u.Ref, "refs/heads/")
			name = "branch " + p.Branch
		case strings.HasPrefix(u.Ref, "refs/tags/"):
			p.Tag = strings.TrimPrefix(u.Ref, "refs/tags/")
			name = "tag " + p.Tag
		default:
			continue
		}
		if !p.Deleted {
			// An annotated tag names a tag object: build the commit it
			// points to.
			commit, err := peelCommit(ctx, push.RepoDir, u.New)
			if err != nil {
				say("Seedbed: %s does not point at a commit; nothing to build.", name)
				continue
			}
			p.Commit = commit
			p.Message = commitMessage(ctx, push.RepoDir, commit)
			if err := s.git.PinCommit(ctx, push.RepoDir, commit); err != nil {
				return err
			}
			p.SourceBranch = strings.TrimPrefix(gitremote.PushRefPrefix, "refs/heads/") + commit
		}
		res, err := s.cfg.Pipelines.HandlePush(ctx, push.App, p)
		if err != nil {
			s.abandonPush(ctx, started, say)
			return fmt.Errorf("%s: %s", name, pipelines.ErrorMessage(err))
		}
		if res.Ignored != "" {
			say("Seedbed: %s: %s.", name, res.Ignored)
			continue
		}
		say("Seedbed: %s → build #%d, then deploy to %s", name, res.Build.ID, strings.Join(res.Stages, ", "))
		say("Seedbed: %s%s", s.cfg.PublicURL, buildURL(res.Build.ID))
		started = append(started, res)
	}
	if len(started) == 0 {
		return nil
	}
	if slices.Contains(push.Options, "nowait") {
		say("Seedbed: not waiting (-o nowait); follow the build in the console or with `seedbed builds logs ID --follow`.")
		return nil
	}
	for _, res := range started {
		if err := s.followPush(ctx, res, say); err != nil {
			s.abandonPush(ctx, started, say)
			return err
		}
	}
	return nil
}

// abandonPush cancels what a push started before it was refused (a build
// or deploy failed, another ref could not be handled, or the pusher went
// away), so that nothing of a push whose branch does not move goes live
// later. Builds and deploys that have ended already are left as they are.
func (s *Server) abandonPush(ctx context.Context, started []pipelines.PushResult, say func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, res := range started {
		for _, d := range res.Deploys {
			if _, err := s.cfg.Pipelines.CancelDeploy(ctx, d.ID); err == nil {
				say("Seedbed: deploy #%d cancelled: the push is refused.", d.ID)
			}
		}
		if _, err := s.cfg.Pipelines.CancelBuild(ctx, res.Build.ID); err == nil {
			say("Seedbed: build #%d cancelled: the push is refused.", res.Build.ID)
		}
	}
}

// followPush relays a build's and its deploys' log lines, Seedbed's and
// the commands', as they are stored until the runs end, and fails if any of
// them did not succeed.
func (s *Server) followPush(ctx context.Context, res pipelines.PushResult, say func(string, ...any)) error {
	var after uint
	// relay writes every line stored since the last call, page by page:
	// a chatty build's lines may be thousands at a time, and after the
	// run ended each of them must still be shown.
	relay := func(kind string, id uint) error {
		const page = 500
		for {
			lines, err := s.cfg.Store.LogLines(ctx, kind, id, after, page)
			if err != nil {
				return err
			}
			for _, l := range lines {
				after = l.ID
				// Every line, the commands' own output too (a compiler's
				// errors), masked as stored. Commands print through the
				// pusher's terminal: control characters are left out.
				if l.Stream == "seedbed" {
					say("  %s", terminalSafe(l.Text))
				} else {
					say("    %s", terminalSafe(l.Text))
				}
			}
			if len(lines) < page {
				return nil
			}
		}
	}
	for {
		b, err := s.cfg.Store.BuildByID(ctx, res.Build.ID)
		if err != nil {
			return err
		}
		if err := relay(store.LogBuild, b.ID); err != nil {
			return err
		}
		if b.Finished() {
			if b.Status != store.BuildSucceeded {
				return fmt.Errorf("build #%d %s: %s (log: %s%s)", b.ID, b.Status, firstLine(b.Error), s.cfg.PublicURL, buildURL(b.ID))
			}
			break
		}
		if err := sleep(ctx, pushPoll); err != nil {
			return err
		}
	}
	for _, d := range res.Deploys {
		after = 0
		for {
			cur, err := s.cfg.Store.DeployByID(ctx, d.ID)
			if err != nil {
				return err
			}
			if err := relay(store.LogDeploy, cur.ID); err != nil {
				return err
			}
			if cur.Finished() {
				switch cur.Status {
				case store.DeploySucceeded:
					st, err := s.cfg.Store.StageByID(ctx, cur.StageID)
					if err == nil {
						app, _ := s.cfg.Store.AppByID(ctx, cur.AppID)
						say("Seedbed: live on %s: %s", st.Name, s.stageURL(app.Name, st.Name))
					}
				case store.DeploySuperseded:
					say("Seedbed: deploy #%d was superseded by a newer one.", cur.ID)
				default:
					return fmt.Errorf("deploy #%d %s: %s (log: %s%s)", cur.ID, cur.Status, firstLine(cur.Error), s.cfg.PublicURL, deployURL(cur.ID))
				}
				break
			}
			if err := sleep(ctx, pushPoll); err != nil {
				return err
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// terminalSafe drops what a build's output could use to take over the
// pusher's terminal (escape sequences, carriage returns that overwrite
// git's own lines, other control characters), keeping tabs and the text.
func terminalSafe(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) {
		return s
	}
	s = ansiEscape.ReplaceAllString(s, "")
	return strings.Map(func(r rune) rune {
		if r != '\t' && unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// ansiEscape matches an ANSI escape sequence: a CSI sequence (colours,
// cursor moves), an OSC sequence (titles, links) or a two-byte escape.
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-_])`)

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// peelCommit returns the commit an object names: itself for a commit, the
// commit an annotated tag points to (through tags of tags) for a tag.
func peelCommit(ctx context.Context, repoDir, sha string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "--git-dir", repoDir, "rev-parse", "--verify", "--quiet", sha+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("peel %s to a commit: %w", sha, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// commitMessage reads a pushed commit's message from the bare repository,
// for "[skip deploy]".
func commitMessage(ctx context.Context, repoDir, sha string) string {
	out, err := exec.CommandContext(ctx, "git", "--git-dir", repoDir, "log", "-1", "--format=%B", sha).Output()
	if err != nil {
		return ""
	}
	return string(out)
}
