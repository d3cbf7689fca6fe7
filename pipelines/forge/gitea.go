package forge

import (
	"net/http"
	"strings"
)

// The subset of Gitea's payloads (modules/structs/hook.go) Seedbed reads.
// Forgejo sends the same.
type (
	gtUser struct {
		Login    string `json:"login"`
		Username string `json:"username"`
	}
	gtRepo struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
	}
	gtCommit struct {
		ID      string `json:"id"`
		Message string `json:"message"`
		URL     string `json:"url"`
		Author  *struct {
			Name     string `json:"name"`
			Username string `json:"username"`
		} `json:"author"`
	}
	gtPush struct {
		Ref          string     `json:"ref"`
		Before       string     `json:"before"`
		After        string     `json:"after"`
		Commits      []struct{} `json:"commits"`
		TotalCommits int        `json:"total_commits"`
		HeadCommit   *gtCommit  `json:"head_commit"`
		Repository   gtRepo     `json:"repository"`
		Sender       gtUser     `json:"sender"`
	}
	gtDelete struct {
		Ref        string `json:"ref"`
		RefType    string `json:"ref_type"`
		Repository gtRepo `json:"repository"`
		Sender     gtUser `json:"sender"`
	}
	gtBranch struct {
		Ref    string  `json:"ref"`
		SHA    string  `json:"sha"`
		RepoID int64   `json:"repo_id"`
		Repo   *gtRepo `json:"repo"`
	}
	gtPullRequest struct {
		Action      string `json:"action"`
		Number      int    `json:"number"`
		PullRequest struct {
			Number  int      `json:"number"`
			Title   string   `json:"title"`
			HTMLURL string   `json:"html_url"`
			Merged  bool     `json:"merged"`
			User    gtUser   `json:"user"`
			Head    gtBranch `json:"head"`
			Base    gtBranch `json:"base"`
		} `json:"pull_request"`
		Repository gtRepo `json:"repository"`
		Sender     gtUser `json:"sender"`
	}
)

func (r gtRepo) ref() RepoRef {
	return RepoRef{FullName: r.FullName, CloneURL: r.CloneURL, HTMLURL: r.HTMLURL}
}

func (u gtUser) name() string { return orElse(u.Login, u.Username) }

func parseGitea(header http.Header, body []byte) ([]Event, error) {
	name, event := firstName(header, "X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event")
	switch event {
	case "":
		return nil, malformedf("%s header is missing: the request did not come from a Gitea or Forgejo webhook", name)
	case "push", "delete", "pull_request":
	case "create":
		return nil, unsupportedf("Gitea/Forgejo event \"create\" is ignored: the push event sent with it " +
			"starts the build")
	default:
		return nil, unsupportedf("Gitea/Forgejo event %q is not one Seedbed acts on: ignored; to stop these "+
			"deliveries, choose custom events in the webhook and tick only Push, Delete and Pull Request "+
			"(and Pull Request Synchronized)", event)
	}
	data, err := jsonBody(Gitea, header, body)
	if err != nil {
		return nil, err
	}
	var e Event
	switch event {
	case "push":
		e, err = giteaPush(data)
	case "delete":
		e, err = giteaDelete(data)
	case "pull_request":
		e, err = giteaPullRequest(data)
	}
	if err != nil {
		return nil, err
	}
	return []Event{e}, nil
}

