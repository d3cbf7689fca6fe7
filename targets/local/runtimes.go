package local

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// bootstraps holds the Lambda runtimes Seedbed ships for Node and Python;
// start writes the one a function needs into its run directory.
//
//go:embed bootstrap/node.cjs bootstrap/python.py
var bootstraps embed.FS

// Where a function's bootstrap lives inside its run directory.
const (
	nodeBootstrap   = "seedbed-runtime.cjs"
	pythonBootstrap = "seedbed_runtime.py"
)

// kindOf returns the function's kind, "" read as http.
func kindOf(fn targets.Function) string {
	if fn.Kind == "" {
		return stack.KindHTTP
	}
	return fn.Kind
}

func isLambda(fn targets.Function) bool { return kindOf(fn) == stack.KindLambda }

// checkFunction refuses what could never start, before anything starts.
func checkFunction(fn targets.Function) error {
	kind := kindOf(fn)
	if kind != stack.KindHTTP && kind != stack.KindLambda {
		return fmt.Errorf("function %s: kind %q is not supported (use %s or %s)", fn.Key(), fn.Kind, stack.KindHTTP, stack.KindLambda)
	}
	lambda := kind == stack.KindLambda
	local := func(p string) bool { return p != "" && filepath.IsLocal(filepath.FromSlash(p)) }
	switch fn.Runtime {
	case "go":
		if !local(fn.Handler) {
			return fmt.Errorf("function %s: handler %q must be a file inside the artifact", fn.Key(), fn.Handler)
		}
	case "node", "python":
		if lambda {
			if _, _, err := stack.SplitLambdaHandler(fn.Runtime, fn.Handler); err != nil {
				return fmt.Errorf("function %s: %w", fn.Key(), err)
			}
		} else if entry := httpEntry(fn); !local(entry) {
			return fmt.Errorf("function %s: handler %q must be a %s file inside the artifact", fn.Key(), fn.Handler, fn.Runtime)
		}
	case "static":
		if lambda {
			return fmt.Errorf("function %s: a static function serves files; it cannot be of kind lambda", fn.Key())
		}
		if fn.Handler != "" && !filepath.IsLocal(filepath.FromSlash(fn.Handler)) {
			return fmt.Errorf("function %s: handler %q must be a folder inside the artifact (or empty for its root)", fn.Key(), fn.Handler)
		}
	case "process":
		if lambda {
			return fmt.Errorf("function %s: a process function serves HTTP on $PORT; it cannot be of kind lambda", fn.Key())
		}
		if strings.TrimSpace(fn.Handler) == "" {
			return fmt.Errorf("function %s: handler (the command to run) is empty", fn.Key())
		}
	default:
		return fmt.Errorf("function %s: runtime %q is not supported by the local target (use go, node, python, static or process)", fn.Key(), fn.Runtime)
	}
	if _, err := artifactHex(fn.Digest); err != nil {
		return fmt.Errorf("function %s: %w", fn.Key(), err)
	}
	return nil
}

// httpEntry is the file an HTTP function of runtime go, node or python
// starts, relative to the artifact root. The build bundles a node entry
// into a .js file of the same name (see stack.NodeEntry).
func httpEntry(fn targets.Function) string {
	if fn.Runtime == "node" {
		return stack.NodeEntry(stack.Function{Kind: stack.KindHTTP, Handler: fn.Handler})
	}
	return fn.Handler
}

// checkArtifact refuses an unpacked artifact that lacks what the function
// starts. A lambda handler's module is left to the runtime, whose init
// error says best what is wrong with it.
func checkArtifact(fn targets.Function, dir string) error {
	switch {
	case fn.Runtime == "static":
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(fn.Handler)))
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("function %s: handler %q is not a folder in artifact %s", fn.Key(), fn.Handler, shortDigest(fn.Digest))
		}
	case fn.Runtime == "go" || (!isLambda(fn) && (fn.Runtime == "node" || fn.Runtime == "python")):
		entry := httpEntry(fn)
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(entry))); err != nil {
			if entry != fn.Handler {
				return fmt.Errorf("function %s: handler %q needs %s, which is not in artifact %s", fn.Key(), fn.Handler, entry, shortDigest(fn.Digest))
			}
			return fmt.Errorf("function %s: handler %q is not in artifact %s", fn.Key(), fn.Handler, shortDigest(fn.Digest))
		}
	}
	return nil
}

// writeBootstrap puts the Lambda runtime a node or python function needs
// into its run directory.
func writeBootstrap(fn targets.Function, runDir string) error {
	var src, dst string
	switch {
	case !isLambda(fn):
		return nil
	case fn.Runtime == "node":
		src, dst = "bootstrap/node.cjs", nodeBootstrap
	case fn.Runtime == "python":
		src, dst = "bootstrap/python.py", pythonBootstrap
	default:
		return nil
	}
	b, err := bootstraps.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read the %s bootstrap: %w", fn.Runtime, err)
	}
	if err := os.WriteFile(filepath.Join(runDir, dst), b, 0o444); err != nil {
		return fmt.Errorf("write the %s bootstrap: %w", fn.Runtime, err)
	}
	return nil
}

