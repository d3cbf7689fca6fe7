package builders

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/seedbed/seedbed/stack"
)

// NodeTarget is the Node.js version bundles are written for: esbuild
// lowers newer syntax to what it runs.
const NodeTarget = "20"

// nodePackageJSON goes at the root of every node artifact. The bundles
// are CommonJS; without it, a package.json with "type": "module" in a
// folder above where the target unpacks the artifact would make node
// read them as ES modules.
const nodePackageJSON = `{"type":"commonjs"}` + "\n"

// npmInstall installs a node service's dependencies when its folder has a
// package.json: npm ci when there is a lockfile (exactly what it pins),
// npm install otherwise. npm's cache is the one env names.
func npmInstall(ctx context.Context, r runAs, svcDir string, env []string, log Log) error {
	if !isFile(filepath.Join(svcDir, "package.json")) {
		return nil
	}
	command := "npm install"
	if isFile(filepath.Join(svcDir, "package-lock.json")) || isFile(filepath.Join(svcDir, "npm-shrinkwrap.json")) {
		command = "npm ci"
	}
	if _, err := lookPath(env, "npm"); err != nil {
		return fmt.Errorf("the service has a package.json, but npm is not installed on this machine (%w); install Node.js and npm, or remove package.json if the service needs no packages", err)
	}
	return runShell(ctx, r, svcDir, env, "install", command, log)
}

// nodeSource finds the source file of a node function and bundles it, with
// everything it imports (node_modules included, Node's built-in modules
// left out), into one CommonJS file for Node NodeTarget.
//
// The artifact holds that bundle at stack.NodeEntry(fn): the handler's
// source path with its extension replaced by .js. So the handler stays
// valid inside the artifact as written: a lambda handler "src/app.handler"
// (from src/app.ts or src/app.js) is "src/app.handler" in an artifact
// holding src/app.js, and an http function's "server.ts" runs as
// `node server.js`. A package.json marking the files as CommonJS sits
// next to it. Nothing else is packed: files the code reads at run time
// (rather than imports) are not in the artifact.
//
// A lambda handler's file is looked for with the extensions of
// stack.NodeSourceExts, in order (JavaScript first, as AWS Lambda does).
func nodeSource(ws, out, svcDir string, fn stack.Function, log Log) (source, error) {
	src, err := nodeSourceFile(ws, svcDir, fn)
	if err != nil {
		return source{}, err
	}
	entry := stack.NodeEntry(fn)
	if entry == "" {
		return source{}, fmt.Errorf("handler %q is not valid for runtime node", fn.Handler)
	}
	return source{
		key: src + "\x00" + entry,
		prepare: func() (string, []string, error) {
			dir, err := os.MkdirTemp(out, "bundle-")
			if err != nil {
				return "", nil, fmt.Errorf("bundle %s: %w", src, err)
			}
			log.Line("seedbed", fmt.Sprintf("Bundling %s into %s (esbuild, node%s, CommonJS)", src, entry, NodeTarget))
			if err := bundleNode(ws, svcDir, src, dir, entry, log); err != nil {
				return "", nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(nodePackageJSON), 0o644); err != nil {
				return "", nil, fmt.Errorf("bundle %s: %w", src, err)
			}
			return dir, []string{"."}, nil
		},
	}, nil
}

// nodeSourceFile returns the slash-separated path, relative to svcDir, of
// the file fn's handler names.
func nodeSourceFile(ws, svcDir string, fn stack.Function) (string, error) {
	var candidates []string
	if fn.Kind == stack.KindLambda {
		module, _, err := stack.SplitLambdaHandler("node", fn.Handler)
		if err != nil {
			return "", err
		}
		for _, ext := range stack.NodeSourceExts() {
			candidates = append(candidates, module+ext)
		}
	} else {
		rel := filepath.FromSlash(fn.Handler)
		if fn.Handler == "" || !filepath.IsLocal(rel) {
			return "", fmt.Errorf("handler %q is not a file inside the service folder; give the entry file that serves HTTP on $PORT, e.g. server.js", fn.Handler)
		}
		candidates = []string{fn.Handler}
	}
	for _, c := range candidates {
		p := filepath.Join(svcDir, filepath.FromSlash(c))
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("handler %q: %w", fn.Handler, err)
		}
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("handler %q: %s is not a file", fn.Handler, c)
		}
		// Bundling reads it: it must not lead out of the repository.
		if _, err := within(ws, p); err != nil {
			return "", fmt.Errorf("handler %q: %s: %w", fn.Handler, c, err)
		}
		return c, nil
	}
	if fn.Kind == stack.KindLambda {
		return "", fmt.Errorf("handler %q: none of %s is in the service folder after the build; the handler's file must be one of them", fn.Handler, strings.Join(candidates, ", "))
	}
	return "", fmt.Errorf("handler %q not found in the service folder after the build; give the entry file that serves HTTP on $PORT, e.g. server.js", fn.Handler)
}

