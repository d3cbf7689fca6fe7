package forge

import (
	"errors"
	"fmt"
	"strings"
)

// Kind names a forge. Its value is the lower-case word used in webhook URLs
// (/webhooks/{kind}/{app}) and stored with each delivery.
type Kind string

// The forges Seedbed understands. Forgejo sends Gitea's payloads and
// headers, so it is parsed as Gitea.
const (
	GitHub    Kind = "github"
	GitLab    Kind = "gitlab"
	Gitea     Kind = "gitea"
	Bitbucket Kind = "bitbucket"
)

// Kinds lists every Kind, in the order the console shows them.
func Kinds() []Kind { return []Kind{GitHub, GitLab, Gitea, Bitbucket} }

// ErrUnknownKind is wrapped by errors for a forge name Seedbed does not know.
var ErrUnknownKind = errors.New("unknown forge")

// ParseKind reads a forge name from a URL path segment or a setting. It
// ignores case and surrounding space and accepts "forgejo" for Gitea. An
// unknown name gives an error wrapping ErrUnknownKind that lists the valid ones.
func ParseKind(s string) (Kind, error) {
	switch k := strings.ToLower(strings.TrimSpace(s)); k {
	case "github", "gitlab", "gitea", "bitbucket":
		return Kind(k), nil
	case "forgejo":
		return Gitea, nil
	}
	return "", &deliveryError{
		sentinel: ErrUnknownKind,
		msg:      fmt.Sprintf("unknown forge %q: use one of github, gitlab, gitea, forgejo or bitbucket", s),
	}
}

// DisplayName is the forge's name as people write it ("GitHub"), for
// messages and the console. Gitea's covers Forgejo too.
func (k Kind) DisplayName() string {
	switch k {
	case GitHub:
		return "GitHub"
	case GitLab:
		return "GitLab"
	case Gitea:
		return "Gitea/Forgejo"
	case Bitbucket:
		return "Bitbucket"
	}
	return string(k)
}

func (k Kind) valid() bool {
	switch k {
	case GitHub, GitLab, Gitea, Bitbucket:
		return true
	}
	return false
}
