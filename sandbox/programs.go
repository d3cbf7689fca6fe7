package sandbox

// Programs are what Detect looks for on the PATH: bubblewrap confines,
// pasta gives a sandbox a network of its own. The container image must
// carry both; deploy's image test holds the Dockerfile to this list.
func Programs() []string {
	return []string{"bwrap", "pasta"}
}
