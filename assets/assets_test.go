package assets

import (
	"io/fs"
	"strings"
	"testing"
)

func TestFS(t *testing.T) {
	tests := []struct {
		name string
		want string // something the file must contain
	}{
		{name: "app.css", want: "prefers-color-scheme: dark"},
		{name: "app.js", want: "EventSource"},
		{name: "htmx.min.js", want: `version:"2.0.11"`}, // keep in step with README.md and assets.go
		{name: "htmx.LICENSE", want: "Zero-Clause BSD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := fs.ReadFile(FS(), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("%s does not contain %q", tt.name, tt.want)
			}
		})
	}
}
