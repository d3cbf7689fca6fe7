package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The choice settings come from the flag, else the environment, else
// their default, and an unknown value says what would be valid.
func TestConfigChoices(t *testing.T) {
	memory := func(c *Config) string { return c.MemoryLimits }
	isolation := func(c *Config) string { return c.Isolation }
	tests := []struct {
		name    string
		get     func(*Config) string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{name: "memory limits default", get: memory, want: "auto"},
		{name: "memory limits env", get: memory, env: map[string]string{"SEEDBED_MEMORY_LIMITS": "soft"}, want: "soft"},
		{name: "memory limits flag wins", get: memory, env: map[string]string{"SEEDBED_MEMORY_LIMITS": "soft"}, args: []string{"--memory-limits", "cgroup"}, want: "cgroup"},
		{name: "memory limits unknown", get: memory, env: map[string]string{"SEEDBED_MEMORY_LIMITS": "hard"}, wantErr: `--memory-limits (SEEDBED_MEMORY_LIMITS): memory limits "hard": use auto, cgroup or soft`},
		{name: "isolation default", get: isolation, want: "auto"},
		{name: "isolation env", get: isolation, env: map[string]string{"SEEDBED_ISOLATION": "none"}, want: "none"},
		{name: "isolation flag wins", get: isolation, env: map[string]string{"SEEDBED_ISOLATION": "none"}, args: []string{"--isolation", "sandbox"}, want: "sandbox"},
		{name: "isolation unknown", get: isolation, env: map[string]string{"SEEDBED_ISOLATION": "docker"}, wantErr: `--isolation (SEEDBED_ISOLATION): isolation "docker": use auto, sandbox or none`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg := configFlags(fs, func(k string) string { return tc.env[k] })
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg.DataDir = t.TempDir()
			err := cfg.finish(nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("finish: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(cfg); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
