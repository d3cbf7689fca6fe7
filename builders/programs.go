package builders

// Programs are the programs builds run on this machine: the shell that
// runs build commands and hooks, and each runtime's tools (go for
// DefaultGoBuild, npm and the node it needs for npmInstall, python3 and
// its pip module for PipInstall). esbuild bundles node functions in
// process and needs nothing. The container image must carry each one;
// deploy's image test holds the Dockerfile to this list.
func Programs() []string {
	return []string{"sh", "go", "npm", "node", "python3", "python3 -m pip"}
}
