package forge

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds correctly signed but arbitrary bodies to every forge's
// parser: none may panic, and every failure must be one of the classified
// errors the HTTP layer knows how to answer.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"push":{"changes":[{"old":null,"new":null}]}}`))
	f.Add([]byte(`{"object_attributes":{"iid":1,"action":"update","oldrev":"x"}}`))
	f.Add([]byte(`null`))
	events := map[Kind][]string{
		GitHub:    {"push", "pull_request", "ping"},
		GitLab:    {"Push Hook", "Tag Push Hook", "Merge Request Hook"},
		Gitea:     {"push", "delete", "pull_request"},
		Bitbucket: {"repo:push", "pullrequest:created", "pullrequest:updated", "pullrequest:fulfilled", "pullrequest:rejected"},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for kind, names := range events {
			for _, event := range names {
				evs, err := ParseAll(kind, testSecret, signed(kind, event, testSecret, body), body)
				if err != nil {
					if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
						t.Fatalf("%s %q: unclassified error %v", kind, event, err)
					}
					continue
				}
				if len(evs) == 0 {
					t.Fatalf("%s %q: no events and no error", kind, event)
				}
				for _, e := range evs {
					if e.Type == "" || (e.Repo.FullName == "" && e.Type != Ping) {
						t.Fatalf("%s %q: event without repository or type: %+v", kind, event, e)
					}
					_ = e.Summary()
				}
			}
		}
	})
}
