package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReason(t *testing.T) {
	tests := []struct {
		name, ip, want string
	}{
		{name: "public v4", ip: "140.82.121.3", want: ""},
		{name: "public v6", ip: "2606:50c0:8000::153", want: ""},
		{name: "loopback", ip: "127.0.0.1", want: "loopback"},
		{name: "loopback anywhere in 127/8", ip: "127.255.3.4", want: "loopback"},
		{name: "ten", ip: "10.1.2.3", want: "private"},
		{name: "172.16/12 low", ip: "172.16.0.1", want: "private"},
		{name: "172.16/12 high", ip: "172.31.255.254", want: "private"},
		{name: "just past 172.16/12", ip: "172.32.0.1", want: ""},
		{name: "192.168", ip: "192.168.1.10", want: "private"},
		{name: "metadata service", ip: "169.254.169.254", want: "link-local"},
		{name: "unspecified v4", ip: "0.0.0.0", want: "unspecified"},
		{name: "this network", ip: "0.1.2.3", want: "unspecified"},
		{name: "carrier-grade NAT", ip: "100.64.0.1", want: "shared (carrier-grade NAT)"},
		{name: "broadcast", ip: "255.255.255.255", want: "reserved"},
		{name: "multicast v4", ip: "224.0.0.1", want: "multicast"},
		{name: "loopback v6", ip: "::1", want: "loopback"},
		{name: "unspecified v6", ip: "::", want: "unspecified"},
		{name: "unique-local", ip: "fd12:3456::1", want: "unique-local"},
		{name: "unique-local fc", ip: "fc00::1", want: "unique-local"},
		{name: "link-local v6", ip: "fe80::1", want: "link-local"},
		{name: "link-local v6 with zone", ip: "fe80::1%eth0", want: "link-local"},
		{name: "mapped loopback", ip: "::ffff:127.0.0.1", want: "loopback"},
		{name: "mapped private", ip: "::ffff:10.0.0.1", want: "private"},
		{name: "mapped public", ip: "::ffff:8.8.8.8", want: ""},
		{name: "IPv4-compatible loopback", ip: "::127.0.0.1", want: "IPv4-compatible"},
		{name: "NAT64 of loopback", ip: "64:ff9b::7f00:1", want: "loopback"},
		{name: "NAT64 of public", ip: "64:ff9b::808:808", want: ""},
		{name: "multicast v6", ip: "ff02::1", want: "multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Fatalf("Reason(%s) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}

func TestParseHostIP(t *testing.T) {
	tests := []struct {
		name, host, want string // want "" means a host name
	}{
		{name: "dotted quad", host: "127.0.0.1", want: "127.0.0.1"},
		{name: "decimal", host: "2130706433", want: "127.0.0.1"},
		{name: "hex", host: "0x7f000001", want: "127.0.0.1"},
		{name: "octal parts", host: "0177.0.0.1", want: "127.0.0.1"},
		{name: "short form", host: "127.1", want: "127.0.0.1"},
		{name: "three parts", host: "10.1.258", want: "10.1.1.2"},
		{name: "hex parts", host: "0x7f.0x0.0x0.0x1", want: "127.0.0.1"},
		{name: "trailing dot", host: "127.0.0.1.", want: "127.0.0.1"},
		{name: "bracketed v6", host: "[::1]", want: "::1"},
		{name: "v6", host: "fe80::1", want: "fe80::1"},
		{name: "name", host: "github.com", want: ""},
		{name: "name with digits", host: "1password.com", want: ""},
		{name: "part too big", host: "256.0.0.1", want: ""},
		{name: "last part too big", host: "1.2.3.256", want: ""},
		{name: "too many parts", host: "1.2.3.4.5", want: ""},
		{name: "bad octal", host: "09.0.0.1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, ok := ParseHostIP(tt.host)
			switch {
			case tt.want == "" && ok:
				t.Fatalf("ParseHostIP(%q) = %s, want a host name", tt.host, ip)
			case tt.want != "" && (!ok || ip != netip.MustParseAddr(tt.want)):
				t.Fatalf("ParseHostIP(%q) = %s, %t; want %s", tt.host, ip, ok, tt.want)
			}
		})
	}
}

// fakeResolver answers every name from a table; unknown names fail.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestRepoRules(t *testing.T) {
	data := t.TempDir()
	outside := t.TempDir()
	if err := os.Mkdir(filepath.Join(data, "git"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(outside, "sneaky")
	if err := os.Symlink(filepath.Join(data, "git"), link); err != nil {
		t.Fatal(err)
	}
	resolver := fakeResolver{
		"github.com":       {"140.82.121.3"},
		"internal.example": {"10.0.0.7"},
		"mixed.example":    {"140.82.121.3", "192.168.0.9"},
		"v6.example":       {"::1"},
		"localhost":        {"127.0.0.1"},
	}
	type who int
	const (
		plain who = iota
		creator
		admin
	)
	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		// refused per who: "" allowed, "admins" refused as admins-only,
		// else a substring of the refusal.
		plain, creator, admin string
	}{
		{name: "empty: the built-in remote", url: ""},
		{name: "https public", url: "https://github.com/acme/shop.git"},
		{name: "ssh public", url: "ssh://git@github.com/acme/shop.git"},
		{name: "scp-like public", url: "git@github.com:acme/shop.git"},
		{name: "unresolvable name passes to the fetch", url: "https://nowhere.invalid/x.git"},
		{name: "local path", url: outside + "/repo", plain: "admins", creator: "admins"},
		{name: "file URL", url: "file://" + outside + "/repo", plain: "admins", creator: "admins"},
		{name: "relative path", url: "repo", plain: "admins", creator: "admins"},
		{name: "file URL with a host", url: "file://localhost" + outside + "/repo", plain: "admins", creator: "admins"},
		{name: "scp-like with a user", url: "deploy@10.0.0.1:x.git", plain: "private", creator: "private", admin: "private"},
		{name: "data dir path", url: filepath.Join(data, "git", "other.git"), plain: "admins", creator: "admins", admin: "data dir"},
		{name: "data dir itself", url: data, plain: "admins", creator: "admins", admin: "data dir"},
		{name: "data dir by file URL", url: "file://" + data + "/git/other.git", plain: "admins", creator: "admins", admin: "data dir"},
		{name: "data dir by dot-dot", url: outside + "/../" + filepath.Base(data) + "/git/x.git", plain: "admins", creator: "admins", admin: "data dir"},
		{name: "data dir through a symlink", url: link + "/other.git", plain: "admins", creator: "admins", admin: "data dir"},
		{name: "http loopback", url: "http://127.0.0.1:8080/git/other.git", plain: "loopback", creator: "loopback", admin: "loopback"},
		{name: "http localhost", url: "http://localhost:8080/x.git", plain: "loopback", creator: "loopback", admin: "loopback"},
		{name: "decimal loopback", url: "http://2130706433/x.git", plain: "loopback", creator: "loopback", admin: "loopback"},
		{name: "v6 loopback", url: "http://[::1]:8080/x.git", plain: "loopback", creator: "loopback", admin: "loopback"},
		{name: "mapped loopback", url: "http://[::ffff:127.0.0.1]/x.git", plain: "loopback", creator: "loopback", admin: "loopback"},
		{name: "metadata service", url: "http://169.254.169.254/latest/meta-data", plain: "link-local", creator: "link-local", admin: "link-local"},
		{name: "ssh private", url: "ssh://git@192.168.1.5/x.git", plain: "private", creator: "private", admin: "private"},
		{name: "scp-like private", url: "git@10.0.0.1:x.git", plain: "private", creator: "private", admin: "private"},
		{name: "git protocol unspecified", url: "git://0.0.0.0/x.git", plain: "unspecified", creator: "unspecified", admin: "unspecified"},
		{name: "name resolving private", url: "https://internal.example/x.git", plain: "private", creator: "private", admin: "private"},
		{name: "name resolving to one private of two", url: "https://mixed.example/x.git", plain: "private", creator: "private", admin: "private"},
		{name: "name resolving v6 loopback", url: "https://v6.example/x.git", plain: "loopback", creator: "loopback", admin: "loopback"},
		{name: "private allowed by the setting", url: "http://127.0.0.1:8080/x.git", allowPrivate: true},
		{name: "setting does not open local paths", url: outside + "/repo", allowPrivate: true, plain: "admins", creator: "admins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := RepoRules{Policy: Policy{AllowPrivate: tt.allowPrivate}, DataDir: data, Resolver: resolver}
			// A plain user never gets this far (creating apps needs the
			// creator mark); the rules see creators and plain users alike.
			for _, c := range []struct {
				who  who
				want string
			}{{plain, tt.plain}, {creator, tt.creator}, {admin, tt.admin}} {
				err := rules.Check(context.Background(), tt.url, c.who == admin)
				var refused *RepoRefusedError
				switch {
				case c.want == "" && err != nil:
					t.Fatalf("who %d: %q refused: %v", c.who, tt.url, err)
				case c.want == "":
				case !errors.As(err, &refused):
					t.Fatalf("who %d: %q allowed (err %v), want refused with %q", c.who, tt.url, err, c.want)
				case c.want == "admins" && !refused.AdminsOnly:
					t.Fatalf("who %d: %q refused not as admins-only: %v", c.who, tt.url, err)
				case c.want != "admins" && !strings.Contains(err.Error(), c.want):
					t.Fatalf("who %d: %q refused with %q, want it to say %q", c.who, tt.url, err, c.want)
				}
				if c.want != "" && c.want != "admins" && c.want != "data dir" && !strings.Contains(err.Error(), "SEEDBED_ALLOW_PRIVATE_REPOS") {
					t.Fatalf("refusal does not name the setting that allows it: %v", err)
				}
			}
		})
	}
}

