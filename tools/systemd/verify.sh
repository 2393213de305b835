#!/usr/bin/env bash
# Checks the example unit files with `systemd-analyze verify`. ExecStart
# names the installed binaries (/usr/local/bin), which verify requires to
# exist, so a copy whose ExecStart names the binaries bazel built is
# verified instead; any warning fails. Needs systemd-analyze (Debian: systemd); without it,
# says so and exits 0.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "tools/systemd/verify.sh: systemd-analyze not found; skipped" >&2
  exit 0
fi
bazel build //tools/devgofer:devgofer //runsc_shim:shim >/dev/null 2>&1
bin="$(bazel info bazel-bin 2>/dev/null)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for f in tools/systemd/*.service tools/systemd/*.socket; do
  sed -e "s|/usr/local/bin/devgofer|$bin/tools/devgofer/devgofer|" \
    -e "s|/usr/local/bin/runsc-shim|$bin/runsc_shim/shim|" "$f" >"$tmp/$(basename "$f")"
done
# verify only warns (exit 0) about a setting it cannot parse: any output
# is a failure.
out="$(cd "$tmp" && systemd-analyze verify ./*.socket ./*.service 2>&1)" || {
  echo "$out" >&2
  exit 1
}
if [[ -n "$out" ]]; then
  echo "$out" >&2
  exit 1
fi
echo "tools/systemd/verify.sh: unit files verified"
