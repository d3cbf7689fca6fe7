# Seedbed — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/seedbed

# What `make run` starts with; override on the command line or in the env.
SEEDBED_ADMIN_EMAIL ?= admin@seedbed.local
SEEDBED_ADMIN_PASSWORD ?= seedbed-admin
export SEEDBED_ADMIN_EMAIL SEEDBED_ADMIN_PASSWORD

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/seedbed
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/seedbed

.PHONY: run
run: build ## Start Seedbed with embedded defaults (SQLite, in-process queue) in ./data
	@echo "Console sign-in: $(SEEDBED_ADMIN_EMAIL) / $(SEEDBED_ADMIN_PASSWORD)"
	./$(BIN) serve

.PHONY: test
test: ## Run every test (PostgreSQL, Redis and Chromium tests skip if missing, fail under CI=true)
	$(GO) test -race -count=1 -timeout 30m ./...

# The Kubernetes target's cluster tests (build tag k8s) run against a real
# control plane built by the kit in shared/k8s (once, 8-11 min) and kept in
# K8S_DIR. `make test` does not build them; this target does, and the
# package's TestMain starts the cluster (up.sh) and stops it (down.sh).
K8S_DIR ?= $(HOME)/.cache/seedbed-k8s
K8S_KIT ?= $(firstword $(wildcard ../shared/k8s ../../shared/k8s /work/shared/k8s))

.PHONY: test-k8s
test-k8s: ## Run the Kubernetes target's tests on a real control plane (builds the kit into K8S_DIR if missing)
	@test -n "$(K8S_KIT)" || { echo "test-k8s: no Kubernetes test kit found: set K8S_KIT to the shared/k8s folder"; exit 1; }
	K8S_DIR=$(K8S_DIR) $(K8S_KIT)/build.sh
	K8S_DIR=$(K8S_DIR) K8S_KIT=$(abspath $(K8S_KIT)) KUBECONFIG= $(GO) test -tags k8s -count=1 -timeout 15m ./targets/kubernetes/

# A count, not a duration: with a duration, go1.26's fuzz coordinator can
# report "context deadline exceeded" as a failure when the time runs out
# while a worker is busy (golang/go#75804, fixed in go1.27); it failed CI
# here once, with no failing input. 20000 runs took 2-15 s a target here.
FUZZTIME ?= 20000x

.PHONY: fuzz
fuzz: ## Run every fuzz test briefly (FUZZTIME=20000x runs each)
	@set -e; for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for fn in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/'); do \
	    echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
	  done; \
	done

.PHONY: generate
generate: ## Regenerate templ components
	$(GO) tool templ generate

.PHONY: lint
lint: ## go vet, gofmt and generated-code drift
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) tool templ generate >/dev/null
	@git diff --exit-code -- '*_templ.go' || (echo "templ generate changed files: run make generate and commit" && exit 1)

# The local target's whole suite with every function sandboxed (bubblewrap
# and pasta, as a user of its app): the default where they work, while
# make test runs most of the package unconfined. As root; about a minute.
.PHONY: test-sandboxed
test-sandboxed: ## Run the local target's tests with every function sandboxed (root; bubblewrap, passt)
	SEEDBED_TEST_ISOLATION=sandbox $(GO) test -race -count=1 ./targets/local/

.PHONY: test-s3
test-s3: ## Run the artifact-store and certificate-storage tests on a real S3 server (builds SeaweedFS's weed once, see .ci/install-weed)
	SEEDBED_TEST_WEED="$$(bash .ci/install-weed)" $(GO) test -count=1 -run 'TestBucket|TestStorage$$|TestManagerSharesCertificates|TestArtifactStoreS3|TestCertificatesMoveToTheBucket|TestRotateKeyResealsTheBucket' ./builders/artifact/ ./domains/ ./cmd/seedbed/

# The container image, built from the Dockerfile with buildah (no daemon;
# a stand-in for golang:1.26-trixie made from Debian's mirror and this
# machine's Go, kept in ~/.cache/seedbed-image) and checked inside: see
# deploy/build-image.sh and docs/kubernetes-install.md. As root on Debian;
# not part of test or CI (the first run takes ~25 min here and 13 GB of
# disk in /var/lib/containers/storage).
IMAGE ?= seedbed:dev

.PHONY: image
image: ## Build the container image with buildah and check it (root, Debian; IMAGE=seedbed:dev)
	IMAGE=$(IMAGE) bash deploy/build-image.sh

# The sandbox inside a container started by a real OCI runtime (podman
# with runc), privileged and with the narrowest settings that work: see
# deploy/container_test.go and docs/kubernetes-install.md. As root; needs
# podman and runc (apt-get install podman runc); about 80 s, or a few
# seconds with CONTAINER_FLAGS=-short (the sandbox's own tests only, as
# .ci/run runs it).
CONTAINER_FLAGS ?=
.PHONY: test-container
test-container: ## Run the sandbox inside podman containers, privileged and with the narrowest settings it needs, on the host's and the image release's bubblewrap and pasta (root; podman, runc, mmdebstrap)
	$(GO) test -tags container -count=1 $(CONTAINER_FLAGS) -run '^(TestSandboxInContainer|TestSandboxOnImageRelease)$$' ./deploy/

.PHONY: bench
bench: ## Run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: cli-docs
cli-docs: ## Rewrite README.md's CLI reference and docs/cli.md from the commands' help
	$(GO) test ./cmd/seedbed -run '^TestCLIReference$$' -count=1 -update