// bundleNode bundles src (relative to svcDir) into outDir/entry. esbuild's
// warnings and errors go to log as "file:line:column: message" lines; on
// errors the returned error names the first. The output depends only on
// the sources and their paths relative to svcDir, so the same source
// gives the same bundle.
//
// Every file goes into the bundle through onlyWorkspace: nothing outside
// the workspace ws (the copy of the repository the build ran in) is read
// into it, whatever the code imports ("../../../secret.json", an absolute
// path) and wherever its symlinks point.
func bundleNode(ws, svcDir, src, outDir, entry string, log Log) error {
	outfile := filepath.Join(outDir, filepath.FromSlash(entry))
	confine, closeRoot, err := onlyWorkspace(ws)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", src, err)
	}
	defer closeRoot()
	res := api.Build(api.BuildOptions{
		Plugins:       []api.Plugin{confine},
		EntryPoints:   []string{filepath.Join(svcDir, filepath.FromSlash(src))},
		AbsWorkingDir: svcDir,
		Bundle:        true,
		Platform:      api.PlatformNode,
		Format:        api.FormatCommonJS,
		Engines:       []api.Engine{{Name: api.EngineNode, Version: NodeTarget}},
		Outfile:       outfile,
		LogLevel:      api.LogLevelSilent,
		// Not minified: stack traces keep their lines and names, and the
		// artifact is gzip'd anyway.
		Write: false,
	})
	for _, m := range res.Warnings {
		log.Line("stderr", esbuildMessage("warning", m))
	}
	if len(res.Errors) > 0 {
		for _, m := range res.Errors {
			log.Line("stderr", esbuildMessage("error", m))
		}
		more := ""
		if n := len(res.Errors) - 1; n > 0 {
			more = fmt.Sprintf(" (and %d more error%s, in the log)", n, plural(n))
		}
		return fmt.Errorf("bundle %s with esbuild: %s%s", src, esbuildMessage("", res.Errors[0]), more)
	}
	for _, f := range res.OutputFiles {
		rel, err := filepath.Rel(outDir, f.Path)
		if err != nil || !filepath.IsLocal(rel) {
			return fmt.Errorf("bundle %s: esbuild wrote %s, outside the bundle's folder", src, f.Path)
		}
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return fmt.Errorf("bundle %s: %w", src, err)
		}
		if err := os.WriteFile(f.Path, f.Contents, 0o644); err != nil {
			return fmt.Errorf("bundle %s: %w", src, err)
		}
	}
	if !isFile(outfile) {
		return fmt.Errorf("bundle %s: esbuild wrote no %s", src, entry)
	}
	return nil
}

// esbuildMessage renders m the way compilers do:
// "src/app.ts:3:7: error: Expected \";\" but found \"x\"".
func esbuildMessage(severity string, m api.Message) string {
	var b strings.Builder
	if loc := m.Location; loc != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", loc.File, loc.Line, loc.Column+1)
	}
	if severity != "" {
		b.WriteString(severity + ": ")
	}
	b.WriteString(m.Text)
	for _, n := range m.Notes {
		if n.Text != "" {
			b.WriteString(" (" + n.Text + ")")
		}
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// onlyWorkspace is an esbuild plugin that loads every file of a bundle
// itself, through an os.Root on the workspace ws: a file outside ws (by
// its path, or through a symlink, even one changed while bundling) is an
// error naming it, never read. The returned func closes the root.
func onlyWorkspace(ws string) (api.Plugin, func(), error) {
	real, err := filepath.EvalSymlinks(ws)
	if err != nil {
		return api.Plugin{}, nil, err
	}
	root, err := os.OpenRoot(real)
	if err != nil {
		return api.Plugin{}, nil, err
	}
	plugin := api.Plugin{Name: "seedbed-workspace-only", Setup: func(pb api.PluginBuild) {
		pb.OnLoad(api.OnLoadOptions{Filter: ".*"}, func(args api.OnLoadArgs) (api.OnLoadResult, error) {
			if args.Namespace != "file" {
				return api.OnLoadResult{}, nil
			}
			rel, err := filepath.Rel(real, args.Path)
			if err != nil || !filepath.IsLocal(rel) {
				return api.OnLoadResult{}, fmt.Errorf("%s is outside the repository: a bundle holds only files of the repository and its installed packages", args.Path)
			}
			b, err := root.ReadFile(rel)
			if err != nil {
				return api.OnLoadResult{}, fmt.Errorf("read %s: %w (a symlink leading outside the repository is refused)", filepath.ToSlash(rel), err)
			}
			contents := string(b)
			return api.OnLoadResult{Contents: &contents, Loader: api.LoaderDefault, ResolveDir: filepath.Dir(args.Path)}, nil
		})
	}}
	return plugin, func() { root.Close() }, nil
}
