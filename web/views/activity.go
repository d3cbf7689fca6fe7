package views

import "net/url"

// activityWho names who started an entry; automatic triggers read as Seedbed.
func activityWho(e ActivityRow) string {
	if e.Who != "" {
		return e.Who
	}
	switch e.Trigger {
	case "webhook":
		return "A webhook"
	case "poll":
		return "Polling"
	case "push":
		return "A push"
	}
	return "Seedbed"
}

// activityVerb says what an entry did, by its kind and trigger.
func activityVerb(e ActivityRow) string {
	if e.Kind == "build" {
		return "started"
	}
	switch e.Trigger {
	case "promotion":
		return "promoted with"
	case "rollback":
		return "rolled back with"
	}
	return "started"
}

// decisionWord is what a person's decision on a promotion was.
func decisionWord(status string) string {
	if status == "rejected" {
		return "rejected"
	}
	return "approved"
}

// buildsListPath is an app's builds list.
func buildsListPath(app string) string { return "/apps/" + url.PathEscape(app) + "/builds" }
