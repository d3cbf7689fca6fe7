package local

// Programs are what the local target starts functions with (see
// command in runtimes.go): node and python3 for those runtimes, sh for
// process functions; go functions are their own binaries. The container
// image must carry each one (in sandboxPath, where a sandboxed function
// finds them); deploy's image test holds the Dockerfile to this list.
func Programs() []string {
	return []string{"node", "python3", "sh"}
}
