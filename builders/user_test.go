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
		builder   = user.User{Username: "seedbed-build", Uid: "998", Gid: "997"}
		everybody = []user.User{root, ada, nobody, builder}
	)
	tests := []struct {
		name    string
		setting string
		host    hostIDs
		want    User   // Setting is always the setting
		wantErr string // part of the error, when one is expected
		log     string // part of Describe
	}{
		{name: "auto as root: seedbed-build first", setting: "auto", host: fakeHost(0, everybody...),
			want: User{Name: "seedbed-build", UID: 998, GID: 997, Switch: true}, log: "Running build commands as seedbed-build (uid 998, gid 997)"},
		{name: "auto as root: nobody without seedbed-build", setting: "auto", host: fakeHost(0, root, ada, nobody),
			want: User{Name: "nobody", UID: 65534, GID: 65534, Switch: true}, log: "Running build commands as nobody (uid 65534, gid 65534)"},
		{name: "auto as root: 65534:65534 without either", setting: "auto", host: fakeHost(0, root),
			want: User{UID: 65534, GID: 65534, Switch: true}, log: "Running build commands as uid 65534 (gid 65534)"},
		{name: "auto as another user: Seedbed's own, and the log says why", setting: "auto", host: fakeHost(1000, everybody...),
			want: User{Name: "ada", UID: 1000, GID: 1000}, log: "Builds run as Seedbed's own user ada (uid 1000, gid 1000): Seedbed is not root"},
		{name: "none as root", setting: "none", host: fakeHost(0, everybody...),
			want: User{Name: "root", UID: 0, GID: 0}, log: "Running build commands as Seedbed's own user root (uid 0, gid 0) (SEEDBED_BUILD_USER=none)"},
		{name: "none as another user", setting: "none", host: fakeHost(1000, everybody...),
			want: User{Name: "ada", UID: 1000, GID: 1000}, log: "Seedbed's own user ada"},
		{name: "a name as root", setting: "ada", host: fakeHost(0, everybody...),
			want: User{Name: "ada", UID: 1000, GID: 1000, Switch: true}, log: "Running build commands as ada (uid 1000, gid 1000)"},
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
