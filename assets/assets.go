// Package assets holds the console's static files — stylesheet, script and
// the vendored htmx — embedded into the binary and served under /assets/.
//
// htmx.min.js is htmx 2.0.11 (https://htmx.org, Zero-Clause BSD licence, see
// htmx.LICENSE), copied unchanged from the htmx.org npm package's dist/
// folder; README.md says how to update it.
package assets

import (
	"embed"
	"io/fs"
)

// files is the one package-level variable: go:embed can only fill a
// variable, and nothing ever writes to it.
//
//go:embed app.css app.js htmx.min.js htmx.LICENSE
var files embed.FS

// FS returns the embedded assets, with the files at its root ("app.css",
// "app.js", "htmx.min.js").
func FS() fs.FS { return files }
