#!/usr/bin/env bash
# Makes the third-party gRPC clients operators use available: grpcurl and
# grpc_health_probe, at pinned versions, built with `go install` from the Go
# module proxy (the Go toolchain comes from tools/setup_go.sh).
#
# Source it (`source tools/grpc_tools.sh`): it sets GRPCURL and
# GRPC_HEALTH_PROBE to the binaries and exits the caller with a message if it
# cannot. Run it (`tools/grpc_tools.sh`) to install them and print their
# paths. The binaries go to GRPC_TOOLS_BIN (default
# ~/.cache/gvisor_devutil/grpc-tools); a binary already there that
# `go version -m` shows was built from the pinned module version is kept, so
# later runs download and build nothing.
#
# grpcurl v1.9.2 and v1.9.3 ignore -unix (grpcurl issue #496, fixed after
# v1.9.3); the address form unix:PATH works with them, as with devctl
# --server and grpc_health_probe -addr.

GRPCURL_VERSION=v1.9.3
GRPC_HEALTH_PROBE_VERSION=v0.4.62

grpc_tools_die() { printf 'grpc_tools: %s\n' "$*" >&2; exit 1; }

# grpc_tools_have BIN MODULE VERSION: BIN exists and was built from MODULE
# at VERSION.
grpc_tools_have() {
  [[ -x "$1" ]] &&
    go version -m "$1" 2>/dev/null |
    grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"
}

# grpc_tools_install PKG MODULE VERSION BIN: go installs PKG@VERSION into
# GRPC_TOOLS_BIN unless BIN there is already that build.
grpc_tools_install() {
  local pkg=$1 module=$2 version=$3 bin=$4
  grpc_tools_have "$GRPC_TOOLS_BIN/$bin" "$module" "$version" && return 0
  echo "grpc_tools: go install $pkg@$version" >&2
  GOBIN="$GRPC_TOOLS_BIN" go install "$pkg@$version" ||
    grpc_tools_die "go install $pkg@$version failed"
  grpc_tools_have "$GRPC_TOOLS_BIN/$bin" "$module" "$version" ||
    grpc_tools_die "go install $pkg@$version left no $GRPC_TOOLS_BIN/$bin of $module $version"
}

# shellcheck source=tools/setup_go.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup_go.sh"
GRPC_TOOLS_BIN=${GRPC_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/gvisor_devutil/grpc-tools}
mkdir -p "$GRPC_TOOLS_BIN" || grpc_tools_die "cannot make $GRPC_TOOLS_BIN"
grpc_tools_install github.com/fullstorydev/grpcurl/cmd/grpcurl \
  github.com/fullstorydev/grpcurl "$GRPCURL_VERSION" grpcurl
grpc_tools_install github.com/grpc-ecosystem/grpc-health-probe \
  github.com/grpc-ecosystem/grpc-health-probe "$GRPC_HEALTH_PROBE_VERSION" \
  grpc-health-probe
# go install names the binary after the module; its own releases call it
# grpc_health_probe.
ln -sfn grpc-health-probe "$GRPC_TOOLS_BIN/grpc_health_probe"
GRPCURL="$GRPC_TOOLS_BIN/grpcurl"
GRPC_HEALTH_PROBE="$GRPC_TOOLS_BIN/grpc_health_probe"

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  printf '%s\n' "$GRPCURL" "$GRPC_HEALTH_PROBE"
fi
