package forge

import (
	"net/http"
)

// The subset of GitLab's payloads Seedbed reads.
type (
	glProject struct {
		ID                int    `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
		GitHTTPURL        string `json:"git_http_url"`
		WebURL            string `json:"web_url"`
	}
	glCommit struct {
		ID      string `json:"id"`
		Message string `json:"message"`
		URL     string `json:"url"`
		Author  struct {
			Name string `json:"name"`
		} `json:"author"`
	}
	glPush struct {
		Ref               string     `json:"ref"`
		Before            string     `json:"before"`
		After             string     `json:"after"`
		CheckoutSHA       string     `json:"checkout_sha"`
		UserUsername      string     `json:"user_username"`
		UserName          string     `json:"user_name"`
		Project           glProject  `json:"project"`
		Commits           []glCommit `json:"commits"`
		TotalCommitsCount int        `json:"total_commits_count"`
	}
	glMergeRequest struct {
		User struct {
			Username string `json:"username"`
		} `json:"user"`
		Project          glProject `json:"project"`
		ObjectAttributes struct {
			IID             int        `json:"iid"`
			Action          string     `json:"action"`
			Title           string     `json:"title"`
			URL             string     `json:"url"`
			SourceBranch    string     `json:"source_branch"`
			TargetBranch    string     `json:"target_branch"`
			SourceProjectID int        `json:"source_project_id"`
			TargetProjectID int        `json:"target_project_id"`
			Source          *glProject `json:"source"`
			LastCommit      *glCommit  `json:"last_commit"`
			OldRev          string     `json:"oldrev"`
		} `json:"object_attributes"`
	}
)

func (p glProject) ref() RepoRef {
	return RepoRef{FullName: p.PathWithNamespace, CloneURL: p.GitHTTPURL, HTMLURL: p.WebURL}
}

func (c glCommit) commit() Commit {
	return Commit{SHA: c.ID, Message: c.Message, URL: c.URL, Author: c.Author.Name}
}

func parseGitLab(header http.Header, body []byte) ([]Event, error) {
	var (
		e   Event
		err error
	)
	switch event := header.Get("X-Gitlab-Event"); event {
	case "":
		return nil, malformedf("X-Gitlab-Event header is missing: the request did not come from a GitLab webhook")
	case "Push Hook", "Tag Push Hook":
		e, err = gitlabPush(event, body)
	case "Merge Request Hook":
		e, err = gitlabMergeRequest(body)
	default:
		return nil, unsupportedf("GitLab event %q is not one Seedbed acts on: ignored; to stop these deliveries, "+
			"tick only Push events, Tag push events and Merge request events in the GitLab webhook", event)
	}
	if err != nil {
		return nil, err
	}
	return []Event{e}, nil
}

func gitlabPush(event string, data []byte) (Event, error) {
	var p glPush
	if err := decode(GitLab, event, data, &p); err != nil {
		return Event{}, err
	}
	switch {
	case p.Ref == "":
		return Event{}, missing(GitLab, event, "ref")
	case p.Project.PathWithNamespace == "":
		return Event{}, missing(GitLab, event, "project.path_with_namespace")
	case p.After == "":
		return Event{}, missing(GitLab, event, "after")
	}
	e := Event{
		Repo:        p.Project.ref(),
		Before:      noSHA(p.Before),
		After:       noSHA(p.After),
		CommitCount: max(p.TotalCommitsCount, len(p.Commits)),
		Sender:      orElse(p.UserUsername, p.UserName),
	}
	if !e.setRef(p.Ref) {
		return Event{}, unsupportedRef(GitLab, p.Ref)
	}
	e.Deleted = e.After == ""
	if e.Deleted {
		return e, nil
	}
	// checkout_sha is the commit a tag points to; after may be the tag
	// object. Commits come oldest first and are capped at 20.
	head := orElse(noSHA(p.CheckoutSHA), e.After)
	e.HeadCommit = Commit{SHA: head}
	for _, c := range p.Commits {
		if c.ID == head {
			e.HeadCommit = c.commit()
		}
	}
	return e, nil
}

func gitlabMergeRequest(data []byte) (Event, error) {
	const event = "Merge Request Hook"
	var p glMergeRequest
	if err := decode(GitLab, event, data, &p); err != nil {
		return Event{}, err
	}
	mr := p.ObjectAttributes
	switch {
	case mr.IID == 0:
		return Event{}, missing(GitLab, event, "object_attributes.iid")
	case p.Project.PathWithNamespace == "":
		return Event{}, missing(GitLab, event, "project.path_with_namespace")
	case mr.SourceBranch == "" || mr.TargetBranch == "":
		return Event{}, missing(GitLab, event, "object_attributes.source_branch or target_branch")
	}
	out := &PR{
		Number:     mr.IID,
		HeadBranch: mr.SourceBranch,
		BaseBranch: mr.TargetBranch,
		Title:      mr.Title,
		URL:        mr.URL,
		HeadRepo:   p.Project.PathWithNamespace,
	}
	if mr.Source != nil && mr.Source.PathWithNamespace != "" {
		out.HeadRepo = mr.Source.PathWithNamespace
	}
	out.Fork = mr.SourceProjectID != 0 && mr.TargetProjectID != 0 && mr.SourceProjectID != mr.TargetProjectID
	e := Event{
		Type:   PullRequest,
		Repo:   p.Project.ref(),
		PR:     out,
		Sender: p.User.Username,
	}
	if c := mr.LastCommit; c != nil && c.ID != "" {
		out.HeadSHA, e.After, e.HeadCommit = c.ID, c.ID, c.commit()
	}
	switch mr.Action {
	case "open":
		out.Action = Opened
		out.Author = p.User.Username
	case "reopen":
		out.Action = Reopened
	case "update":
		// An update without oldrev changed the title, labels or
		// assignees, not the code.
		if mr.OldRev == "" {
			return Event{}, unsupportedf("GitLab merge request !%d was edited without new commits: "+
				"nothing to deploy, ignored", mr.IID)
		}
		out.Action = Updated
		e.Before = noSHA(mr.OldRev)
	case "close":
		out.Action = Closed
	case "merge":
		out.Action = Closed
		out.Merged = true
	default:
		return Event{}, unsupportedf("GitLab merge request !%d action %q changes nothing Seedbed deploys: ignored",
			mr.IID, mr.Action)
	}
	// Closing needs no code; anything that deploys does.
	if out.Action != Closed && out.HeadSHA == "" {
		return Event{}, missing(GitLab, event, "object_attributes.last_commit")
	}
	return e, nil
}