func giteaPush(data []byte) (Event, error) {
	var p gtPush
	if err := decode(Gitea, "push", data, &p); err != nil {
		return Event{}, err
	}
	switch {
	case p.Ref == "":
		return Event{}, missing(Gitea, "push", "ref")
	case p.Repository.FullName == "":
		return Event{}, missing(Gitea, "push", "repository.full_name")
	case p.After == "":
		return Event{}, missing(Gitea, "push", "after")
	}
	e := Event{
		Repo:        p.Repository.ref(),
		Before:      noSHA(p.Before),
		After:       noSHA(p.After),
		CommitCount: max(p.TotalCommits, len(p.Commits)),
		Sender:      p.Sender.name(),
	}
	if !e.setRef(p.Ref) {
		return Event{}, unsupportedRef(Gitea, p.Ref)
	}
	e.Deleted = e.After == ""
	if !e.Deleted && p.HeadCommit != nil {
		c := p.HeadCommit
		e.HeadCommit = Commit{SHA: c.ID, Message: c.Message, URL: c.URL}
		if c.Author != nil {
			e.HeadCommit.Author = orElse(c.Author.Username, c.Author.Name)
		}
	}
	return e, nil
}

// giteaDelete reads Gitea's "delete" event, which is how it reports a
// deleted branch or tag (it sends no push for that).
func giteaDelete(data []byte) (Event, error) {
	var p gtDelete
	if err := decode(Gitea, "delete", data, &p); err != nil {
		return Event{}, err
	}
	switch {
	case p.Ref == "":
		return Event{}, missing(Gitea, "delete", "ref")
	case p.Repository.FullName == "":
		return Event{}, missing(Gitea, "delete", "repository.full_name")
	}
	ref := p.Ref
	if !strings.HasPrefix(ref, "refs/") {
		switch p.RefType {
		case "branch":
			ref = "refs/heads/" + ref
		case "tag":
			ref = "refs/tags/" + ref
		default:
			return Event{}, malformedf("the Gitea/Forgejo \"delete\" payload has ref_type %q: expected branch or tag", p.RefType)
		}
	}
	e := Event{Repo: p.Repository.ref(), Deleted: true, Sender: p.Sender.name()}
	if !e.setRef(ref) {
		return Event{}, unsupportedRef(Gitea, ref)
	}
	return e, nil
}

func giteaPullRequest(data []byte) (Event, error) {
	var p gtPullRequest
	if err := decode(Gitea, "pull_request", data, &p); err != nil {
		return Event{}, err
	}
	pr := p.PullRequest
	number := orElseInt(p.Number, pr.Number)
	switch {
	case number == 0:
		return Event{}, missing(Gitea, "pull_request", "number")
	case p.Repository.FullName == "":
		return Event{}, missing(Gitea, "pull_request", "repository.full_name")
	case pr.Head.Ref == "" || pr.Head.SHA == "":
		return Event{}, missing(Gitea, "pull_request", "pull_request.head")
	case pr.Base.Ref == "":
		return Event{}, missing(Gitea, "pull_request", "pull_request.base")
	}
	var action PRAction
	switch p.Action {
	case "opened":
		action = Opened
	case "reopened":
		action = Reopened
	case "synchronized":
		action = Updated
	case "closed":
		action = Closed
	default:
		return Event{}, unsupportedf("Gitea/Forgejo pull request #%d action %q changes nothing Seedbed deploys: ignored",
			number, p.Action)
	}
	out := &PR{
		Number:     number,
		Action:     action,
		Merged:     action == Closed && pr.Merged,
		HeadBranch: pr.Head.Ref,
		HeadSHA:    pr.Head.SHA,
		BaseBranch: pr.Base.Ref,
		Title:      pr.Title,
		URL:        pr.HTMLURL,
		Author:     pr.User.name(),
		HeadRepo:   p.Repository.FullName,
	}
	if pr.Head.Repo != nil && pr.Head.Repo.FullName != "" {
		out.HeadRepo = pr.Head.Repo.FullName
	}
	baseID := pr.Base.RepoID
	if baseID == 0 {
		baseID = p.Repository.ID
	}
	out.Fork = !strings.EqualFold(out.HeadRepo, p.Repository.FullName) ||
		(pr.Head.RepoID != 0 && baseID != 0 && pr.Head.RepoID != baseID)
	return Event{
		Type:   PullRequest,
		Repo:   p.Repository.ref(),
		After:  pr.Head.SHA,
		PR:     out,
		Sender: p.Sender.name(),
	}, nil
}
