package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsConsoleCookie(t *testing.T) {
	tests := []struct {
		name   string
		cookie string
		want   bool
	}{
		{"session", "seedbed_session", true},
		{"csrf", "seedbed_csrf", true},
		{"flash", "seedbed_flash", true},
		{"host prefix", "__Host-seedbed_session", true},
		{"secure prefix", "__Secure-seedbed_csrf", true},
		{"prefix in other case", "__HOST-seedbed_session", true},
		{"name in other case", "SeedBed_Session", true},
		{"spaces", "  seedbed_session ", true},
		{"function's own", "session", false},
		{"similar", "myseedbed_session", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isConsoleCookie(tt.cookie); got != tt.want {
				t.Errorf("isConsoleCookie(%q) = %v, want %v", tt.cookie, got, tt.want)
			}
		})
	}
}

func TestSetsConsoleCookie(t *testing.T) {
	tests := []struct {
		name, line string
		want       bool
	}{
		{"plain", "seedbed_csrf=attackerchosen", true},
		{"attributes", "seedbed_session=x; Path=/; HttpOnly; SameSite=Lax", true},
		{"host prefix", "__Host-seedbed_session=x; Path=/; Secure", true},
		{"secure prefix lower case", "__secure-seedbed_csrf=x; Secure", true},
		{"upper case", "SEEDBED_CSRF=x", true},
		{"space before =", "seedbed_csrf =x", true},
		{"nameless", "=seedbed_csrf=x; Path=/", true},
		{"nameless with spaces", " = seedbed_session=x", true},
		{"no = at all", "seedbed_session", true},
		{"deletion", "seedbed_session=; Max-Age=0", true},
		{"function's own", "cart=3; Path=/", false},
		{"value mentions it", "cart=seedbed_session; Path=/", false},
		{"attribute mentions it", "cart=1; Path=/seedbed_session", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := setsConsoleCookie(tt.line); got != tt.want {
				t.Errorf("setsConsoleCookie(%q) = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}

func TestStripConsoleCookies(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"only the console's", []string{"seedbed_session=s; seedbed_csrf=c"}, nil},
		{"mixed", []string{"cart=3; seedbed_session=s; __Host-seedbed_csrf=c; theme=dark"}, []string{"cart=3; theme=dark"}},
		{"several headers", []string{"seedbed_session=s", "cart=3", "SEEDBED_FLASH=hi"}, []string{"cart=3"}},
		{"nameless value", []string{"seedbed_session; cart=3"}, []string{"cart=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.in {
				h.Add("Cookie", v)
			}
			stripConsoleCookies(h)
			if got := h.Values("Cookie"); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Cookie = %q, want %q", got, tt.want)
			}
		})
	}
}

// The guard filters answers that are not proxied too (Lambda-style and
// static functions write their own headers), also when they never call
// WriteHeader, and keeps streaming answers streaming.
func TestCookieGuardFiltersEveryAnswer(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Set-Cookie", "seedbed_session=x")
			w.Header().Add("Set-Cookie", "cart=3")
			w.WriteHeader(http.StatusCreated)
		}},
		{"Write only", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Set-Cookie", "seedbed_session=x")
			w.Header().Add("Set-Cookie", "cart=3")
			_, _ = w.Write([]byte("hi"))
		}},
		{"Flush first", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Set-Cookie", "SEEDBED_CSRF=x")
			w.Header().Add("Set-Cookie", "cart=3")
			http.NewResponseController(w).Flush()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(guardConsoleCookies(tt.handler))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "cart=3" {
				t.Errorf("Set-Cookie = %q, want only cart=3", got)
			}
		})
	}
	h := http.Header{"Set-Cookie": {"seedbed_session=x", "ok=1"}}
	_ = DropConsoleCookies(&http.Response{Header: h})
	if got := h.Values("Set-Cookie"); len(got) != 1 || got[0] != "ok=1" {
		t.Errorf("after ModifyResponse: %q", got)
	}
}
