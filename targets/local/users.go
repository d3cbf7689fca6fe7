package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// DefaultUIDBase is the first host uid (and gid) of function users when
// Config.UIDBase is zero.
const DefaultUIDBase = 1_100_000

// maxApps bounds the uids the target hands out: base to base+maxApps-1.
const maxApps = 1_000_000

// usersFile records which app has which uid, in the target's folder.
const usersFile = "uids.json"

// appUsers gives each app a host user of its own for its functions when
// they run sandboxed: uid = gid = base + n, where n is the order in which
// the target first ran a function of the app. The assignment is kept in
// Dir/uids.json, so an app keeps its uid across restarts, every function
// of one app shares it and no two apps ever get the same one. It is never
// 0 and never Seedbed's own uid (New refuses a base that could be).
type appUsers struct {
	path string
	base int

	mu   sync.Mutex
	apps map[string]int
}

// loadUsers reads the assignment in dir, or starts an empty one.
func loadUsers(dir string, base int) (*appUsers, error) {
	if base <= 0 {
		base = DefaultUIDBase
	}
	if self := os.Getuid(); base < 1000 || (self >= base && self < base+maxApps) {
		return nil, fmt.Errorf("uid base %d: function users would be system users or Seedbed's own user (uid %d); use a base of 1000 or more, away from %d", base, self, self)
	}
	u := &appUsers{path: filepath.Join(dir, usersFile), base: base, apps: map[string]int{}}
	b, err := os.ReadFile(u.path)
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read function users: %w", err)
	}
	if err := json.Unmarshal(b, &u.apps); err != nil {
		return nil, fmt.Errorf("read function users from %s: %w", u.path, err)
	}
	for app, uid := range u.apps {
		if uid < base || uid >= base+maxApps {
			return nil, fmt.Errorf("%s gives app %q uid %d, outside %d-%d: remove the file or set the uid base it was made with", u.path, app, uid, base, base+maxApps-1)
		}
	}
	return u, nil
}

// uid returns the app's uid, assigning the next free one on first use.
func (u *appUsers) uid(app string) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if uid, ok := u.apps[app]; ok {
		return uid, nil
	}
	next := u.base
	for _, uid := range u.apps {
		next = max(next, uid+1)
	}
	if next >= u.base+maxApps {
		return 0, fmt.Errorf("no function user left for app %q (%d apps)", app, len(u.apps))
	}
	u.apps[app] = next
	b, err := json.MarshalIndent(u.apps, "", "  ")
	if err == nil {
		tmp := u.path + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, u.path)
		}
	}
	if err != nil {
		delete(u.apps, app)
		return 0, fmt.Errorf("record the function user of app %q: %w", app, err)
	}
	return next, nil
}
