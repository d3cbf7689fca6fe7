package builders

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// User is who build commands, install steps and hooks run as: Seedbed's
// own user, or, when Seedbed runs as root, an unprivileged one, so that
// the code of a build cannot read Seedbed's database, its secret key or
// other apps' artifacts. Make one with ResolveUser.
//
// With UserAuto as root, every app has a user of its own (see ForApp):
// one app's build cannot read or spoil another's workspace or caches.
type User struct {
	// Name is the user's name, or "" for ids no user has.
	Name string
	// UID and GID are the ids commands run with. For a per-app user
	// (PerApp) not yet given an app, they are AppIDBase's: the ids of
	// builds that belong to no app (and of the start-up check).
	UID, GID int
	// Switch says whether commands switch to UID and GID. When false they
	// run as Seedbed's own user, which UID and GID then are.
	Switch bool
	// PerApp says that each app's commands run as ids of their own:
	// AppIDBase plus the app's id (see ForApp).
	PerApp bool
	// App is the id of the app this user is, for a per-app user given
	// one by ForApp; 0 otherwise.
	App uint
	// Setting is what the user was resolved from: "auto", "none", a name
	// or "uid:gid".
	Setting string
	// Why says why builds run as Seedbed's own user although the
	// setting asked for another (auto, when that user cannot work here).
	Why string
}

// Build user settings.
const (
	// UserAuto runs each app's builds and hooks as a user of its own when
	// Seedbed runs as root: uid and gid AppIDBase + the app's id (see
	// User.ForApp), ids no account has; as Seedbed's own user otherwise.
	UserAuto = "auto"
	// UserNone runs builds as Seedbed's own user.
	UserNone = "none"
)

// AppIDBase is where the per-app build users' ids start: with UserAuto,
// the builds and hooks of the app with id N run as uid and gid
// AppIDBase+N. It is 0x70000000, in the range systemd leaves unused
// (1879048192-2147483647, between the container ranges and 2^31), so no
// account, container or dynamic user of the machine has these ids, and
// none is 0. App ids up to MaxAppID fit.
const AppIDBase = 0x70000000

// MaxAppID is the largest app id that has a per-app build user: the
// range ends below 0x78000000, leaving the rest of systemd's unused
// range to others.
const MaxAppID = 0x08000000 - 1

// ResolveUser turns a SEEDBED_BUILD_USER setting into the user commands
// run as: UserAuto, UserNone, a user name, or "uid:gid". A setting that
// cannot be used (another user while Seedbed is not root, a user the
// machine does not have, something else) is an error saying what to do.
func ResolveUser(setting string) (*User, error) {
	return resolveUser(setting, hostIDs{
		euid: os.Geteuid(), egid: os.Getegid(),
		lookup: user.Lookup, lookupID: user.LookupId,
	})
}

// hostIDs is what resolveUser needs to know about the machine.
type hostIDs struct {
	euid, egid int // Seedbed's own ids; -1 where there are none (windows)
	lookup     func(name string) (*user.User, error)
	lookupID   func(uid string) (*user.User, error)
}

func resolveUser(setting string, h hostIDs) (*User, error) {
	self := func() *User {
		u := &User{UID: h.euid, GID: h.egid, Setting: setting}
		if uu, err := h.lookupID(strconv.Itoa(h.euid)); err == nil {
			u.Name = uu.Username
		}
		return u
	}
	root := h.euid == 0
	switch {
	case setting == UserNone:
		return self(), nil
	case setting == UserAuto:
		if !root {
			return self(), nil
		}
		return &User{UID: AppIDBase, GID: AppIDBase, Switch: true, PerApp: true, Setting: setting}, nil
	}
	u, err := parseUser(setting, h)
	if err != nil {
		return nil, err
	}
	u.Setting = setting
	if u.UID == h.euid && u.GID == h.egid {
		return u, nil // Seedbed's own user: nothing to switch
	}
	if !root {
		return nil, fmt.Errorf("SEEDBED_BUILD_USER=%s: builds can only run as another user when Seedbed runs as root, and it runs as uid %d; start Seedbed as root, or set SEEDBED_BUILD_USER=auto to run builds as Seedbed's own user", setting, h.euid)
	}
	u.Switch = true
	return u, nil
}

// parseUser reads a user name or "uid:gid".
func parseUser(setting string, h hostIDs) (*User, error) {
	invalid := fmt.Errorf("SEEDBED_BUILD_USER=%q is not valid: use auto, none, a user name (e.g. nobody) or uid:gid (e.g. 1001:1001)", setting)
	if uidText, gidText, ok := strings.Cut(setting, ":"); ok {
		uid, err1 := parseID(uidText)
		gid, err2 := parseID(gidText)
		if err1 != nil || err2 != nil {
			return nil, invalid
		}
		u := &User{UID: uid, GID: gid}
		if found, err := h.lookupID(uidText); err == nil {
			u.Name = found.Username
		}
		return u, nil
	}
	if !validUserName(setting) {
		return nil, invalid
	}
	u, err := lookupUser(h, setting)
	if err != nil {
		return nil, fmt.Errorf("SEEDBED_BUILD_USER=%s: %w; create the user (useradd --system --no-create-home %s), give uid:gid, or use auto", setting, err, setting)
	}
	return u, nil
}

