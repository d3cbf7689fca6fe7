package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestConfigMemoryLimits(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{name: "default", want: "auto"},
		{name: "env", env: map[string]string{"SEEDBED_MEMORY_LIMITS": "soft"}, want: "soft"},
		{name: "flag wins", env: map[string]string{"SEEDBED_MEMORY_LIMITS": "soft"}, args: []string{"--memory-limits", "cgroup"}, want: "cgroup"},
		{name: "unknown", env: map[string]string{"SEEDBED_MEMORY_LIMITS": "hard"}, wantErr: `--memory-limits (SEEDBED_MEMORY_LIMITS): memory limits "hard": use auto, cgroup or soft`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
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
			if cfg.MemoryLimits != tc.want {
				t.Errorf("MemoryLimits = %q, want %q", cfg.MemoryLimits, tc.want)
			}
		})
	}
}
