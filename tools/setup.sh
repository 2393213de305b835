#!/usr/bin/env bash
# Installs the Debian 12 packages this project builds and tests with, and
# the pinned buildifier that tools/format.sh runs (tools/buildifier.sh).
# Idempotent: apt-get update, then apt-get install of the whole list (a no-op
# for what is already installed); buildifier is built with Go
# (tools/setup_go.sh) only when its pinned version is not installed yet.
# Runs apt as root, or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3; pulls in OpenJDK 17 and build-essential
  pkg-config
  protobuf-compiler libprotobuf-dev
  protobuf-compiler-grpc libgrpc++-dev
  libabsl-dev
  libgoogle-glog-dev libgflags-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libseccomp-dev libcap-dev # devgofer's sandbox
  libyaml-cpp-dev          # CDI and OCI spec files (pkg/devscope)
  libsystemd-dev           # sd_notify, socket activation (pkg/sdnotify)
  libcpp-httplib-dev       # the shim's Prometheus endpoint (runsc_shim/metrics_http)
  clang libclang-rt-14-dev # libFuzzer builds (--config=fuzz)
  clang-format-14          # tools/format.sh
  ca-certificates
)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "tools/setup.sh: need root or sudo to install: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update -qq; then
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "tools/setup.sh: apt-get update failed and these are missing: ${missing[*]}" >&2
    exit 1
  fi
  echo "tools/setup.sh: apt-get update failed; every package is already installed, going on" >&2
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "tools/setup.sh: installing ${missing[*]}"
fi
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "tools/setup.sh: all packages present"

# shellcheck source=tools/buildifier.sh
source tools/buildifier.sh
if [[ ! -x "$BUILDIFIER" ]]; then
  # shellcheck source=tools/setup_go.sh
  source tools/setup_go.sh
  echo "tools/setup.sh: installing buildifier $BUILDIFIER_VERSION into $BUILDIFIER_DIR"
  mkdir -p "$BUILDIFIER_DIR"
  # Built outside this repository, so that no go.mod here applies.
  (cd / && GOBIN="$BUILDIFIER_DIR" \
    go install "$BUILDIFIER_MODULE@$BUILDIFIER_VERSION")
fi
echo "tools/setup.sh: buildifier present ($BUILDIFIER)"
