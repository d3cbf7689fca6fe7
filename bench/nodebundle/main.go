// Command nodebundle measures issue 5's "size of the Node example bundled vs
// unbundled": it builds the Node examples of builders/testdata/runtimes (and,
// when npm can reach a registry, an Express server with its dependencies)
// with Seedbed's builder, which bundles each handler with esbuild, and
// compares each artifact with what shipping the service folder would be: the
// same gzip'd tar of the folder after `npm install`, node_modules included.
//
//	go run ./bench/nodebundle
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/seedbed/seedbed/bench/harness"
	"github.com/seedbed/seedbed/builders"
	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/stack"
)

// express is a small Express 4 server, the kind of Node service whose
// dependencies dominate its size.
const express = `{"name": "express-example", "version": "1.0.0", "private": true, "dependencies": {"express": "4.21.2"}}`

const expressServer = `const express = require("express");
const app = express();
app.get("*", (req, res) => res.send("hello from express " + req.path));
app.listen(process.env.PORT, "127.0.0.1");
`

type discard struct{}

func (discard) Line(string, string) {}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func main() {
	ctx := context.Background()
	root, err := harness.ModuleRoot()
	if err != nil {
		harness.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "seedbed-nodebundle-")
	if err != nil {
		harness.Fatal(err)
	}
	harness.OnFatal(func() { os.RemoveAll(tmp) })
	defer os.RemoveAll(tmp)

	src := filepath.Join(tmp, "src")
	if err := os.CopyFS(src, os.DirFS(filepath.Join(root, "builders", "testdata", "runtimes"))); err != nil {
		harness.Fatal(err)
	}
	services := []struct{ name, path, handler, kind string }{
		{"node-http", "node-http", "server.js", ""},
		{"node-lambda-js", "node-lambda-js", "index.handler", "lambda"},
		{"node-lambda-ts", "node-lambda-ts", "src/app.handler", "lambda"},
	}
	withExpress := true
	expressDir := filepath.Join(src, "express")
	if err := os.MkdirAll(expressDir, 0o755); err != nil {
		harness.Fatal(err)
	}
	os.WriteFile(filepath.Join(expressDir, "package.json"), []byte(express), 0o644)
	os.WriteFile(filepath.Join(expressDir, "server.js"), []byte(expressServer), 0o644)
	if out, err := exec.Command("npm", "install", "--prefix", expressDir, "--no-audit", "--no-fund").CombinedOutput(); err != nil {
		fmt.Printf("express example skipped: npm install failed (no registry?): %v\n%s\n", err, out)
		withExpress = false
	} else {
		services = append(services, struct{ name, path, handler, kind string }{"express", "express", "server.js", ""})
	}

	yml := "services:\n"
	for _, s := range services {
		yml += fmt.Sprintf("  %s:\n    path: %s\n    runtime: node\n    functions:\n      fn:\n", s.name, s.path)
		if s.kind != "" {
			yml += "        type: " + s.kind + "\n"
		}
		yml += fmt.Sprintf("        handler: %s\n        routes: [\"GET /%s\"]\n", s.handler, s.name)
	}
	st, err := stack.Parse([]byte(yml))
	if err != nil {
		harness.Fatal(err)
	}
	arts, err := artifact.New(filepath.Join(tmp, "artifacts"))
	if err != nil {
		harness.Fatal(err)
	}
	b := builders.New(builders.Config{Artifacts: arts, CacheDir: filepath.Join(tmp, "cache"), WorkDir: filepath.Join(tmp, "work"), Env: os.Environ()})
	outs, err := b.BuildWith(ctx, builders.BuildOptions{Dir: src, Stack: st, CacheKey: "bench"}, discard{})
	if err != nil {
		harness.Fatal(fmt.Errorf("build: %w", err))
	}
	bundled := map[string]int64{}
	for _, o := range outs {
		bundled[o.Service] = o.Size
	}

	fmt.Printf("%-16s %14s %14s %8s\n", "example", "bundled", "folder", "ratio")
	for _, s := range services {
		dir := filepath.Join(src, s.path)
		entries, err := os.ReadDir(dir)
		if err != nil {
			harness.Fatal(err)
		}
		var paths []string
		for _, e := range entries {
			paths = append(paths, e.Name())
		}
		var c counter
		if err := artifact.Pack(io.Writer(&c), dir, paths); err != nil {
			harness.Fatal(fmt.Errorf("pack %s: %w", s.name, err))
		}
		fmt.Printf("%-16s %12d B %12d B %7.2fx\n", s.name, bundled[s.name], c.n, float64(c.n)/float64(bundled[s.name]))
		fmt.Printf("RESULT node bundle %s bundled %d B folder %d B\n", s.name, bundled[s.name], c.n)
	}
	if !withExpress {
		fmt.Println("(no dependency-heavy example: npm could not install express)")
	}
}
