#!/usr/bin/env bash
# Builds the three binaries optimized and installs them under a prefix:
#
#   tools/install.sh [--prefix=DIR]      (default /usr/local)
#
#   DIR/bin/devgofer    the dev gofer (LISAFS server of a host directory)
#   DIR/bin/runsc-shim  the gRPC control plane (bazel target //runsc_shim:shim;
#                       the name the unit files in tools/systemd use)
#   DIR/bin/devctl      its command-line client
#   DIR/share/bash-completion/completions/devctl   (devctl completion bash)
#   DIR/share/gvisor_devutil/systemd/*             example unit files, if any
#
# Installs the Debian packages the build needs first (tools/setup.sh), and
# prints each installed path. Run it again to upgrade; it replaces files in
# place and removes nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
for a in "$@"; do
  case $a in
    --prefix=*) prefix=${a#--prefix=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $a (see tools/install.sh --help)" >&2; exit 2 ;;
  esac
done
[[ $prefix == /* ]] || prefix="$(pwd)/$prefix"

tools/setup.sh
bazel build -c opt //tools/devgofer //runsc_shim:shim //runsc_shim:devctl
bin=$(bazel info -c opt bazel-bin 2>/dev/null)

put() {  # put SRC DEST MODE
  install -D -m "$3" "$1" "$2"
  echo "installed $2"
}
put "$bin/tools/devgofer/devgofer" "$prefix/bin/devgofer" 0755
put "$bin/runsc_shim/shim" "$prefix/bin/runsc-shim" 0755
put "$bin/runsc_shim/devctl" "$prefix/bin/devctl" 0755
completion=$(mktemp)
trap 'rm -f "$completion"' EXIT
"$prefix/bin/devctl" completion bash >"$completion"
put "$completion" "$prefix/share/bash-completion/completions/devctl" 0644
for f in tools/systemd/*.service tools/systemd/*.socket; do
  [[ -e $f ]] || continue
  put "$f" "$prefix/share/gvisor_devutil/systemd/$(basename "$f")" 0644
done
