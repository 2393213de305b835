#!/usr/bin/env bash
# The main job, end to end: a dev gofer serving this host's real /dev,
# driven through the runsc_shim gRPC control plane.
#
#   tools/demo.sh
#
# It installs the Debian packages it needs (tools/setup.sh), builds devgofer,
# the shim and devctl, starts devgofer on /dev and the shim on a temporary
# unix socket, attaches container "demo", lists its devices, probes null,
# zero and urandom, then starts a second devgofer scoped by a CDI spec to
# null, zero and urandom and attaches container "scoped" to it (it lists
# only those three) and reattaches it, detaches both, and stops everything. Every step is printed;
# the exit status is non-zero if any step fails. Extra Bazel startup options
# (e.g. --output_base=DIR) can be passed in BAZEL_STARTUP_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/ready.sh
source tools/ready.sh

STEPS=13
n=0
if [ -t 1 ]; then BOLD=$'\033[1m' RED=$'\033[1;31m' GREEN=$'\033[1;32m' OFF=$'\033[0m'
else BOLD="" RED="" GREEN="" OFF=""; fi
step() {
  n=$((n + 1))
  printf '\n%s==> [%d/%d] %s%s\n' "$BOLD" "$n" "$STEPS" "$*" "$OFF"
}
fail() {
  printf '\n%sdemo FAILED at step %d: %s%s\n' "$RED" "$n" "$*" "$OFF" >&2
  exit 1
}
# run prints a command, runs it, and fails the demo if it fails.
run() {
  printf '$ %s\n' "$*"
  "$@" || fail "$* (exit $?)"
}

