package stack

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// NodeSourceExts are the file extensions a node function's source may
// have, in the order a lambda handler's file is looked for: JavaScript
// first, as AWS Lambda does, then TypeScript (bundled as is).
func NodeSourceExts() []string {
	return []string{".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"}
}

// SplitLambdaHandler takes apart the handler of a lambda function of
// runtime node or python, following AWS Lambda's rules, and returns the
// module as a slash-separated path relative to the service folder (without
// extension) and the name the module exports:
//
//	node    "index.handler"      → "index", "handler"
//	node    "src/app.handler"    → "src/app", "handler" (the first dot of the last element splits)
//	python  "app.handler"        → "app", "handler"
//	python  "pkg.mod.handler"    → "pkg/mod", "handler" (the last dot splits)
//	python  "src/app.handler"    → "src/app", "handler"
//
// The error says what is wrong and what would be valid.
func SplitLambdaHandler(runtime, handler string) (module, export string, err error) {
	switch runtime {
	case "node":
		return splitNodeHandler(handler)
	case "python":
		return splitPythonHandler(handler)
	}
	return "", "", fmt.Errorf("runtime %q has no lambda handlers of the form file.export; lambda functions are for runtimes go, node and python", runtime)
}

const (
	nodeLambdaExample   = "index.handler (index.js or index.ts exporting handler)"
	pythonLambdaExample = "app.handler (app.py defining handler(event, context))"
)

func splitNodeHandler(h string) (string, string, error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("handler %q %s; a node lambda handler is file.export relative to the service folder, e.g. %s", h, why, nodeLambdaExample)
	}
	if msg := badPathChars(h); msg != "" {
		return bad(msg)
	}
	dir, base := path.Split(h)
	i := strings.IndexByte(base, '.')
	if i <= 0 || i == len(base)-1 {
		return bad("is not file.export")
	}
	if slices.Contains(NodeSourceExts(), base[i:]) {
		return bad("names a file, not an export")
	}
	for _, part := range strings.Split(base[i+1:], ".") {
		if !isIdentifier(part, "$") {
			return bad(fmt.Sprintf("exports %q, which is not a JavaScript name", base[i+1:]))
		}
	}
	module := path.Clean(dir + base[:i])
	if path.IsAbs(module) || module == ".." || strings.HasPrefix(module, "../") {
		return bad("leads outside the service folder")
	}
	return module, base[i+1:], nil
}

func splitPythonHandler(h string) (string, string, error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("handler %q %s; a python lambda handler is module.function relative to the service folder, e.g. %s", h, why, pythonLambdaExample)
	}
	if msg := badPathChars(h); msg != "" {
		return bad(msg)
	}
	i := strings.LastIndexByte(h, '.')
	if i <= 0 || i == len(h)-1 {
		return bad("is not module.function")
	}
	fn := h[i+1:]
	if fn == "py" {
		return bad("names a file, not a function")
	}
	if !isIdentifier(fn, "") {
		return bad(fmt.Sprintf("names function %q, which is not a Python name", fn))
	}
	module := strings.ReplaceAll(h[:i], ".", "/")
	for _, seg := range strings.Split(module, "/") {
		// Empty segments come from "..", a leading "/" or "a//b".
		if seg == "" || !isModuleSegment(seg) {
			return bad(fmt.Sprintf("has module %q, which is not a path of Python module names", h[:i]))
		}
	}
	return module, fn, nil
}

func badPathChars(h string) string {
	switch {
	case strings.TrimSpace(h) == "":
		return "is empty"
	case strings.ContainsAny(h, " \t\n\\\x00"):
		return "contains spaces or backslashes"
	case strings.HasPrefix(h, "/"):
		return "is absolute"
	}
	return ""
}

// isIdentifier says whether s is an ASCII identifier: a letter or _ (or
// one of extra) followed by letters, digits, _ and extra.
func isIdentifier(s, extra string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || strings.ContainsRune(extra, r) || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

func isModuleSegment(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// NodeEntry is the file, inside the artifact of a function of runtime
// node, that the target starts (http: node NodeEntry) or requires (lambda).
// The build bundles the handler's source into one CommonJS file with the
// same path and base name and the extension .js, so that a lambda handler
// stays valid as written:
//
//	http    "server.js"       → "server.js"
//	http    "src/server.ts"   → "src/server.js"
//	lambda  "index.handler"   → "index.js"  (from index.js or index.ts)
//	lambda  "src/app.handler" → "src/app.js"
//
// It returns "" for a handler that is not valid.
func NodeEntry(fn Function) string {
	if fn.Kind == KindLambda {
		module, _, err := splitNodeHandler(fn.Handler)
		if err != nil {
			return ""
		}
		return module + ".js"
	}
	if fn.Handler == "" {
		return ""
	}
	return strings.TrimSuffix(fn.Handler, path.Ext(fn.Handler)) + ".js"
}
