package views

import (
	"testing"
	"time"
)

func TestShortDigest(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "sha256", in: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", want: "2cf24dba5fb0"},
		{name: "short sha256", in: "sha256:abcd", want: "abcd"},
		{name: "other", in: "md5:xyz", want: "md5:xyz"},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shortDigest(tt.in); got != tt.want {
				t.Errorf("shortDigest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSha7(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "full", in: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", want: "9f86d08"},
		{name: "short", in: "9f86", want: "9f86"},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sha7(tt.in); got != tt.want {
				t.Errorf("sha7(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRelTime(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		t    time.Time
		want string
	}{
		{name: "zero time", now: now, want: ""},
		{name: "no now shows the exact time", t: now.Add(-time.Minute), want: "2025-03-14 11:59:00 UTC"},
		{name: "just now", now: now, t: now.Add(-2 * time.Second), want: "just now"},
		{name: "clock skew", now: now, t: now.Add(time.Minute), want: "just now"},
		{name: "seconds", now: now, t: now.Add(-42 * time.Second), want: "42s ago"},
		{name: "minutes", now: now, t: now.Add(-3*time.Minute - 59*time.Second), want: "3m ago"},
		{name: "hours", now: now, t: now.Add(-5 * time.Hour), want: "5h ago"},
		{name: "days", now: now, t: now.Add(-50 * time.Hour), want: "2d ago"},
		{name: "old", now: now, t: time.Date(2024, 12, 25, 8, 0, 0, 0, time.UTC), want: "25 Dec 2024"},
		{name: "other zone", now: now, t: now.Add(-3 * time.Minute).In(time.FixedZone("CET", 3600)), want: "3m ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := relTime(tt.now, tt.t); got != tt.want {
				t.Errorf("relTime = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFmtDuration(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{name: "unfinished", in: 0, want: "—"},
		{name: "milliseconds", in: 850 * time.Millisecond, want: "850ms"},
		{name: "seconds with tenths", in: 4200 * time.Millisecond, want: "4.2s"},
		{name: "tenths rounding", in: 9960 * time.Millisecond, want: "10s"},
		{name: "seconds", in: 42*time.Second + 400*time.Millisecond, want: "42s"},
		{name: "minutes", in: 3*time.Minute + 12*time.Second, want: "3m 12s"},
		{name: "minutes rounding", in: 59*time.Second + 700*time.Millisecond, want: "1m 00s"},
		{name: "just under an hour", in: 59*time.Minute + 59*time.Second + 600*time.Millisecond, want: "1h 00m"},
		{name: "hours", in: time.Hour + 4*time.Minute + 40*time.Second, want: "1h 05m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmtDuration(tt.in); got != tt.want {
				t.Errorf("fmtDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
