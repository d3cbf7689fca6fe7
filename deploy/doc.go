// Package deploy holds what runs Seedbed itself rather than what Seedbed
// runs: the Kubernetes manifests in deploy/kubernetes, and the tests that
// hold the container image (the Dockerfile at the repository's root) and
// the manifests to the code: every program the builders, the local target,
// the sandbox and the built-in git remote run is installed in the image,
// and every manifest is a Kubernetes object that the rest refer to
// consistently. It has no code of its own to import.
package deploy
