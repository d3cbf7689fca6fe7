package forge

import (
	"net/http"
	"strings"
)

// The subset of GitHub's payloads Seedbed reads.
type (
	ghUser struct {
		Login string `json:"login"`
	}
	ghRepo struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
	}
	ghCommit struct {
		ID      string `json:"id"`
		Message string `json:"message"`
		URL     string `json:"url"`
		Author  struct {
			Name     string `json:"name"`
			Username string `json:"username"`
		} `json:"author"`
	}
	ghPush struct {
		Ref        string     `json:"ref"`
		Before     string     `json:"before"`
		After      string     `json:"after"`
		Deleted    bool       `json:"deleted"`
		Commits    []struct{} `json:"commits"`
		HeadCommit *ghCommit  `json:"head_commit"`
		Repository ghRepo     `json:"repository"`
		Sender     ghUser     `json:"sender"`
	}
	ghBranch struct {
		Ref  string  `json:"ref"`
		SHA  string  `json:"sha"`
		Repo *ghRepo `json:"repo"`
	}
	ghPullRequest struct {
		Action      string `json:"action"`
		Number      int    `json:"number"`
		Before      string `json:"before"`
		PullRequest struct {
			Number  int      `json:"number"`
			Title   string   `json:"title"`
			HTMLURL string   `json:"html_url"`
			Merged  bool     `json:"merged"`
			User    ghUser   `json:"user"`
			Head    ghBranch `json:"head"`
			Base    ghBranch `json:"base"`
		} `json:"pull_request"`
		Repository ghRepo `json:"repository"`
		Sender     ghUser `json:"sender"`
	}
	ghPing struct {
		Zen        string  `json:"zen"`
		HookID     int64   `json:"hook_id"`
		Repository *ghRepo `json:"repository"`
		Sender     ghUser  `json:"sender"`
	}
)

func (r ghRepo) ref() RepoRef {
	return RepoRef{FullName: r.FullName, CloneURL: r.CloneURL, HTMLURL: r.HTMLURL}
}

func parseGitHub(header http.Header, body []byte) ([]Event, error) {
	event := header.Get("X-GitHub-Event")
	switch event {
	case "":
		return nil, malformedf("X-GitHub-Event header is missing: the request did not come from a GitHub webhook")
	case "ping", "push", "pull_request":
	default:
		return nil, unsupportedf("GitHub event %q is not one Seedbed acts on: ignored; to stop these deliveries, "+
			"choose \"Let me select individual events\" in the GitHub webhook and tick only Pushes and Pull requests", event)
	}
	data, err := jsonBody(GitHub, header, body)
	if err != nil {
		return nil, err
	}
	var e Event
	switch event {
	case "ping":
		e, err = githubPing(data)
	case "push":
		e, err = githubPush(data)
	case "pull_request":
		e, err = githubPullRequest(data)
	}
	if err != nil {
		return nil, err
	}
	return []Event{e}, nil
}

func githubPing(data []byte) (Event, error) {
	var p ghPing
	if err := decode(GitHub, "ping", data, &p); err != nil {
		return Event{}, err
	}
	if p.HookID == 0 && p.Zen == "" {
		return Event{}, missing(GitHub, "ping", "hook_id")
	}
	e := Event{Type: Ping, Sender: p.Sender.Login}
	if p.Repository != nil {
		e.Repo = p.Repository.ref()
	}
	return e, nil
}

func githubPush(data []byte) (Event, error) {
	var p ghPush
	if err := decode(GitHub, "push", data, &p); err != nil {
		return Event{}, err
	}
	switch {
	case p.Ref == "":
		return Event{}, missing(GitHub, "push", "ref")
	case p.Repository.FullName == "":
		return Event{}, missing(GitHub, "push", "repository.full_name")
	case p.After == "":
		return Event{}, missing(GitHub, "push", "after")
	}
	e := Event{
		Repo:        p.Repository.ref(),
		Before:      noSHA(p.Before),
		After:       noSHA(p.After),
		CommitCount: len(p.Commits),
		Sender:      p.Sender.Login,
	}
	if !e.setRef(p.Ref) {
		return Event{}, unsupportedRef(GitHub, p.Ref)
	}
	e.Deleted = p.Deleted || e.After == ""
	if e.Deleted {
		e.After = ""
	} else if c := p.HeadCommit; c != nil {
		e.HeadCommit = Commit{SHA: c.ID, Message: c.Message, URL: c.URL, Author: orElse(c.Author.Username, c.Author.Name)}
	}
	return e, nil
}

func githubPullRequest(data []byte) (Event, error) {
	var p ghPullRequest
	if err := decode(GitHub, "pull_request", data, &p); err != nil {
		return Event{}, err
	}
	pr := p.PullRequest
	number := orElseInt(p.Number, pr.Number)
	switch {
	case number == 0:
		return Event{}, missing(GitHub, "pull_request", "number")
	case p.Repository.FullName == "":
		return Event{}, missing(GitHub, "pull_request", "repository.full_name")
	case pr.Head.Ref == "" || pr.Head.SHA == "":
		return Event{}, missing(GitHub, "pull_request", "pull_request.head")
	case pr.Base.Ref == "":
		return Event{}, missing(GitHub, "pull_request", "pull_request.base")
	}
	var action PRAction
	switch p.Action {
	case "opened":
		action = Opened
	case "reopened":
		action = Reopened
	case "synchronize":
		action = Updated
	case "closed":
		action = Closed
	default:
		return Event{}, unsupportedf("GitHub pull request #%d action %q changes nothing Seedbed deploys: ignored",
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
		Author:     pr.User.Login,
	}
	// A head repository of null means the fork was deleted since.
	if pr.Head.Repo != nil {
		out.HeadRepo = pr.Head.Repo.FullName
	}
	out.Fork = out.HeadRepo == "" || !strings.EqualFold(out.HeadRepo, p.Repository.FullName)
	e := Event{
		Type:   PullRequest,
		Repo:   p.Repository.ref(),
		After:  pr.Head.SHA,
		PR:     out,
		Sender: p.Sender.Login,
	}
	if action == Updated {
		e.Before = noSHA(p.Before)
	}
	return e, nil
}

func orElse(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}

func orElseInt(n, alt int) int {
	if n != 0 {
		return n
	}
	return alt
}
