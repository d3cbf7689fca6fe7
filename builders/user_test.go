package builders

import (
	"os/user"
	"strings"
	"testing"
)

// fakeHost is a machine with the users of passwd, for resolveUser.
func fakeHost(euid int, passwd ...user.User) hostIDs {
	return hostIDs{
		euid: euid, egid: euid,
		lookup: func(name string) (*user.User, error) {
			for _, u := range passwd {
				if u.Username == name {
					return &u, nil
				}
			}
			return nil, user.UnknownUserError(name)
		},
		lookupID: func(uid string) (*user.User, error) {
			for _, u := range passwd {
				if u.Uid == uid {
					return &u, nil
				}
			}
			return nil, user.UnknownUserIdError(0)
		},
	}
}

func TestResolveUser(t *testing.T) {
	var (
		root      = user.User{Username: "root", Uid: "0", Gid: "0"}
		ada       = user.User{Username: "ada", Uid: "1000", Gid: "1000"}
		nobody    = user.User{Username: "nobody", Uid: "65534", Gid: "65534"}
		everybody = []user.User{root, ada, nobody}
	)
	tests := []struct {
		name    string
		setting string
		host    hostIDs
		want    User   // Setting is always the setting
		wantErr string // part of the error, when one is expected
		log     string // part of Describe
	}{
		{name: "auto as root: a user per app", setting: "auto", host: fakeHost(0, everybody...),
			want: User{UID: AppIDBase, GID: AppIDBase, Switch: true, PerApp: true}, log: "users of their own app: uid and gid 1879048192 + the app's id"},
		{name: "auto as root on a machine with no users", setting: "auto", host: fakeHost(0),
			want: User{UID: AppIDBase, GID: AppIDBase, Switch: true, PerApp: true}},
		{name: "auto as another user: Seedbed's own, and the log says why", setting: "auto", host: fakeHost(1000, everybody...),
			want: User{Name: "ada", UID: 1000, GID: 1000}, log: "Builds run as Seedbed's own user ada (uid 1000, gid 1000): Seedbed is not root"},
		{name: "none as root", setting: "none", host: fakeHost(0, everybody...),
			want: User{Name: "root", UID: 0, GID: 0}, log: "Running build commands as Seedbed's own user root (uid 0, gid 0) (SEEDBED_BUILD_USER=none)"},
		{name: "none as another user", setting: "none", host: fakeHost(1000, everybody...),
			want: User{Name: "ada", UID: 1000, GID: 1000}, log: "Seedbed's own user ada"},
		{name: "a name as root", setting: "ada", host: fakeHost(0, everybody...),
			want: User{Name: "ada", UID: 1000, GID: 1000, Switch: true}, log: "Running build commands as ada (uid 1000, gid 1000), a user every app's builds share"},
		{name: "Seedbed's own name when not root: nothing to switch", setting: "ada", host: fakeHost(1000, everybody...),
			want: User{Name: "ada", UID: 1000, GID: 1000}},
		{name: "uid:gid as root, with a name", setting: "65534:65534", host: fakeHost(0, everybody...),
			want: User{Name: "nobody", UID: 65534, GID: 65534, Switch: true}},
		{name: "uid:gid as root, nameless", setting: "4000:4001", host: fakeHost(0, everybody...),
			want: User{UID: 4000, GID: 4001, Switch: true}, log: "Running build commands as uid 4000 (gid 4001)"},
		{name: "root:root as root: nothing to switch", setting: "0:0", host: fakeHost(0, everybody...),
			want: User{Name: "root", UID: 0, GID: 0}},
		{name: "an unknown name", setting: "ghost", host: fakeHost(0, everybody...),
			wantErr: `SEEDBED_BUILD_USER=ghost: this machine has no user "ghost"; create the user (useradd --system --no-create-home ghost)`},
		{name: "another name when not root", setting: "nobody", host: fakeHost(1000, everybody...),
			wantErr: "builds can only run as another user when Seedbed runs as root, and it runs as uid 1000; start Seedbed as root, or set SEEDBED_BUILD_USER=auto"},
		{name: "another uid:gid when not root", setting: "65534:65534", host: fakeHost(1000, everybody...),
			wantErr: "only run as another user when Seedbed runs as root"},
		{name: "empty", setting: "", host: fakeHost(0, everybody...), wantErr: "is not valid: use auto, none, a user name"},
		{name: "a bare uid", setting: "1000", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "uid without gid", setting: "1000:", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "gid without uid", setting: ":1000", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "negative id", setting: "-1:0", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "names as ids", setting: "ada:ada", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "three parts", setting: "1:2:3", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "the no-id id", setting: "4294967295:0", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "a space", setting: "seed bed", host: fakeHost(0, everybody...), wantErr: "is not valid"},
		{name: "Auto in capitals is a name", setting: "Auto", host: fakeHost(0, everybody...), wantErr: `no user "Auto"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveUser(tt.setting, tt.host)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveUser(%q) = %+v, %v; want an error with %q", tt.setting, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveUser(%q): %v", tt.setting, err)
			}
			want := tt.want
			want.Setting = tt.setting
			if *got != want {
				t.Errorf("resolveUser(%q) = %+v, want %+v", tt.setting, *got, want)
			}
			if line := got.Describe(); !strings.Contains(line, tt.log) {
				t.Errorf("Describe() = %q, want it to contain %q", line, tt.log)
			}
		})
	}
}

// Each app's commands run as ids of its own under auto as root: AppIDBase
// plus the app's id, never 0 and never another app's; any other setting
// is one user for every app.
func TestUserForApp(t *testing.T) {
	perApp := &User{UID: AppIDBase, GID: AppIDBase, Switch: true, PerApp: true, Setting: UserAuto}
	shared := &User{Name: "nobody", UID: 65534, GID: 65534, Switch: true, Setting: "nobody"}
	own := &User{Name: "root", Setting: UserNone}
	tests := []struct {
		name    string
		user    *User
		app     uint
		wantUID int
		wantErr string
	}{
		{name: "per app: the first app", user: perApp, app: 1, wantUID: 1879048193},
		{name: "per app: app 42", user: perApp, app: 42, wantUID: AppIDBase + 42},
		{name: "per app: the last id that fits", user: perApp, app: MaxAppID, wantUID: 0x77ffffff},
		{name: "per app: no app", user: perApp, app: 0, wantErr: "app id 0 has no build user of its own"},
		{name: "per app: an id past the range", user: perApp, app: MaxAppID + 1, wantErr: "per-app build users exist for ids 1 to 134217727"},
		{name: "a named user: shared", user: shared, app: 42, wantUID: 65534},
		{name: "Seedbed's own user", user: own, app: 42, wantUID: 0},
		{name: "Seedbed's own user, no app", user: own, app: 0, wantUID: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.user.ForApp(tt.app)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ForApp(%d) = %+v, %v; want an error with %q", tt.app, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ForApp(%d): %v", tt.app, err)
			}
			if got.UID != tt.wantUID || got.GID != tt.wantUID {
				t.Errorf("ForApp(%d) runs as %d:%d, want %d:%d", tt.app, got.UID, got.GID, tt.wantUID, tt.wantUID)
			}
			if tt.user.PerApp {
				if !got.Switch || got.App != tt.app || got.UID == 0 {
					t.Errorf("ForApp(%d) = %+v, want a switching user of app %d", tt.app, got, tt.app)
				}
				if line := got.Describe(); !strings.Contains(line, "the build user of this app alone") {
					t.Errorf("Describe() = %q", line)
				}
			}
		})
	}
	a, _ := perApp.ForApp(1)
	b, _ := perApp.ForApp(2)
	if a.UID == b.UID {
		t.Errorf("apps 1 and 2 share uid %d", a.UID)
	}
}