// The dialer refuses the address it is about to connect to, whatever name
// led there, and lets it through when the policy allows private addresses.
func TestDialerRefusesAfterResolution(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("internal")) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	tests := []struct {
		name    string
		policy  Policy
		url     string
		blocked bool
	}{
		{name: "literal loopback", url: srv.URL, blocked: true},
		{name: "localhost resolves to loopback", url: "http://localhost:" + port, blocked: true},
		{name: "allowed by the setting", policy: Policy{AllowPrivate: true}, url: "http://localhost:" + port},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.policy.HTTPClient(0).Get(tt.url)
			if resp != nil {
				resp.Body.Close()
			}
			if tt.blocked != IsBlocked(err) {
				t.Fatalf("GET %s: err %v; want blocked %t", tt.url, err, tt.blocked)
			}
			if tt.blocked && !strings.Contains(err.Error(), "loopback") {
				t.Fatalf("refusal does not say why: %v", err)
			}
		})
	}
}

// A redirect to a private address is refused like a direct request: the
// first server stands for a public one, so only the second hop is judged.
func TestRedirectToPrivateRefused(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) }))
	t.Cleanup(internal.Close)
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL, http.StatusFound)
	}))
	t.Cleanup(public.Close)
	calls := 0
	p := Policy{}
	d := p.Dialer(0)
	d.Control = func(network, address string, c syscallRawConn) error {
		calls++
		if calls == 1 {
			return nil // the first hop: pretend it is public
		}
		return p.control(network, address, c)
	}
	tr := p.Transport()
	tr.DialContext = d.DialContext
	resp, err := (&http.Client{Transport: tr}).Get(public.URL)
	if resp != nil {
		resp.Body.Close()
	}
	if !IsBlocked(err) || calls < 2 {
		t.Fatalf("redirect to %s (%d dials): err %v; want it refused", internal.URL, calls, err)
	}
}

type syscallRawConn = syscall.RawConn
