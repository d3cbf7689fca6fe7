package alerts

import (
	"strings"
	"testing"
	"time"
)

func TestParseSMTP(t *testing.T) {
	tests := []struct {
		name, url, from string
		addr            string // endpoint; "" when an error is wanted
		wantErr         string
	}{
		{"STARTTLS on the submission port", "smtp://u:p@mail.example.com", "a@example.com", "mail.example.com:587", ""},
		{"TLS", "smtps://u:p@mail.example.com", "Seedbed <a@example.com>", "mail.example.com:465", ""},
		{"plain relay on loopback with a password", "smtp+insecure://u:p@127.0.0.1:2525", "a@example.com", "127.0.0.1:2525", ""},
		{"plain relay elsewhere without a password", "smtp+insecure://relay.lan:25", "a@example.com", "relay.lan:25", ""},
		{"none", "", "", "", ""},
		{"password in clear over the network", "smtp+insecure://u:p@relay.lan:25", "a@example.com", "", "in clear"},
		{"unknown scheme", "mail://u:p@x", "a@example.com", "", "unsupported scheme"},
		{"no host", "smtp://", "a@example.com", "", "no host"},
		{"no from", "smtp://mail.example.com", "", "", "--smtp-from"},
		{"bad from", "smtp://mail.example.com", "not an address", "", "no email address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSMTP(tc.url, tc.from)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSMTP(%q, %q) = %v; want an error with %q", tc.url, tc.from, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), ":p@") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.url == "" {
				if s.Configured() {
					t.Error("no URL configures email")
				}
				return
			}
			if addr, _, _, _ := s.endpoint(); addr != tc.addr {
				t.Errorf("endpoint = %s, want %s", addr, tc.addr)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	s := SMTP{From: "Seedbed Alerts <alerts@example.com>"}
	p := Payload{Delivery: "d-1", Event: "deploy_failed", Title: "Deploy #3 of shop to prod failed\r\nBcc: evil@example.com",
		Text: "line one\nline two", URL: "https://seedbed.example/deploys/3", At: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	b, err := s.message([]string{"ann@example.com"}, p)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(b), "\r\n\r\n")
	for _, want := range []string{"From: \"Seedbed Alerts\" <alerts@example.com>", "To: ann@example.com",
		"Subject: [Seedbed] Deploy #3 of shop to prod failed Bcc: evil@example.com", "X-Seedbed-Delivery: d-1", "Message-ID: <d-1@seedbed>"} {
		if !strings.Contains(head, want+"\r\n") {
			t.Errorf("headers lack %q:\n%s", want, head)
		}
	}
	if strings.Contains(head, "\r\nBcc:") {
		t.Errorf("a line break in the title made a header:\n%s", head)
	}
	if body != "line one\r\nline two\r\n\r\nhttps://seedbed.example/deploys/3\r\n" {
		t.Errorf("body = %q", body)
	}
	if _, err := s.message([]string{"ann@example.com\r\nBcc: x@example.com"}, p); err == nil {
		t.Error("an address with a line break was accepted")
	}
}
