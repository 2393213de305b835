#!/usr/bin/env bash
# Checks tools/install.sh: installs into a temporary prefix and runs the
# installed binaries as a user would (--version, --help, the completion).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=$(mktemp -d /tmp/install_test.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install_test: $*" >&2; exit 1; }

tools/install.sh --prefix="$prefix" >"$prefix.log" 2>&1 || { tail -20 "$prefix.log" >&2; rm -f "$prefix.log"; fail "install.sh failed"; }
rm -f "$prefix.log"
for b in devgofer runsc-shim devctl; do
  [[ -x $prefix/bin/$b ]] || fail "$prefix/bin/$b is missing"
  out=$("$prefix/bin/$b" --version) || fail "$b --version exited $?"
  grep -q "gvisor.dev/gvisor" <<<"$out" || fail "$b --version does not name the gVisor version: $out"
  "$prefix/bin/$b" --help >/dev/null || fail "$b --help exited $?"
done
[[ -s $prefix/share/bash-completion/completions/devctl ]] || fail "no bash completion installed"
bash -c "source '$prefix/share/bash-completion/completions/devctl'" || fail "the completion script does not load"
echo "install_test: devgofer, runsc-shim and devctl installed and answer --version and --help"
