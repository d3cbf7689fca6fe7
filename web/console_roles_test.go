package web_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/seedbed/seedbed/store"
)

// testIDs lists the data-testid values of a page.
var testIDAttr = regexp.MustCompile(`data-testid="([^"]+)"`)

func testIDs(body string) map[string]bool {
	out := map[string]bool{}
	for _, m := range testIDAttr.FindAllStringSubmatch(body, -1) {
		out[m[1]] = true
	}
	return out
}

// A member sees only the forms their role may use: a viewer sees no
// deploy, cancel or variable form, and only owners see stage settings,
// members and the app's settings (issue 10: "a viewer sees owner-only
// forms; submitting gets 403").
func TestPagesShowOnlyTheFormsARoleMayUse(t *testing.T) {
	rf := setupRoles(t)
	pages := []struct {
		name, path string
		// testid → the weakest role that sees it; "" marks what only
		// those below owner see.
		forms map[string]string
	}{
		{"app", "/apps/shop", map[string]string{
			"deploy-form-dev": store.RoleDeployer, "add-stage-form": store.RoleOwner, "order-form": store.RoleOwner,
			"app-settings": store.RoleOwner, "app-members": store.RoleViewer}},
		{"stage settings", "/apps/shop/stages/dev/settings", map[string]string{
			"stage-form": store.RoleOwner, "var-form": store.RoleDeployer, "danger-zone": store.RoleOwner,
			"stage-settings-readonly": ""}},
		{"members", "/apps/shop/members", map[string]string{"member-form": store.RoleOwner}},
		{"build", fmt.Sprintf("/builds/%d", rf.build), map[string]string{"cancel": store.RoleDeployer}},
		{"deploy", fmt.Sprintf("/deploys/%d", rf.deploy), map[string]string{"cancel": store.RoleDeployer}},
	}
	rank := map[string]int{store.RoleViewer: 1, store.RoleDeployer: 2, store.RoleOwner: 3}
	for _, role := range []string{store.RoleViewer, store.RoleDeployer, store.RoleOwner} {
		u := rf.users[role]
		for _, p := range pages {
			t.Run(role+"/"+p.name, func(t *testing.T) {
				status, body := rf.do(t, u, http.MethodGet, p.path)
				if status != http.StatusOK {
					t.Fatalf("GET %s as %s: %d", p.path, role, status)
				}
				ids := testIDs(body)
				for id, need := range p.forms {
					want := need != "" && rank[role] >= rank[need]
					if need == "" {
						want = role != store.RoleOwner
					}
					if ids[id] != want {
						t.Errorf("%s as %s: data-testid=%s shown = %v, want %v", p.path, role, id, ids[id], want)
					}
				}
			})
		}
	}
}