// lookupUser finds a user by name with its primary group.
func lookupUser(h hostIDs, name string) (*User, error) {
	found, err := h.lookup(name)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return nil, fmt.Errorf("this machine has no user %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("look up user %q: %w", name, err)
	}
	uid, err1 := parseID(found.Uid)
	gid, err2 := parseID(found.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q has ids %s:%s, which are not numbers", name, found.Uid, found.Gid)
	}
	return &User{Name: found.Username, UID: uid, GID: gid}, nil
}

// parseID reads a uid or gid: a number below 2^32-1 (which means "none").
func parseID(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, fmt.Errorf("%q is not a user or group id", s)
	}
	return int(n), nil
}

// validUserName accepts what useradd does, roughly: letters, digits,
// "_", "-" and ".", not starting with "-" and not all digits.
func validUserName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' || strings.Trim(s, "0123456789") == "" {
		return false
	}
	for _, r := range s {
		ok := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || strings.ContainsRune("_-.", r)
		if !ok {
			return false
		}
	}
	return true
}

// ForApp returns who the commands of the app with id app run as: for a
// per-app user (UserAuto as root), uid and gid AppIDBase+app; for any
// other, u itself, shared by every app. An app id of 0 (a build of no
// app) or above MaxAppID is an error for a per-app user.
func (u *User) ForApp(app uint) (*User, error) {
	if u == nil || !u.PerApp {
		return u, nil
	}
	if app == 0 || app > MaxAppID {
		return nil, fmt.Errorf("app id %d has no build user of its own: per-app build users exist for ids 1 to %d", app, MaxAppID)
	}
	id := AppIDBase + int(app)
	return &User{UID: id, GID: id, Switch: true, PerApp: true, App: app, Setting: u.Setting}, nil
}

// String names the user the way the build log does: "nobody (uid 65534,
// gid 65534)".
func (u *User) String() string {
	if u.Name == "" {
		return fmt.Sprintf("uid %d (gid %d)", u.UID, u.GID)
	}
	return fmt.Sprintf("%s (uid %d, gid %d)", u.Name, u.UID, u.GID)
}

// Describe is the line the build log starts with: who the commands run
// as and, when that is Seedbed's own user, why.
func (u *User) Describe() string {
	switch {
	case u == nil:
		return "Running build commands as Seedbed's own user"
	case u.PerApp && u.App != 0:
		return fmt.Sprintf("Running build commands as %s, the build user of this app alone", u)
	case u.PerApp:
		return fmt.Sprintf("Running build commands as users of their own app: uid and gid %d + the app's id", AppIDBase)
	case u.Switch:
		return "Running build commands as " + u.String() + ", a user every app's builds share"
	case u.Why != "":
		return fmt.Sprintf("Running build commands as Seedbed's own user %s: %s", u, u.Why)
	case u.Setting == UserAuto && u.UID != 0:
		return fmt.Sprintf("Builds run as Seedbed's own user %s: Seedbed is not root, so it cannot switch users; start it as root to run builds as an unprivileged user (SEEDBED_BUILD_USER)", u)
	case u.Setting == UserNone:
		return fmt.Sprintf("Running build commands as Seedbed's own user %s (SEEDBED_BUILD_USER=none)", u)
	}
	return "Running build commands as Seedbed's own user " + u.String()
}

// switches says whether commands run as another user than Seedbed's.
func (u *User) switches() bool { return u != nil && u.Switch }

// CheckReach makes sure u can pass through every folder on the way to
// dir (which must exist), reading the permission bits: a data dir under
// a folder closed to others (/root, say) cannot hold a build's caches.
// The error names the folder that stops it.
func (u *User) CheckReach(dir string) error {
	if !u.switches() {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var chain []string
	for p := abs; ; p = filepath.Dir(p) {
		chain = append(chain, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	slices.Reverse(chain)
	for _, p := range chain {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !u.mayEnter(fi) {
			return fmt.Errorf("cannot reach %s: %s is closed to that user (mode %04o)", abs, p, fi.Mode().Perm())
		}
	}
	return nil
}

// mayEnter says whether u may pass through the folder fi describes.
func (u *User) mayEnter(fi fs.FileInfo) bool {
	uid, gid, ok := ownerOf(fi)
	if !ok {
		return true // cannot tell: let starting the commands say
	}
	perm := fi.Mode().Perm()
	switch {
	case uid == u.UID:
		return perm&0o100 != 0
	case gid == u.GID:
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}
