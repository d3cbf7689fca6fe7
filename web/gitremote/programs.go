package gitremote

// Programs are what the built-in remote runs: git serves pushes and
// clones (go-git's server side is not a remote; see the design notes).
// The container image must carry it; deploy's image test holds the
// Dockerfile to this list.
func Programs() []string {
	return []string{"git"}
}