// command prepares the process of the instance:
//
//	go       the handler binary (aws-lambda-go finds the Runtime API itself)
//	node     node ENTRY, or node seedbed-runtime.cjs MODULE EXPORT for lambda
//	python   python3 ENTRY, or python3 seedbed_runtime.py MODULE FUNCTION MiB
//	process  /bin/sh -c HANDLER
//
// Memory is a hard limit where the target has cgroups (see MemoryLimits):
// the instance's cgroup holds every process of it to the function's
// memory, whatever the runtime. The runtimes' own knobs are set too, as
// they make a process live within its memory rather than be stopped for
// it: GOMEMLIMIT for go (see env), V8's --max-old-space-size (the
// JavaScript heap) for node. Without cgroups they are all there is, with
// RLIMIT_AS set by the bootstrap for python lambdas; under a cgroup the
// bootstrap is given 0 instead, as an address-space limit counts memory
// merely reserved and would fail a handler well within its real limit.
//
// With a sandbox (in.uid above 0) the command runs in it, as the app's
// user; the sandbox.Cmd returned then must be started with its Cmd and
// finished with Started (see spawn).
func (in *instance) command(port int) (*exec.Cmd, *sandbox.Cmd, error) {
	fn := in.fn
	var name string
	var args []string
	switch fn.Runtime {
	case "go":
		name = filepath.Join(in.dir, filepath.FromSlash(fn.Handler))
	case "node":
		name = "node"
		if fn.Memory > 0 {
			// The heap gets most of the memory; the rest is for code,
			// stacks and buffers.
			args = append(args, "--max-old-space-size="+strconv.Itoa(max(fn.Memory*9/10, 16)))
		}
		if isLambda(fn) {
			module, export, err := stack.SplitLambdaHandler("node", fn.Handler)
			if err != nil {
				return nil, nil, err
			}
			args = append(args, filepath.Join(in.runDir, nodeBootstrap), module, export)
		} else {
			args = append(args, filepath.Join(in.dir, filepath.FromSlash(httpEntry(fn))))
		}
	case "python":
		name = "python3"
		if isLambda(fn) {
			module, function, err := stack.SplitLambdaHandler("python", fn.Handler)
			if err != nil {
				return nil, nil, err
			}
			rlimit := fn.Memory
			if in.cg != nil {
				rlimit = 0 // the cgroup holds it to its memory
			}
			args = []string{"-u", filepath.Join(in.runDir, pythonBootstrap), module, function, strconv.Itoa(rlimit)}
		} else {
			args = []string{"-u", filepath.Join(in.dir, filepath.FromSlash(fn.Handler))}
		}
	case "process":
		name, args = "/bin/sh", []string{"-c", fn.Handler}
	default:
		return nil, nil, fmt.Errorf("runtime %q is not supported by the local target", fn.Runtime)
	}
	env := in.env(port)
	if in.uid != 0 {
		if name == "node" || name == "python3" {
			p, err := interpreter(fn.Runtime, name)
			if err != nil {
				return nil, nil, err
			}
			name = p
		}
		sb, err := in.sandboxed(port, name, args, env)
		if err != nil {
			return nil, nil, err
		}
		return sb.Cmd, sb, nil
	}
	cmd := exec.Command(name, args...)
	if cmd.Err != nil && (fn.Runtime == "node" || fn.Runtime == "python") {
		return nil, nil, fmt.Errorf("runtime %s needs %s on the PATH of Seedbed: %w", fn.Runtime, cmd.Args[0], cmd.Err)
	}
	cmd.Dir = in.dir
	cmd.Env = env
	// Own process group, so stopping reaches the function's children too;
	// killed with Seedbed, which restores its stages when it starts again.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, nil, nil
}

// lambdaName is the function name a Lambda-style function is told
// (AWS_LAMBDA_FUNCTION_NAME): app-stage-service-name, in the characters
// Lambda allows.
func lambdaName(stage targets.StageRef, fn targets.Function) string {
	return strings.ReplaceAll(safeName(stage.App+"-"+stage.Stage+"-"+fn.Service+"-"+fn.Name), ".", "_")
}

// lambdaARN is the ARN a Lambda-style function is told it was invoked as.
func lambdaARN(stage targets.StageRef, fn targets.Function) string {
	return "arn:aws:lambda:" + lambdaRegion + ":" + lambdaAccount + ":function:" + lambdaName(stage, fn)
}

// The region and account a Lambda-style function and its events see.
const (
	lambdaRegion  = "local"
	lambdaAccount = "000000000000"
	// lambdaDefaultMemory is what AWS_LAMBDA_FUNCTION_MEMORY_SIZE says
	// when the function sets no memory (Lambda's default); it is not
	// enforced: a function without memory has no limit.
	lambdaDefaultMemory = 128
)
