#!/usr/bin/env bash
# Builds the container image from ./Dockerfile, unchanged, and checks it
# (`make image`). For a machine like the project's: Debian, root, no
# container daemon, no Docker Hub; Debian's mirror and the Go module proxy
# are all it fetches from. buildah builds (vfs storage, chroot isolation,
# the host's network), and FROM golang:1.26-trixie is served by a stand-in
# made here: Debian trixie from deb.debian.org with the packages of the
# official image's layers (buildpack-deps:trixie-curl and -scm, then gcc,
# g++, libc6-dev, make, pkg-config), this machine's Go of the same minor
# version in /usr/local/go, and the official image's environment (PATH,
# GOPATH=/go, GOTOOLCHAIN=local). docs/kubernetes-install.md says how it
# differs from Docker Hub's.
#
# The stand-in's root filesystem is kept in $CACHE (~/.cache/seedbed-image),
# the stand-in and the image in buildah's storage; a second run reuses both
# and buildah's layer cache. REBUILD_BASE=1 makes the stand-in again.
#
#   deploy/build-image.sh                   build seedbed:dev, check it
#   IMAGE=registry.example.com/seedbed:v1 deploy/build-image.sh
#   CHECK=0 deploy/build-image.sh           build only
#
# The checks are deploy/image_build_test.go (build tag image): every
# program the code runs is on the image's PATH, Node.js is new enough,
# seedbed serve answers /healthz, and the builders' tests build Go, Node,
# Python and static functions inside the image.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-seedbed:dev}
CACHE=${CACHE:-$HOME/.cache/seedbed-image}
CHECK=${CHECK:-1}
MIRROR=${MIRROR:-http://deb.debian.org}
EXTRA_CA_DIR=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
export STORAGE_DRIVER=vfs
bah=(buildah --storage-driver vfs)

die() { echo "build-image: $*" >&2; exit 1; }
say() { echo "build-image: $*" >&2; }
# timed NAME CMD...: runs CMD and says how long it took.
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  say "$name: $((SECONDS - start)) s"
}

[ "$(id -u)" = 0 ] || die "run as root: buildah's vfs storage and chroot isolation need it here (no rootless setup)"
command -v apt-get >/dev/null || die "needs a Debian machine (apt-get) to install buildah and mmdebstrap"
command -v go >/dev/null || die "needs Go on the PATH: the stand-in base image gets this machine's Go"

# 1. Tools.
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The stand-in for the base image. The Dockerfile must name one base,
# golang:X.Y-trixie, and this machine's Go must be an X.Y.
base=$(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | sort -u)
[ "$(wc -l <<<"$base")" = 1 ] || die "the Dockerfile's stages have different bases ($(tr '\n' ' ' <<<"$base")); this script makes a stand-in for one golang:X.Y-trixie"
[[ $base =~ ^golang:([0-9]+\.[0-9]+)-trixie$ ]] || die "the Dockerfile builds FROM $base; this script makes a stand-in for golang:X.Y-trixie only"
want_go=${BASH_REMATCH[1]}
goroot=$(go env GOROOT)
gov=$(go env GOVERSION) # go1.26.8
[[ $gov == "go$want_go".* || $gov == "go$want_go" ]] || die "the Dockerfile builds FROM $base, and this machine's Go ($goroot) is $gov: install Go $want_go"

rootfs=$CACHE/trixie-rootfs.tar
if [ "${REBUILD_BASE:-0}" = 1 ] || [ ! -s "$rootfs" ]; then
  mkdir -p "$CACHE"
  # The packages of buildpack-deps:trixie-curl, buildpack-deps:trixie-scm
  # and golang:trixie's own layer, on debian:trixie (minbase, with apt).
  pkgs=ca-certificates,curl,gnupg,netbase,sq,wget
  pkgs+=,git,mercurial,openssh-client,subversion,procps
  pkgs+=,g++,gcc,libc6-dev,make,pkg-config
  say "making the trixie root filesystem for $base in $rootfs (once)"
  # No device nodes (the runtime makes /dev), and no trace of this
  # machine's name or resolver (buildah mounts its own at run time).
  # shellcheck disable=SC2016 # $1 is for mmdebstrap's hook to expand
  timed "mmdebstrap trixie" mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
    --include="$pkgs" --skip=output/dev \
    --customize-hook='echo localhost >"$1/etc/hostname"; : >"$1/etc/resolv.conf"' \
    trixie "$rootfs.tmp" \
    "deb $MIRROR/debian trixie main" \
    "deb $MIRROR/debian trixie-updates main" \
    "deb $MIRROR/debian-security trixie-security main"
  mv "$rootfs.tmp" "$rootfs"
fi

# The stand-in is made again when the root filesystem or Go changed.
stamp="$gov $(stat -c %Y "$rootfs")"
have=$("${bah[@]}" inspect --type image --format '{{index .ImageAnnotations "seedbed.stand-in"}}' "$base" 2>/dev/null || true)
if [ "$have" != "$stamp" ]; then
  say "importing the stand-in $base (trixie + $gov)"
  make_base() {
    local ctr
    ctr=$("${bah[@]}" from --quiet scratch)
    # shellcheck disable=SC2064 # the container's name is known now
    trap "${bah[*]} rm $ctr >/dev/null 2>&1 || true" RETURN
    "${bah[@]}" add --quiet "$ctr" "$rootfs" /
    "${bah[@]}" copy --quiet "$ctr" "$goroot" /usr/local/go
    "${bah[@]}" run --isolation chroot "$ctr" -- sh -c 'mkdir -p /go/src /go/bin && chmod -R 1777 /go'
    "${bah[@]}" config \
      --env GOLANG_VERSION="${gov#go}" --env GOTOOLCHAIN=local --env GOPATH=/go \
      --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --workingdir /go --cmd bash --os linux --arch "$(go env GOARCH)" \
      --annotation seedbed.stand-in="$stamp" \
      "$ctr"
    "${bah[@]}" commit --quiet --rm "$ctr" "$base" >/dev/null
  }
  timed "import $base" make_base
else
  say "stand-in $base is up to date (trixie + $gov)"
fi

# 3. The image, from the Dockerfile as it is. The host's network: the
# build fetches modules (go mod download) and Debian packages. Where this
# machine trusts CAs of its own (a proxy that intercepts TLS), the RUN
# steps see them in /etc/pki/tls/certs, a folder Go reads and Debian
# leaves alone, so go mod download trusts what the host trusts and the
# image keeps none of them.
cas=()
if [ -n "$(ls -A "$EXTRA_CA_DIR" 2>/dev/null)" ]; then
  say "the build's RUN steps trust the CAs in $EXTRA_CA_DIR (not kept in the image)"
  cas=(--volume "$EXTRA_CA_DIR:/etc/pki/tls/certs:ro")
fi
# Each line of buildah's output is prefixed with the seconds since the
# build began, so the log shows how long each step took.
bud() {
  local start=$SECONDS line
  "${bah[@]}" bud --pull=never --isolation chroot --network host --layers --force-rm \
    "${cas[@]}" -t "$IMAGE" -f Dockerfile . 2>&1 |
    while IFS= read -r line; do printf '%4d s  %s\n' $((SECONDS - start)) "$line"; done
}
timed "buildah bud $IMAGE" bud
"${bah[@]}" images "$IMAGE" >&2

# 4. The checks, run against the image.
if [ "$CHECK" = 1 ]; then
  timed "checks" env SEEDBED_IMAGE="$IMAGE" go test -tags image -count=1 -timeout 20m -v -run '^TestBuiltImage' ./deploy/
fi
