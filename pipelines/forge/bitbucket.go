package forge

import (
	"net/http"
	"strings"
)

// The subset of Bitbucket Cloud's payloads Seedbed reads.
type (
	bbLink struct {
		Href string `json:"href"`
	}
	bbUser struct {
		Nickname    string `json:"nickname"`
		DisplayName string `json:"display_name"`
	}
	bbRepo struct {
		FullName string `json:"full_name"`
		Links    struct {
			HTML bbLink `json:"html"`
		} `json:"links"`
	}
	bbCommit struct {
		Hash    string `json:"hash"`
		Message string `json:"message"`
		Author  struct {
			Raw  string  `json:"raw"`
			User *bbUser `json:"user"`
		} `json:"author"`
		Links struct {
			HTML bbLink `json:"html"`
		} `json:"links"`
	}
	bbRef struct {
		Type   string    `json:"type"`
		Name   string    `json:"name"`
		Target *bbCommit `json:"target"`
	}
	bbChange struct {
		Old     *bbRef     `json:"old"`
		New     *bbRef     `json:"new"`
		Closed  bool       `json:"closed"`
		Commits []struct{} `json:"commits"`
	}
	bbPush struct {
		Push struct {
			Changes []bbChange `json:"changes"`
		} `json:"push"`
		Actor      bbUser `json:"actor"`
		Repository bbRepo `json:"repository"`
	}
	bbEndpoint struct {
		Branch struct {
			Name string `json:"name"`
		} `json:"branch"`
		Commit *struct {
			Hash string `json:"hash"`
		} `json:"commit"`
		Repository *bbRepo `json:"repository"`
	}
	bbPullRequest struct {
		PullRequest struct {
			ID          int        `json:"id"`
			Title       string     `json:"title"`
			State       string     `json:"state"`
			Author      bbUser     `json:"author"`
			Source      bbEndpoint `json:"source"`
			Destination bbEndpoint `json:"destination"`
			Links       struct {
				HTML bbLink `json:"html"`
			} `json:"links"`
		} `json:"pullrequest"`
		Actor      bbUser `json:"actor"`
		Repository bbRepo `json:"repository"`
	}
)

func (u bbUser) name() string { return orElse(u.Nickname, u.DisplayName) }

// ref builds a RepoRef. Bitbucket sends no clone URL; its HTTPS clone
// address is the repository page with ".git".
func (r bbRepo) ref() RepoRef {
	ref := RepoRef{FullName: r.FullName, HTMLURL: r.Links.HTML.Href}
	if ref.HTMLURL != "" {
		ref.CloneURL = strings.TrimSuffix(ref.HTMLURL, "/") + ".git"
	}
	return ref
}

func (c bbCommit) commit() Commit {
	author := ""
	if c.Author.User != nil {
		author = c.Author.User.name()
	}
	if author == "" {
		// raw is "Name <email>".
		author, _, _ = strings.Cut(c.Author.Raw, "<")
		author = strings.TrimSpace(author)
	}
	return Commit{SHA: c.Hash, Message: c.Message, Author: author, URL: c.Links.HTML.Href}
}

func parseBitbucket(header http.Header, body []byte) ([]Event, error) {
	switch event := header.Get("X-Event-Key"); event {
	case "":
		return nil, malformedf("X-Event-Key header is missing: the request did not come from a Bitbucket webhook")
	case "repo:push":
		return bitbucketPush(body)
	case "pullrequest:created", "pullrequest:updated", "pullrequest:fulfilled", "pullrequest:rejected":
		e, err := bitbucketPullRequest(event, body)
		if err != nil {
			return nil, err
		}
		return []Event{e}, nil
	default:
		return nil, unsupportedf("Bitbucket event %q is not one Seedbed acts on: ignored; to stop these "+
			"deliveries, tick only Repository Push and Pull Request Created, Updated, Merged and Declined "+
			"in the Bitbucket webhook", event)
	}
}

func bitbucketPush(data []byte) ([]Event, error) {
	const event = "repo:push"
	var p bbPush
	if err := decode(Bitbucket, event, data, &p); err != nil {
		return nil, err
	}
	if p.Repository.FullName == "" {
		return nil, missing(Bitbucket, event, "repository.full_name")
	}
	var events []Event
	for _, ch := range p.Push.Changes {
		ref := ch.New
		if ref == nil {
			ref = ch.Old
		}
		if ref == nil || ref.Name == "" {
			return nil, missing(Bitbucket, event, "push.changes[].new or old")
		}
		e := Event{
			Repo:        p.Repository.ref(),
			Deleted:     ch.New == nil || ch.Closed,
			CommitCount: len(ch.Commits),
			Sender:      p.Actor.name(),
		}
		switch ref.Type {
		case "branch", "named_branch":
			e.setRef("refs/heads/" + ref.Name)
		case "tag":
			e.setRef("refs/tags/" + ref.Name)
		default:
			continue // Mercurial bookmarks and the like
		}
		if ch.Old != nil && ch.Old.Target != nil {
			e.Before = ch.Old.Target.Hash
		}
		if !e.Deleted && ch.New.Target != nil {
			e.After = ch.New.Target.Hash
			e.HeadCommit = ch.New.Target.commit()
		}
		if !e.Deleted && e.After == "" {
			return nil, missing(Bitbucket, event, "push.changes[].new.target.hash")
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		return nil, unsupportedf("the Bitbucket push lists no branch or tag changes: nothing to deploy, ignored")
	}
	return events, nil
}

func bitbucketPullRequest(event string, data []byte) (Event, error) {
	var p bbPullRequest
	if err := decode(Bitbucket, event, data, &p); err != nil {
		return Event{}, err
	}
	pr := p.PullRequest
	switch {
	case pr.ID == 0:
		return Event{}, missing(Bitbucket, event, "pullrequest.id")
	case p.Repository.FullName == "":
		return Event{}, missing(Bitbucket, event, "repository.full_name")
	case pr.Source.Branch.Name == "" || pr.Source.Commit == nil || pr.Source.Commit.Hash == "":
		return Event{}, missing(Bitbucket, event, "pullrequest.source")
	case pr.Destination.Branch.Name == "":
		return Event{}, missing(Bitbucket, event, "pullrequest.destination")
	}
	out := &PR{
		Number:     pr.ID,
		HeadBranch: pr.Source.Branch.Name,
		HeadSHA:    pr.Source.Commit.Hash,
		BaseBranch: pr.Destination.Branch.Name,
		Title:      pr.Title,
		URL:        pr.Links.HTML.Href,
		Author:     pr.Author.name(),
		HeadRepo:   p.Repository.FullName,
	}
	switch event {
	case "pullrequest:created":
		out.Action = Opened
	case "pullrequest:updated":
		out.Action = Updated
	case "pullrequest:fulfilled":
		out.Action, out.Merged = Closed, true
	case "pullrequest:rejected":
		out.Action = Closed
	}
	if r := pr.Source.Repository; r != nil && r.FullName != "" {
		out.HeadRepo = r.FullName
	}
	out.Fork = !strings.EqualFold(out.HeadRepo, p.Repository.FullName)
	return Event{
		Type:   PullRequest,
		Repo:   p.Repository.ref(),
		After:  out.HeadSHA,
		PR:     out,
		Sender: p.Actor.name(),
	}, nil
}
