#!/usr/bin/env bash
# Checks tools/install.sh: installs into a temporary prefix and runs the
# installed binaries as a user would (--version, --help, the completion),
# then starts the installed shim and attaches a managed container: the shim
# finds the installed devgofer beside itself.
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

# shellcheck source=tools/ready.sh
source tools/ready.sh
shim_pid=""
trap '[[ -n $shim_pid ]] && kill "$shim_pid" 2>/dev/null; rm -rf "$prefix"' EXIT
start_server "$prefix" "$prefix/shim.log" "$prefix/bin/runsc-shim" \
  --listen="unix:$prefix/shim.sock" || { cat "$prefix/shim.log" >&2; fail "the installed shim did not start"; }
shim_pid=$SERVER_PID
devctl() { "$prefix/bin/devctl" --server="unix:$prefix/shim.sock" "$@"; }
devctl attach m --managed --allow=null --allow=zero >/dev/null ||
  { cat "$prefix/shim.log" >&2; fail "a managed attach through the installed shim failed"; }
listing=$(devctl devices m) || fail "devctl devices m exited $?"
grep -q "null  zero" <<<"$listing" || fail "managed container m lists: $listing"
devctl detach m >/dev/null || fail "devctl detach m exited $?"
kill -TERM "$shim_pid"
wait "$shim_pid" || fail "the installed shim exited $? on SIGTERM"
shim_pid=""
echo "install_test: devgofer, runsc-shim and devctl installed and answer --version and --help; the installed shim runs a managed gofer"