read -r -a BAZEL_FLAGS <<<"${BAZEL_STARTUP_FLAGS:-}"
bazel_() { bazel "${BAZEL_FLAGS[@]}" "$@"; }
TARGETS=(//tools/devgofer:devgofer //runsc_shim:shim //runsc_shim:devctl)

step "install the Debian packages (tools/setup.sh)"
tools/setup.sh || fail "tools/setup.sh"

step "build devgofer, the shim and devctl"
printf '$ bazel build -c opt %s\n' "${TARGETS[*]}"
bazel_ build -c opt --symlink_prefix=/ "${TARGETS[@]}" || fail "bazel build"
BIN="$(bazel_ info -c opt bazel-bin 2>/dev/null)"
DEVGOFER="$BIN/tools/devgofer/devgofer"
SHIM="$BIN/runsc_shim/shim"
DEVCTL="$BIN/runsc_shim/devctl"
for b in "$DEVGOFER" "$SHIM" "$DEVCTL"; do
  [ -x "$b" ] || fail "built binary $b not found"
done

TMP="$(mktemp -d /tmp/devdemo.XXXXXX)"
GOFER_SOCK="$TMP/gofer.sock"
SHIM_SOCK="$TMP/shim.sock"
SCOPED_SOCK="$TMP/scoped.sock"
GOFER_PID=""
SCOPED_PID=""
SHIM_PID=""
cleanup() {
  [ -n "$SHIM_PID" ] && kill "$SHIM_PID" 2>/dev/null && wait "$SHIM_PID" 2>/dev/null
  [ -n "$GOFER_PID" ] && kill "$GOFER_PID" 2>/dev/null && wait "$GOFER_PID" 2>/dev/null
  [ -n "$SCOPED_PID" ] && kill "$SCOPED_PID" 2>/dev/null && wait "$SCOPED_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

step "start devgofer on the host's /dev"
printf '$ %s\n' "devgofer --root=/dev --listen=$GOFER_SOCK --char_devices=passthrough --ready_fd=3"
rc=0
start_server "$TMP" "$TMP/devgofer.log" \
  "$DEVGOFER" --root=/dev --listen="$GOFER_SOCK" --char_devices=passthrough || rc=$?
GOFER_PID=$SERVER_PID
[ "$rc" = 0 ] || { cat "$TMP/devgofer.log" >&2; fail "devgofer did not start"; }
echo "devgofer pid $GOFER_PID serving /dev on $GOFER_SOCK"

step "start the shim on a temporary unix socket"
printf '$ %s\n' "shim --listen=unix:$SHIM_SOCK --ready_fd=3"
rc=0
start_server "$TMP" "$TMP/shim.log" "$SHIM" --listen="unix:$SHIM_SOCK" || rc=$?
SHIM_PID=$SERVER_PID
[ "$rc" = 0 ] || { cat "$TMP/shim.log" >&2; fail "the shim did not start"; }
devctl() { "$DEVCTL" --server="unix:$SHIM_SOCK" "$@"; }
echo "shim pid $SHIM_PID serving on unix:$SHIM_SOCK ($(stat -c %A "$SHIM_SOCK"))"
run devctl health

step "attach container demo to the gofer"
run devctl attach demo "$GOFER_SOCK"
run devctl ls

step "list the devices of demo"
run devctl devices demo

step "probe /dev/null (opened), /dev/zero and /dev/urandom (stat only) through the gofer"
run devctl probe demo null --open --mode=rw
run devctl probe demo zero
run devctl probe demo urandom
printf '$ %s\n' "devctl --json probe demo urandom"
devctl --json probe demo urandom || fail "devctl --json probe demo urandom"

step "a mistake is reported, with its gRPC code and errno"
printf '$ %s\n' "devctl probe demo no-such-device"
status=0
devctl probe demo no-such-device || status=$?
[ "$status" -ne 0 ] || fail "probing a missing device succeeded"
echo "(exit status $status, as expected)"

step "a devgofer scoped by a CDI spec to null, zero and urandom"
cat >"$TMP/demo-cdi.yaml" <<'YAML'
cdiVersion: 0.6.0
kind: example.com/dev
devices:
- name: basic
  containerEdits:
    deviceNodes:
    - path: /dev/null
    - path: /dev/zero
    - path: /dev/urandom
YAML
sed 's/^/  /' "$TMP/demo-cdi.yaml"
printf '$ %s\n' "devgofer --root=/dev --listen=$SCOPED_SOCK --cdi_spec=$TMP/demo-cdi.yaml --cdi_device=example.com/dev=basic --ready_fd=3"
rc=0
start_server "$TMP" "$TMP/scoped.log" \
  "$DEVGOFER" --root=/dev --listen="$SCOPED_SOCK" \
  --cdi_spec="$TMP/demo-cdi.yaml" --cdi_device=example.com/dev=basic || rc=$?
SCOPED_PID=$SERVER_PID
[ "$rc" = 0 ] || { cat "$TMP/scoped.log" >&2; fail "the scoped devgofer did not start"; }
grep -o 'scope: .*' "$TMP/scoped.log" | head -1 | sed 's/^/devgofer: /'
run devctl attach scoped "$SCOPED_SOCK"

step "container scoped sees only null, zero and urandom"
printf '$ %s\n' "devctl devices scoped"
listing="$(devctl devices scoped)" || fail "devctl devices scoped"
echo "$listing"
names="$(echo "$listing" | tail -n +2 | tr -s ' \t' '\n\n' | grep -v '^$' | sort | tr '\n' ' ')"
[ "$names" = "null urandom zero " ] ||
  fail "container scoped lists \"$names\", not just null, urandom and zero"
run devctl devices scoped -l
run devctl probe scoped urandom
printf '$ %s\n' "devctl probe scoped tty"
status=0
devctl probe scoped tty || status=$?
[ "$status" -ne 0 ] || fail "container scoped reached /dev/tty"
echo "(tty is outside the scope: it does not exist for this container; exit status $status)"

step "reattach container scoped (as after a restore): same name, a new connection"
run devctl reattach scoped "$SCOPED_SOCK"
run devctl get scoped
run devctl devices scoped

step "detach containers demo and scoped"
run devctl detach demo
run devctl detach scoped
run devctl ls

step "stop the shim (SIGTERM) and both devgofers"
kill -TERM "$SHIM_PID"
status=0
wait "$SHIM_PID" || status=$?
SHIM_PID=""
[ "$status" -eq 0 ] || { cat "$TMP/shim.log" >&2; fail "shim exited with $status"; }
[ ! -e "$SHIM_SOCK" ] || fail "the shim left its socket behind"
echo "shim exited cleanly; its log:"
sed 's/^/  /' "$TMP/shim.log"
kill -TERM "$GOFER_PID"
status=0
wait "$GOFER_PID" || status=$?
GOFER_PID=""
[ "$status" -eq 0 ] || fail "devgofer exited with $status"
echo "devgofer exited cleanly"
kill -TERM "$SCOPED_PID"
status=0
wait "$SCOPED_PID" || status=$?
SCOPED_PID=""
[ "$status" -eq 0 ] || fail "the scoped devgofer exited with $status"
echo "the scoped devgofer exited cleanly"

printf '\n%sdemo passed: every step succeeded%s\n' "$GREEN" "$OFF"
