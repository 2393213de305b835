#!/usr/bin/env bash
# Makes a Go toolchain available for the interop harness (testing/interop),
# which builds gVisor's Go code and needs the Go version its go.mod names.
#
# Source it (`source tools/setup_go.sh`): it puts a `go` on PATH and exits the
# caller with a message if it cannot. In order, it uses
#   1. a `go` already on PATH, or /usr/local/go/bin/go;
#   2. otherwise Debian's golang-1.23-go from the bookworm-backports suite
#      (the suite is added to APT's sources if missing; needs root or sudo).
# Whatever Go it finds, the go command itself fetches the toolchain that
# testing/interop/go.mod asks for from the Go module proxy when it is older
# (GOTOOLCHAIN=auto, the default; the download is cached in the module cache,
# so later runs fetch nothing).

setup_go_die() { printf 'setup_go: %s\n' "$*" >&2; exit 1; }

setup_go_apt() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      setup_go_die "Go is missing and installing golang-1.23-go needs root or sudo"
    sudo=(sudo)
  fi
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "setup_go: adding Debian's bookworm-backports suite to APT's sources"
    printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
      'Suites: bookworm-backports' 'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
      "${sudo[@]}" tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq || setup_go_die "apt-get update failed"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports golang-1.23-go >/dev/null ||
    setup_go_die "apt-get install -t bookworm-backports golang-1.23-go failed"
}

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH"
  else
    [[ -x /usr/lib/go-1.23/bin/go ]] || setup_go_apt
    [[ -x /usr/lib/go-1.23/bin/go ]] || setup_go_die "golang-1.23-go installed no /usr/lib/go-1.23/bin/go"
    export PATH="/usr/lib/go-1.23/bin:$PATH"
  fi
fi
# Debian's Go sets GOTOOLCHAIN=local in its go.env, which would stop the go
# command from fetching the toolchain go.mod names; an explicit setting in
# the environment other than "local" is kept.
if [[ -z "${GOTOOLCHAIN:-}" || "${GOTOOLCHAIN}" == local ]]; then
  export GOTOOLCHAIN=auto
fi
